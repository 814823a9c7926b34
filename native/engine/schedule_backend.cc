// The schedule backend: the plan from the algorithm registry (sched/plan.h), run round by round
// by the executor over the transport, with the CPU reducer on host memory.
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
      CollectiveCall call;
      call.kind = op.kind;
      call.dtype = op.dtype;
      call.op = op.op;
      call.algorithm = pr.algo;
      call.root = op.root;
      call.count = op.count;
      call.rank = rank_;
      call.size = size_;
      call.peer = op.peer;
      call.contributors = pr.contributors;
      if (!op.sendCounts.empty()) {
        call.sendCounts = &op.sendCounts;
        call.recvCounts = &op.recvCounts;
      }
      pr.plan = planCollective(call, topology_);
      scale(op, pr.plan.before);
    }
    const Buffers bufs = buffersOf(op);
    if (!executor_.resume(pr.plan.schedule, transport_, bufs, op.dtype, op.op, pr.deadline, soft,
                          abort_, &pr.exec)) {
      return false;
    }
    scale(op, pr.plan.after);
    return true;
  }

  uint64_t bytesSent() const override { return executor_.bytesSent(); }

 private:
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
