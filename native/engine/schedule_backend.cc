// The schedule backend: the plan from the algorithm registry (sched/plan.h), run round by round
// by the executor over the transport, with the CPU reducer on host memory.
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "engine/backend.h"
#include "engine/reducer.h"
#include "sched/plan.h"

namespace dtrain {

namespace {

Buffers buffersOf(const OpRequest& op) {
  Buffers b{static_cast<uint8_t*>(op.data), static_cast<const uint8_t*>(op.input)};
  b.segments = &op.segments;
  return b;
}

class ScheduleBackend final : public Backend {
 public:
  explicit ScheduleBackend(const BackendSetup& s)
      : transport_(s.transport),
        abort_(s.abort),
        topology_(s.topology),
        rank_(s.rank),
        size_(s.size),
        reducer_(cpuReducer()),
        executor_(reducer_) {}

  bool run(const OpRequest& op, PreparedOp& pr, const Deadline& soft) override {
    if (!pr.dataStarted) {
      pr.dataStarted = true;
      const CollectiveCall call = collectiveCallOf(op, pr, rank_, size_);
      pr.plan = planFor(call);
      scale(op, pr.plan->before);
    }
    const Buffers bufs = buffersOf(op);
    if (!executor_.resume(pr.plan->schedule, transport_, bufs, op.dtype, op.op, pr.deadline, soft,
                          abort_, &pr.exec)) {
      return false;
    }
    scale(op, pr.plan->after);
    return true;
  }

  uint64_t bytesSent() const override { return executor_.bytesSent(); }

 private:
  // What a plan depends on besides the communicator's fixed rank, size and topology.
  struct PlanKey {
    OpKind kind;
    DType dtype;
    ReduceOp op;
    uint8_t algorithm;
    int root, peer, contributors;
    size_t count;
    bool operator==(const PlanKey& o) const {
      return kind == o.kind && dtype == o.dtype && op == o.op && algorithm == o.algorithm &&
             root == o.root && peer == o.peer && contributors == o.contributors && count == o.count;
    }
  };
  static constexpr size_t kCachedPlans = 16;

  // A training loop repeats the same few calls: their plans are made once and kept (most
  // recently used first) instead of rebuilt for every call.
  std::shared_ptr<const Plan> planFor(const CollectiveCall& call) {
    if (call.sendCounts) return std::make_shared<const Plan>(planCollective(call, topology_));
    const PlanKey key{call.kind, call.dtype, call.op,           call.algorithm.encode(),
                      call.root, call.peer,  call.contributors, call.count};
    for (size_t i = 0; i < plans_.size(); ++i) {
      if (plans_[i].first == key) {
        if (i > 0) std::rotate(plans_.begin(), plans_.begin() + i, plans_.begin() + i + 1);
        return plans_[0].second;
      }
    }
    auto plan = std::make_shared<const Plan>(planCollective(call, topology_));
    if (plans_.size() == kCachedPlans) plans_.pop_back();
    plans_.insert(plans_.begin(), {key, plan});
    return plan;
  }

  std::vector<std::pair<PlanKey, std::shared_ptr<const Plan>>> plans_;
  void scale(const OpRequest& op, const Scaling& s) {
    if (!s.any()) return;
    const size_t es = dtypeSize(op.dtype);
    piecesOf(buffersOf(op), s.chunk, es, &pieces_);
    for (const Piece& p : pieces_) reducer_.scale(op.dtype, p.data, p.bytes / es, s.divisor);
  }

  Transport& transport_;
  AbortWatch* abort_;
  const Topology& topology_;
  int rank_, size_;
  const Reducer& reducer_;
  Executor executor_;
  std::vector<Piece> pieces_;
};

bool acceptsAny(const Transport&) { return true; }

std::unique_ptr<Backend> create(const BackendSetup& s) {
  return std::make_unique<ScheduleBackend>(s);
}

}  // namespace

extern const BackendDef kScheduleBackend = {
    "schedule",
    "the algorithm's schedule, round by round over the transport, reduced on the CPU",
    acceptsAny,
    create,
};

}  // namespace dtrain
