// The mpi backend: algorithm `mpi` hands a collective's data phase to the site's MPI
// (MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter[_block]) through the plugin,
// after dtrain's own descriptor exchange has checked that every rank made the same call. It
// is the baseline to compare dtrain's schedules with, and the choice where a cluster's MPI is
// fastest. MPI's collectives have no timeout: a peer lost in the data phase is MPI's to report
// (Open MPI's mpirun ends the job); the exchange before it still fails within the timeout.
#include <atomic>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "engine/backend.h"
#include "engine/reducer.h"
#include "mpi/mpi_loader.h"
#include "sched/schedule.h"

namespace dtrain {

namespace {

class MpiBackend final : public Backend {
 public:
  explicit MpiBackend(const BackendSetup& s) : rank_(s.rank), size_(s.size) {}

  bool run(const OpRequest& op, PreparedOp& pr, const Deadline&) override {
    MpiPlugin* p = mpiPlugin();
    if (!p || !p->initialized) {
      throw Error(ErrorCode::kInvalidArgument,
                  "algorithm 'mpi' needs a job started by mpirun (this process has not initialized MPI)");
    }
    if (p->size != size_ || p->rank != rank_) {
      throw Error(ErrorCode::kInvalidArgument,
                  "algorithm 'mpi' runs on the job's world communicator (MPI_COMM_WORLD's ranks), not on a group");
    }
    if (pr.contributors != 0) {
      throw Error(ErrorCode::kInvalidArgument, "algorithm 'mpi' does not take part in join(); use a dtrain algorithm");
    }
    const int dt = static_cast<int>(op.dtype), ro = static_cast<int>(op.op);
    const size_t es = dtypeSize(op.dtype);
    switch (op.kind) {
      case OpKind::kAllreduce:
        if (op.segments.empty()) {
          check(p->allreduce(op.data, op.count, dt, ro, err_, sizeof err_));
          average(op, static_cast<uint8_t*>(op.data), op.count);
        } else {
          for (const Segment& s : op.segments) {
            check(p->allreduce(s.data, s.count, dt, ro, err_, sizeof err_));
            average(op, s.data, s.count);
          }
        }
        bytes_ += 2 * (size_ - 1) * op.count * es / size_;
        break;
      case OpKind::kAllgather:
        check(p->allgather(op.input, op.data, op.count, dt, err_, sizeof err_));
        bytes_ += (size_ - 1) * op.count * es;
        break;
      case OpKind::kReduceScatter: {
        // dtrain's chunks (splitEven) in place in `data`, as its own schedules leave them.
        const std::vector<Chunk> chunks = splitEven(op.count, size_);
        std::vector<int> counts(size_);
        for (int r = 0; r < size_; ++r) counts[r] = static_cast<int>(chunks[r].count);
        send_.assign(static_cast<uint8_t*>(op.data), static_cast<uint8_t*>(op.data) + op.count * es);
        uint8_t* mine = static_cast<uint8_t*>(op.data) + chunks[rank_].offset * es;
        check(p->reduceScatter(send_.data(), mine, counts.data(), dt, ro, err_, sizeof err_));
        average(op, mine, chunks[rank_].count);
        bytes_ += (size_ - 1) * op.count * es / size_;
        break;
      }
      default:
        throw Error(ErrorCode::kInvalidArgument,
                    std::string("algorithm 'mpi' does not run ") + opKindName(op.kind));
    }
    return true;
  }

  // The ring's bytes for the same collective: what MPI moves is its own business.
  uint64_t bytesSent() const override { return bytes_; }

 private:
  void check(int rc) const {
    if (rc != 0) throw Error(ErrorCode::kSystem, err_);
  }
  void average(const OpRequest& op, uint8_t* data, size_t count) const {
    if (op.op == ReduceOp::kAvg) cpuReducer().scale(op.dtype, data, count, size_);
  }

  int rank_, size_;
  char err_[512] = {0};
  std::vector<uint8_t> send_;
  std::atomic<uint64_t> bytes_{0};
};

// Never a communicator's default: only algorithm `mpi` reaches it.
bool acceptsNone(const Transport&) { return false; }

std::unique_ptr<Backend> create(const BackendSetup& s) { return std::make_unique<MpiBackend>(s); }

}  // namespace

extern const BackendDef kMpiBackend = {
    "mpi",
    "the site's MPI collectives through the MPI plugin, for algorithm 'mpi' under mpirun",
    acceptsNone,
    create,
};

}  // namespace dtrain
