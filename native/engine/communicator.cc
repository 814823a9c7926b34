#include "engine/communicator.h"

#include <unistd.h>

#include "transport/rendezvous.h"
#include "transport/self_transport.h"
#include "transport/store_client.h"

namespace dtrain {

Communicator::Communicator(CommConfig config, Completion ready) : config_(std::move(config)) {
  thread_ = std::thread([this, ready = std::move(ready)] { loop(ready); });
}

Communicator::~Communicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Communicator::transportName() const { return transportName_; }

std::vector<AlgorithmChoice> Communicator::autoCandidates() const {
  return chooser_ ? chooser_->candidates() : std::vector<AlgorithmChoice>{};
}

void Communicator::submit(OpRequest op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(op));
      cv_.notify_all();
      return;
    }
  }
  op.done(Status::fromError(
      Error(ErrorCode::kClosed, "the communicator was shut down; call init() again first")));
}

Communicator::Inline Communicator::tryRunInline(OpRequest& op, double budgetSec,
                                                double dataBudgetSec, Status* status) {
  std::unique_lock<std::mutex> exec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || !ready_.load() || !queue_.empty()) return Inline::kBusy;
    exec = std::unique_lock<std::mutex>(execMu_, std::try_to_lock);
    if (!exec.owns_lock()) return Inline::kBusy;
  }
  // The engine thread takes over from where this thread got to. The op goes first, so nothing
  // overtakes it (nor uses the executor, which holds its staged data, before it resumes).
  auto handOver = [&](std::shared_ptr<PreparedOp> pr) {
    op.prepared = std::move(pr);
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_front(std::move(op));
    cv_.notify_all();
    return Inline::kQueued;
  };
  auto soonest = [](const Deadline& hard, double budget) {
    if (budget < 0) return hard;
    Deadline soft = Deadline::after(budget);
    return soft.at < hard.at ? soft : hard;
  };
  try {
    std::shared_ptr<PreparedOp> pr = prepare(op);
    if (config_.size > 1) {
      const Deadline soft = soonest(pr->deadline, budgetSec);
      try {
        exchange(*pr, soft);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kTimeout || soft.at >= pr->deadline.at) throw;
        // Not every peer has arrived: let the engine thread wait for them.
        return handOver(std::move(pr));
      }
    }
    pr->exchanged = true;
    // Every peer has joined, but one may still stall (descheduled, stopped): the event loop
    // must not wait with it for long.
    if (!runData(op, *pr, soonest(pr->deadline, budgetSec < 0 ? -1 : dataBudgetSec))) {
      return handOver(std::move(pr));
    }
    *status = Status{};
  } catch (const Error& e) {
    fail(e);
    *status = Status::fromError(e);
  } catch (const std::exception& e) {
    *status = Status::fromError(Error(ErrorCode::kSystem, e.what()));
  }
  return Inline::kDone;
}

Status Communicator::executeCatching(OpRequest& op) {
  try {
    execute(op);
    return Status{};
  } catch (const Error& e) {
    return Status::fromError(e);
  } catch (const std::exception& e) {
    return Status::fromError(Error(ErrorCode::kSystem, e.what()));
  }
}

void Communicator::shutdown(Completion done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      graceful_ = true;
      onShutdown_ = std::move(done);
      cv_.notify_all();
      return;
    }
  }
  done(Status::fromError(Error(ErrorCode::kClosed, "shutdown() was already called")));
}

