// A communicator: the ranks of one job, a transport between them, and a background thread
// that runs their collectives one at a time, in the order they were submitted. No globals:
// a process may destroy a communicator and create another (elastic training needs that).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/dtype.h"
#include "common/error.h"
#include "engine/collective_desc.h"
#include "engine/executor.h"
#include "sched/algorithm.h"
#include "sim/choose.h"
#include "transport/transport.h"

namespace dtrain {

class StoreClient;
class AbortWatch;

struct CommConfig {
  int rank = 0;
  int size = 1;
  std::string store;  // host:port; empty only when size == 1
  std::string token;
  std::string jobId;
  std::string transport = "shm";  // shm | tcp
  std::string tcpAddr = "127.0.0.1";
  size_t shmChannelBytes = 1 << 20;
  int localSizeOverride = 0;  // DTRAIN_LOCAL_SIZE for tests: groups of consecutive ranks
  double timeoutSec = 30.0;   // default per-collective timeout
  double bootstrapTimeoutSec = 60.0;
  int generation = 0;  // distinguishes communicators created one after another
};

// The outcome handed to a completion callback: ok, or the error to report.
struct Status {
  bool ok = true;
  ErrorCode code = ErrorCode::kSystem;
  std::string message;
  std::vector<int> ranks;
  static Status fromError(const Error& e) { return {false, e.code(), e.what(), e.ranks()}; }
};

using Completion = std::function<void(const Status&)>;

struct OpRequest {
  OpKind kind = OpKind::kBarrier;
  DType dtype = DType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  uint8_t algorithm = 0;  // AlgorithmChoice::encode(); all-gather: ring or recursive doubling
  int root = 0;
  size_t count = 0;                // elements in `data` (all-gather: in `input`, per rank)
  void* data = nullptr;            // in/out buffer (all-gather: the output, size*count)
  const void* input = nullptr;     // all-gather's input
  double timeoutSec = 0;           // 0 = the communicator's default
  Completion done;                 // called on the engine thread
  std::shared_ptr<void> prepared;  // set when the op was started inline and handed over
};

class Communicator {
 public:
  // Starts the engine thread, which first sets up the transport; `ready` is called on that
  // thread when setup succeeds or fails.
  Communicator(CommConfig config, Completion ready);
  ~Communicator();  // shuts down if not yet done, and joins the thread

  void submit(OpRequest op);
  // Runs `op` on the calling thread when nothing is queued or running, which saves the two
  // thread hand-offs (and, for Promise callers, the event-loop wake-up). With budgetSec >= 0
  // the calling thread waits at most that long for the peers to join, then at most
  // dataBudgetSec for the data to move; if either runs out, the op is queued for the engine
  // thread to finish from where it got to (kQueued, `op` moved, its `done` called later).
  // kBusy: nothing was done; submit() it. kDone: finished, outcome in *status.
  enum class Inline { kDone, kQueued, kBusy };
  // Both submit() and tryRunInline() must be called from one thread (the JS thread): the
  // inline hand-over takes mu_ while holding execMu_.
  Inline tryRunInline(OpRequest& op, double budgetSec, double dataBudgetSec, Status* status);
  // Waits for queued work, then a best-effort barrier so no rank tears down its side of a
  // transfer a peer is still reading, then closes the transport. Ops submitted later fail.
  void shutdown(Completion done);

  int rank() const { return config_.rank; }
  int size() const { return config_.size; }
  // Valid once `ready` reported success.
  int localRank() const { return localRank_; }
  int localSize() const { return localSize_; }
  // Each rank's group (host) id, for hierarchical algorithms.
  const Topology& topology() const { return topology_; }
  std::string transportName() const;
  // Bytes this rank's transport has sent for collectives: data and descriptors.
  uint64_t bytesSent() const;

 private:
  void loop(Completion ready);
  void bootstrap();
  // A collective in progress, as the JS thread hands it to the engine thread: its descriptor
  // exchange, then its data phase, each resumable where the other thread left it.
  struct Prepared {
    CollectiveDesc desc;
    AlgorithmChoice algo;
    Deadline deadline;
    std::vector<CollectiveDesc> all;  // every rank's descriptor
    std::vector<Transfer> transfers;  // the exchange, resumable
    bool exchanged = false;
    bool dataStarted = false;  // the schedule is built and any pre-scaling done
    Schedule schedule;
    ExecState exec;
  };
  std::shared_ptr<Prepared> prepare(const OpRequest& op);
  void exchange(Prepared& pr, const Deadline& until);
  // Runs the data phase (from where it got to); false when `soft` passed first, true when done.
  bool runData(OpRequest& op, Prepared& pr, const Deadline& soft);
  void fail(const Error& e);  // marks the communicator broken when the failure calls for it
  void execute(OpRequest& op);
  Status executeCatching(OpRequest& op);

  CommConfig config_;
  int testStallMs_ = 0;  // DTRAIN_TEST_STALL_MS
  int localRank_ = 0, localSize_ = 1;
  Topology topology_;
  std::unique_ptr<AllreduceChooser> chooser_;
  std::unique_ptr<StoreClient> store_;
  std::unique_ptr<AbortWatch> abort_;
  std::unique_ptr<Transport> transport_;
  // Set once before `ready`, so the JS thread can read it while the engine tears down.
  std::string transportName_ = "none";
  Executor executor_;
  std::atomic<uint64_t> descriptorBytes_{0};
  uint64_t seq_ = 0;
  std::unique_ptr<Error> broken_;  // the failure that made this communicator unusable

  std::mutex mu_;
  std::mutex execMu_;  // held while an op executes, on whichever thread
  std::atomic<bool> ready_{false};
  std::condition_variable cv_;
  std::deque<OpRequest> queue_;
  bool stopping_ = false;
  bool graceful_ = false;  // shutdown() was called: say goodbye to the peers first
  Completion onShutdown_;
  std::thread thread_;
};

}  // namespace dtrain
