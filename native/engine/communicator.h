// A communicator: the ranks of one job, a transport between them, and a background thread
// that runs their collectives one at a time, in the order they were submitted. No globals:
// a process may destroy a communicator and create another (elastic training needs that).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/cost_model.h"
#include "common/dtype.h"
#include "common/error.h"
#include "engine/backend.h"
#include "engine/op_request.h"
#include "engine/prepared_op.h"
#include "engine/test_hooks.h"
#include "engine/timeline.h"
#include "engine/topology.h"
#include "engine/zero_copy.h"
#include "sim/choose.h"
#include "transport/registry.h"
#include "transport/transport.h"

namespace dtrain {

class StoreClient;
class AbortWatch;

// Everything a communicator is configured with. lib/comm/config.ts reads the environment once
// and the binding passes it down; nothing below reads the environment.
struct CommConfig {
  int rank = 0;
  int size = 1;
  std::string transport = "shm";  // a registered transport, or auto
  // What the transports are created with; its store address (host:port) and token are the
  // rendezvous store's, empty only when size == 1.
  TransportOptions net;
  int localSizeOverride = 0;  // DTRAIN_GROUP_SIZE: groups of consecutive ranks act as hosts
  std::string hostName;       // DTRAIN_HOST: this rank's host as the launcher names it (empty: gethostname)
  double timeoutSec = 30.0;   // default per-collective timeout
  double bootstrapTimeoutSec = 60.0;
  int generation = 0;  // distinguishes communicators created one after another
  // Namespaces this communicator's rendezvous keys and shared memory: "c<generation>/" when
  // empty; a group's is its parent's plus "g<k>/" (newGroup).
  std::string prefix;
  // DTRAIN_DEBUG: 0 off, 1 INFO (bootstrap, each call's algorithm), 2 DETAIL (also each
  // call's descriptor); logged to stderr with `logName` ("rank 3", "rank 1 of group g0").
  int debug = 0;
  std::string logName;
  // DTRAIN_STALL_WARN: a call that has waited this long logs a line naming the ranks not in it,
  // and again at each further interval; 0 never.
  double stallWarnSec = 0;
  // `auto`'s cost model per transport (calibrated, or from the environment); a transport not
  // listed uses its registry default.
  std::map<std::string, CostModel> costModels;
  std::shared_ptr<EngineHooks> hooks;  // tests only
  bool timeline = false;  // record each call's phases (DTRAIN_TIMELINE)
  // DTRAIN_EAGER_BYTES: `auto` all-reduces a vector by `direct`, sent with its descriptor, when
  // (size - 1) x its bytes is at most this (and at most kEagerMaxBytes a message); 0 never.
  size_t eagerBytes = 0;
  bool testNoPeerMaps = false;  // tests only: this rank cannot map its peers' shared arrays
};

// The largest vector sent with its descriptor (the staging each rank keeps per peer).
constexpr size_t kEagerMaxBytes = 64 << 10;
// The smallest all-reduce of shared arrays (dtrain.alloc) read from the peers' memory: below
// it the three rounds that keep the ranks in step cost more than the copies they save.
constexpr size_t kZeroCopyMinBytes = 1 << 20;

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
  int localRank() const { return topology_.localRank; }
  int localSize() const { return topology_.localSize; }
  // Each rank's group (host) id, for hierarchical algorithms.
  const Topology& topology() const { return topology_.groupOf; }
  std::string transportName() const;
  // Bytes this rank's transport has sent for collectives: data and descriptors.
  uint64_t bytesSent() const;
  // Why `auto` chose the transport in use (empty when it was named); valid once ready.
  const std::string& transportReason() const { return transportReason_; }
  // The all-reduce algorithms `auto` considers for this job; valid once ready.
  std::vector<AlgorithmChoice> autoCandidates() const;
  // Collectives this rank answered while joined (join()), over the communicator's life.
  uint64_t joinAnswered() const { return joinAnswered_.load(std::memory_order_relaxed); }
  // The recorded phases, when the config asked for a timeline; else null.
  Timeline* timeline() const { return timeline_.get(); }