void Communicator::bootstrap() {
  if (config_.size == 1) {
    transport_ = std::make_unique<SelfTransport>();
  } else {
    Deadline deadline = Deadline::after(config_.bootstrapTimeoutSec);
    store_ = std::make_unique<StoreClient>(config_.net.storeAddress, config_.net.token, deadline);
    Rendezvous rv{store_.get(), "c" + std::to_string(config_.generation) + "/", config_.rank,
                  config_.size, deadline};
    // Host names are gathered once: the topology, the transports and `auto` all read them.
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    const std::vector<std::string> hosts = rv.allGather("host", host);
    topology_ = topologyOf(hosts, config_.rank, config_.localSizeOverride);
    abort_ = std::make_unique<AbortWatch>(config_.net.storeAddress, config_.net.token,
                                          rv.prefix + "abort", deadline);
    const TransportChoice choice = chooseTransport(config_.transport, hosts);
    transport_ = choice.def->create(TransportSetup{rv, config_.net, hosts});
    transportReason_ = choice.why;
    auto model = config_.costModels.find(choice.def->name);
    chooser_ = std::make_unique<AllreduceChooser>(
        model != config_.costModels.end() ? model->second : choice.def->defaultCost,
        topology_.groupOf, config_.size);
  }
  backend_ = backendFor(*transport_)
                 .create(BackendSetup{*transport_, abort_.get(), topology_.groupOf, config_.rank,
                                      config_.size});
}

void Communicator::loop(Completion ready) {
  try {
    bootstrap();
    transportName_ = transport_->name();
    ready_.store(true);
    ready(Status{});
  } catch (const Error& e) {
    // A setting this machine cannot use stays ERR_DTRAIN_CONFIG (fix the variable, not the job).
    const ErrorCode code = e.code() == ErrorCode::kConfig ? ErrorCode::kConfig : ErrorCode::kBootstrap;
    broken_ = std::make_unique<Error>(code, e.what(), e.ranks());
    ready(Status::fromError(*broken_));
  } catch (const std::exception& e) {
    broken_ = std::make_unique<Error>(ErrorCode::kBootstrap, e.what());
    ready(Status::fromError(*broken_));
  }
  while (true) {
    OpRequest op;
    std::unique_lock<std::mutex> exec;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      if (stopping_ && !graceful_) {
        // Torn down without shutdown() (the environment is going away): do not run what is
        // queued, each op could wait a full timeout for peers that are going away too.
        std::deque<OpRequest> dropped;
        dropped.swap(queue_);
        lock.unlock();
        for (OpRequest& d : dropped)
          d.done(Status::fromError(Error(ErrorCode::kClosed, "the communicator was destroyed")));
        break;
      }
      op = std::move(queue_.front());
      queue_.pop_front();
      // Taken before mu_ is released, so an inline op can never overtake this one.
      exec = std::unique_lock<std::mutex>(execMu_);
    }
    Status st = executeCatching(op);
    exec.unlock();
    op.done(st);
  }
  Status st;
  if (graceful_ && !broken_ && transport_ && config_.size > 1) {
    try {
      OpRequest bye;
      bye.kind = OpKind::kBarrier;
      execute(bye);
    } catch (const Error& e) {
      st = Status::fromError(e);
    }
  }
  transport_.reset();
  abort_.reset();
  store_.reset();
  Completion done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done = std::move(onShutdown_);
  }
  if (done) done(st);
}

