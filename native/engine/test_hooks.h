// Fault injection for tests. A communicator created with hooks calls them at fixed points;
// production communicators have none, so the engine pays one null check per collective.
#pragma once

#include <memory>

#include "sched/collective.h"

namespace dtrain {

class EngineHooks {
 public:
  virtual ~EngineHooks() = default;
  // Before a collective's data phase, once every peer has seen this rank join it.
  virtual void beforeDataPhase(OpKind kind) = 0;
};

// Stalls `ms` before every all-reduce's data phase, as a stopped or descheduled process would,
// after its peers have seen it join the call (DTRAIN_TEST_STALL_MS).
std::shared_ptr<EngineHooks> stallBeforeAllreduce(int ms);

}  // namespace dtrain
