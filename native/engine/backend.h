// A backend runs a collective's data phase once every rank has agreed on the call. The schedule
// backend (engine/schedule_backend.cc) runs the registry's plan with the executor over the
// communicator's transport; a whole-collective backend (NCCL, MPI_Allreduce) is another file
// defining a BackendDef, listed in engine/backend_list.def. The engine uses the first listed
// backend that accepts the communicator's transport.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/op_request.h"
#include "engine/prepared_op.h"
#include "sched/algorithm.h"
#include "transport/transport.h"

namespace dtrain {

struct BackendSetup {
  Transport& transport;
  AbortWatch* abort;  // may be null
  const Topology& topology;
  int rank;
  int size;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs `op`'s data phase, or resumes it from `pr`; false when `soft` (no later than the op's
  // deadline) passed first, with the progress kept in `pr`. Throws what the transport throws.
  // Calls for one communicator come one at a time, in order, from either thread.
  virtual bool run(const OpRequest& op, PreparedOp& pr, const Deadline& soft) = 0;
  // Bytes this backend has sent over the network or shared memory for completed data phases
  // (read from any thread), for the training loop's bytes_sent_per_step.
  virtual uint64_t bytesSent() const = 0;
};

struct BackendDef {
  const char* name;
  const char* summary;
  bool (*accepts)(const Transport& transport);
  std::unique_ptr<Backend> (*create)(const BackendSetup& setup);
};

// Every registered backend, in the order they are tried.
const std::vector<const BackendDef*>& backends();
// The first that accepts `transport`; throws Error(kBootstrap) when none does.
const BackendDef& backendFor(const Transport& transport);
// The backend called `name` (an algorithm's whole-collective backend); throws when none is.
const BackendDef& backendNamed(const std::string& name);

}  // namespace dtrain