std::shared_ptr<PreparedOp> Communicator::prepare(const OpRequest& op) {
  if (broken_) {
    throw Error(ErrorCode::kBroken,
                std::string("the communicator is unusable after an earlier failure (") +
                    broken_->what() + "); call shutdown() and init() again",
                broken_->ranks());
  }
  const int p = config_.size, me = config_.rank;
  auto pr = std::make_shared<PreparedOp>();
  pr->deadline = Deadline::after(op.timeoutSec > 0 ? op.timeoutSec : config_.timeoutSec);
  CollectiveDesc& desc = pr->desc;
  desc.kind = static_cast<uint8_t>(op.kind);
  desc.dtype = static_cast<uint8_t>(op.dtype);
  desc.op = static_cast<uint8_t>(op.op);
  // `auto` is resolved before the exchange, so ranks that would resolve it differently (a
  // different calibration, say) fail with a mismatch instead of running different schedules.
  pr->algo = AlgorithmChoice::decode(op.algorithm);
  if (op.kind == OpKind::kAllreduce && pr->algo.isAuto()) {
    pr->algo = p > 1 ? chooser_->choose(op.count, dtypeSize(op.dtype))
                     : AlgorithmChoice::of(defaultAlgorithm(OpKind::kAllreduce));
  }
  desc.algorithm = pr->algo.encode();
  desc.root = op.root;
  desc.count = op.count;
  desc.seq = seq_++;
  // Every rank sends its descriptor to every other: fixed size, so the exchange completes
  // whatever the ranks disagree about. Prepared lives on the heap and never moves, so these
  // pointers stay valid if the exchange is handed from the JS thread to the engine thread.
  pr->all.resize(p);
  pr->all[me] = desc;
  for (int r = 0; r < p; ++r) {
    if (r == me) continue;
    pr->transfers.push_back(
        {Transfer::kSend, r, reinterpret_cast<uint8_t*>(&pr->desc), sizeof(CollectiveDesc), 8, {}});
    pr->transfers.push_back({Transfer::kRecv,
                             r,
                             reinterpret_cast<uint8_t*>(&pr->all[r]),
                             sizeof(CollectiveDesc),
                             8,
                             {}});
  }
  return pr;
}

uint64_t Communicator::bytesSent() const {
  const uint64_t data = backend_ ? backend_->bytesSent() : 0;
  return data + descriptorBytes_.load(std::memory_order_relaxed);
}

void Communicator::exchange(PreparedOp& pr, const Deadline& until) {
  try {
    transport_->run(pr.transfers, until, abort_.get());
    uint64_t sent = 0;
    for (const Transfer& tr : pr.transfers) sent += tr.kind == Transfer::kSend ? tr.bytes : 0;
    descriptorBytes_.fetch_add(sent, std::memory_order_relaxed);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kTimeout || until.at < pr.deadline.at) throw;
    // Nobody has received anything from these ranks for this call: they have not called it.
    std::string missing;
    for (int r : e.ranks()) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    throw Error(ErrorCode::kTimeout,
                std::string(opKindName(static_cast<OpKind>(pr.desc.kind))) + " call #" +
                    std::to_string(pr.desc.seq) + " timed out: rank" +
                    (e.ranks().size() > 1 ? "s " : " ") + missing +
                    " did not join it (still busy, stuck, or calling something else)",
                e.ranks());
  }
  std::vector<int> odd;
  std::string mismatch = findMismatch(pr.all, &odd);
  if (!mismatch.empty()) throw Error(ErrorCode::kMismatch, mismatch, odd);
}

bool Communicator::runData(OpRequest& op, PreparedOp& pr, const Deadline& soft) {
  if (!pr.dataStarted && config_.hooks) config_.hooks->beforeDataPhase(op.kind);
  return backend_->run(op, pr, soft);
}

void Communicator::fail(const Error& e) {
  if (e.code() != ErrorCode::kPeerLost && e.code() != ErrorCode::kTimeout) return;
  // Streams between ranks are now out of step; nothing later on them can be trusted.
  broken_ = std::make_unique<Error>(e);
  if (e.code() == ErrorCode::kPeerLost && abort_ && !e.ranks().empty()) {
    abort_->raise(e.ranks()[0], "rank " + std::to_string(e.ranks()[0]) +
                                    " was lost (reported by rank " + std::to_string(config_.rank) +
                                    ": " + e.what() + ")");
  }
}

void Communicator::execute(OpRequest& op) {
  try {
    std::shared_ptr<PreparedOp> pr = op.prepared ? op.prepared : prepare(op);
    if (config_.size > 1 && !pr->exchanged) exchange(*pr, pr->deadline);
    pr->exchanged = true;
    runData(op, *pr, pr->deadline);
  } catch (const Error& e) {
    fail(e);
    throw;
  }
}

}  // namespace dtrain
