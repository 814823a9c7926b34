#include "engine/test_hooks.h"

#include <chrono>
#include <thread>

namespace dtrain {

namespace {
class StallHook final : public EngineHooks {
 public:
  explicit StallHook(int ms) : ms_(ms) {}
  void beforeDataPhase(OpKind kind) override {
    if (kind == OpKind::kAllreduce) std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
  }

 private:
  int ms_;
};
}  // namespace

std::shared_ptr<EngineHooks> stallBeforeAllreduce(int ms) {
  return std::make_shared<StallHook>(ms);
}

}  // namespace dtrain