 private:
  void loop(Completion ready);
  void bootstrap();
  std::shared_ptr<PreparedOp> prepare(const OpRequest& op);
  void exchange(PreparedOp& pr, const Deadline& until);
  // The data phase of a fused call: reduces what arrived with the descriptors, in rank order.
  void reduceFused(OpRequest& op, PreparedOp& pr);
  // Where a peer's data that came with its descriptor lands (one slot per rank).
  uint8_t* eagerSlot(int rank) { return eager_.get() + static_cast<size_t>(rank) * kEagerMaxBytes; }
  // Runs the data phase (from where it got to); false when `soft` passed first, true when done.
  bool runData(OpRequest& op, PreparedOp& pr, const Deadline& soft);
  void fail(const Error& e);  // marks the communicator broken when the failure calls for it
  void execute(OpRequest& op);
  // Runs what is left of the op (exchange, data phase) on this thread until it is done: at
  // each stall interval it warns, and at the timeout of a collective's data phase it names the
  // ranks that are not waiting in the call (the peer this rank waits on may itself be waiting
  // on another), as every waiting rank sees them.
  void runToEnd(OpRequest& op, PreparedOp& pr);
  void warnStall(PreparedOp& pr);
  Error attributeTimeout(PreparedOp& pr, const Error& e);
  // The ranks that have not said, in the store, that they wait in this call within `graceMs`
  // of this rank saying so; empty when it cannot tell (no store, a point-to-point call, joined
  // ranks answering).
  std::vector<int> notWaiting(PreparedOp& pr, int graceMs, bool* known);
  // Says in the store that this rank waits in the call (once); false when that would tell the
  // others nothing, or the store is gone.
  bool reportWaiting(PreparedOp& pr);
  std::string waitingKey(const PreparedOp& pr, int rank) const;
  Status executeCatching(OpRequest& op);
  // join(): answers the others' all-reduces with the operator's identity until every rank has
  // joined.
  void runJoin(OpRequest& op);
  // Checks a received send header against this recv; throws kMismatch when they differ.
  void checkMessage(const PreparedOp& pr) const;
  // What the others' descriptors say once some ranks have joined; throws kMismatch when the
  // call is one joined ranks cannot answer.
  void checkJoined(PreparedOp& pr) const;
  void log(int level, const std::string& line) const;

  CommConfig config_;
  std::unique_ptr<Timeline> timeline_;
  // Adds a finished call's spans to the timeline; `thread` is the one that finished it.
  void trace(const OpRequest& op, const PreparedOp& pr, TimelineThread thread);
  JobTopology topology_;
  std::unique_ptr<AllreduceChooser> chooser_;
  std::unique_ptr<StoreClient> store_;
  std::string storePrefix_;  // this communicator's rendezvous keys' prefix
  std::map<std::string, std::unique_ptr<Backend>> wholeBackends_;  // by name, engine thread only
  std::unique_ptr<AbortWatch> abort_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Backend> backend_;
  // Set once before `ready`, so the JS thread can read them while the engine tears down.
  std::string transportName_ = "none";
  std::string transportReason_;
  std::atomic<uint64_t> descriptorBytes_{0};
  std::unique_ptr<ZeroCopy> zeroCopy_;  // where the transport lets ranks map each other's memory
  bool zeroCopyWarned_ = false;
  std::shared_ptr<PreparedOp> spare_;  // the last call's, reused once nothing else holds it
  std::unique_ptr<uint8_t[]> eager_;  // size x kEagerMaxBytes, once the transport takes late lengths
  uint64_t seq_ = 0;
  std::map<int, uint64_t> sent_, received_;  // messages to / from each peer (send, recv)
  std::atomic<uint64_t> joinAnswered_{0};
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
