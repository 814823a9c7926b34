#include "engine/communicator.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>

#include "engine/reducer.h"
#include "transport/rendezvous.h"
#include "transport/self_transport.h"
#include "transport/store_client.h"

namespace dtrain {

namespace {

// The registered algorithm called `name`, or null in a build whose registry lacks it.
const AlgorithmDef* registeredAlgorithm(const char* name) {
  for (const AlgorithmDef* d : algorithms())
    if (std::strcmp(d->name, name) == 0) return d;
  return nullptr;
}

// The algorithm small all-reduces are fused with.
const AlgorithmDef* directAlgorithm() {
  static const AlgorithmDef* def = registeredAlgorithm("direct");
  return def;
}

// What a call on device buffers runs: `auto` is NCCL's own collective (a reduce-scatter into
// chunks of different lengths, which NCCL cannot leave in place, and the rooted collectives
// NCCL lacks take dtrain's schedule over NCCL's send/recv); a named algorithm of dtrain's runs
// its schedule the same way. The descriptor carries the result, so every rank runs the same.
AlgorithmChoice deviceAlgorithm(const OpRequest& op, AlgorithmChoice asked, int size) {
  const AlgorithmDef* d = asked.def();
  if (d && d->support(op.kind).backend && std::strcmp(d->support(op.kind).backend, "nccl") != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("algorithm '") + d->name +
                    "' takes host arrays; device buffers take 'nccl' or dtrain's schedules");
  }
  const bool uneven =
      op.kind == OpKind::kReduceScatter && op.count % static_cast<size_t>(size) != 0;
  if (d && d->support(op.kind).backend && uneven) {
    throw Error(ErrorCode::kInvalidArgument,
                "algorithm 'nccl' reduce-scatters equal chunks: the length (" +
                    std::to_string(op.count) + ") must be a multiple of size() (" +
                    std::to_string(size) + "); leave it to 'auto' or name 'ring'");
  }
  if (!asked.isAuto()) return asked;
  static const AlgorithmDef* nccl = registeredAlgorithm("nccl");
  if (nccl && nccl->support(op.kind).implemented() && !uneven) return AlgorithmChoice::of(nccl);
  if (op.kind == OpKind::kBroadcast) return asked;  // ncclBroadcast (broadcast takes no algorithm)
  return AlgorithmChoice::of(
      defaultAlgorithm(op.kind == OpKind::kAllreduce ? OpKind::kAllreduce : op.kind));
}

// "allreduce call #12": how a timeout names the call.
std::string callName(const CollectiveDesc& d) {
  return std::string(opKindName(static_cast<OpKind>(d.kind))) + " call #" + std::to_string(d.seq);
}

}  // namespace

Communicator::Communicator(CommConfig config, Completion ready) : config_(std::move(config)) {
  if (config_.timeline) timeline_ = std::make_unique<Timeline>();
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
  if (timeline_) op.submitted = Clock::now();
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
    if (timeline_) pr->handedOver = Clock::now();
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
    if (budgetSec < 0) {
      // A blocking call: this thread waits it out, as the engine thread would.
      runToEnd(op, *pr);
      if (timeline_) trace(op, *pr, TimelineThread::kJs);
      *status = Status{};
      return Inline::kDone;
    }
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
    if (timeline_) trace(op, *pr, TimelineThread::kJs);
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
    const std::string prefix =
        config_.prefix.empty() ? "c" + std::to_string(config_.generation) + "/" : config_.prefix;
    storePrefix_ = prefix;
    Rendezvous rv{store_.get(), prefix, config_.rank, config_.size, deadline};
    // Host names are gathered once: the topology, the transports and `auto` all read them.
    // Hosts that share a kernel (network namespaces, containers) can share a host name: the
    // launcher's name for the host, when it gives one, says which ranks really share memory.
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    const std::vector<std::string> hosts =
        rv.allGather("host", config_.hostName.empty() ? std::string(host) : config_.hostName);
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
  if (config_.size > 1 && transport_->hostPids()) {
    zeroCopy_ =
        std::make_unique<ZeroCopy>(*transport_, abort_.get(), *transport_->hostPids(), config_.rank,
                                   config_.size, cpuReducer(), config_.testNoPeerMaps);
  }
}

void Communicator::loop(Completion ready) {
  try {
    bootstrap();
    transportName_ = transport_->name();
    if (config_.debug >= 1) {
      std::string groups;
      for (int g : topology_.groupOf) groups += (groups.empty() ? "" : ",") + std::to_string(g);
      log(1, "bootstrap done: size " + std::to_string(config_.size) + ", transport " +
                 transportName_ + (transportReason_.empty() ? "" : " (" + transportReason_ + ")") +
                 ", local rank " + std::to_string(topology_.localRank) + " of " +
                 std::to_string(topology_.localSize) + ", host groups [" + groups + "]");
    }
    ready_.store(true);
    ready(Status{});
  } catch (const Error& e) {
    // A setting this machine cannot use stays ERR_DTRAIN_CONFIG (fix the variable, not the job).
    const ErrorCode code =
        e.code() == ErrorCode::kConfig ? ErrorCode::kConfig : ErrorCode::kBootstrap;
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
  std::shared_ptr<PreparedOp> pr;
  if (spare_ && spare_.use_count() == 1) {
    pr = spare_;
    pr->reset();
  } else {
    pr = spare_ = std::make_shared<PreparedOp>();
  }
  pr->started = Clock::now();
  pr->deadline =
      Deadline::after(op.timeoutSec > 0 ? op.timeoutSec : config_.timeoutSec, pr->started);
  CollectiveDesc& desc = pr->desc;
  desc.kind = static_cast<uint8_t>(op.kind);
  desc.dtype = static_cast<uint8_t>(op.dtype);
  desc.op = static_cast<uint8_t>(op.op);
  desc.tag = op.tag;
  desc.count = op.count;
  if (pointToPoint(op.kind)) {
    // Only the pair takes part: the sender's header travels ahead of its data, and the
    // receiver checks it against what it expects. Sends do not wait for the receiver.
    const bool send = op.kind == OpKind::kSend;
    desc.root = send ? me : op.peer;
    desc.seq = (send ? sent_ : received_)[op.peer]++;
    pr->all.resize(1);
    pr->all[0] = desc;
    if (send) {
      pr->transfers.push_back({Transfer::kSend,
                               op.peer,
                               reinterpret_cast<uint8_t*>(&pr->desc),
                               sizeof(CollectiveDesc),
                               8,
                               {}});
    } else {
      pr->transfers.push_back({Transfer::kRecv,
                               op.peer,
                               reinterpret_cast<uint8_t*>(&pr->all[0]),
                               sizeof(CollectiveDesc),
                               8,
                               {}});
    }
    if (config_.debug >= 2)
      log(2, desc.describe() + (send ? " to rank " : " from rank ") + std::to_string(op.peer));
    return pr;
  }
  if (!op.segments.empty()) {
    // The arrays' lengths, hashed (FNV-1a), so ranks that group differently disagree.
    uint64_t h = 1469598103934665603ull;
    for (const Segment& seg : op.segments) h = (h ^ seg.count) * 1099511628211ull;
    desc.shape = h;
    desc.parts = static_cast<uint32_t>(op.segments.size());
  }
  if (!op.sendCounts.empty()) desc.shape = 1;  // all-to-all-v: the splits are checked in JS
  // `auto` is resolved before the exchange, so ranks that would resolve it differently (a
  // different calibration, say) fail with a mismatch instead of running different schedules.
  pr->algo = AlgorithmChoice::decode(op.algorithm);
  if (op.device >= 0) {
    desc.flags |= CollectiveDesc::kDevice;
    pr->algo = deviceAlgorithm(op, pr->algo, p);
  } else if (const AlgorithmDef* d = pr->algo.def();
             d && d->support(op.kind).backend &&
             std::strcmp(d->support(op.kind).backend, "nccl") == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("algorithm 'nccl' runs on device buffers (dtrain.cuda.alloc); ") +
                    opKindName(op.kind) +
                    " of host arrays takes dtrain's algorithms (leave it to 'auto')");
  }
  // Data may follow a descriptor only where the transport reads a length it learns mid-list.
  const bool late = p > 1 && transport_->lateLengths();
  const size_t bytes = op.count * dtypeSize(op.dtype);
  const bool contiguous =
      op.kind == OpKind::kAllreduce && op.segments.empty() && bytes > 0 && op.device < 0;
  if (op.kind == OpKind::kAllreduce && pr->algo.isAuto()) {
    if (late && contiguous && bytes <= kEagerMaxBytes && directAlgorithm() &&
        bytes * static_cast<size_t>(p - 1) <= config_.eagerBytes) {
      pr->algo = AlgorithmChoice::of(directAlgorithm());
    } else {
      pr->algo = p > 1 ? chooser_->choose(op.count, dtypeSize(op.dtype))
                       : AlgorithmChoice::of(defaultAlgorithm(OpKind::kAllreduce));
    }
  }
  // Whether the call is fused follows from what the descriptor says (algorithm, length, type)
  // and the transport, which every rank shares: ranks that agree on the call agree on this.
  pr->fused = late && contiguous && bytes <= kEagerMaxBytes && directAlgorithm() &&
              pr->algo.def() == directAlgorithm();
  if (pr->fused) desc.payload = static_cast<uint32_t>(bytes);
  if (op.kind == OpKind::kAllreduce && AlgorithmChoice::decode(op.algorithm).isAuto()) {
    desc.flags |= CollectiveDesc::kAutoAlgorithm;
  }
  SharedRef ref;
  if (zeroCopy_ && contiguous && !pr->fused && bytes >= kZeroCopyMinBytes &&
      sharedFind(op.data, bytes, &ref) && ref.offset % dtypeSize(op.dtype) == 0 &&
      ref.offset / dtypeSize(op.dtype) <= UINT32_MAX) {
    desc.region = ref.id;
    desc.regionFd = ref.fd;
    desc.regionOffset = static_cast<uint32_t>(ref.offset / dtypeSize(op.dtype));
  }
  if (late && !eager_) {
    // Left uninitialized: only the pages of slots that data lands in become resident.
    eager_.reset(new uint8_t[static_cast<size_t>(p) * kEagerMaxBytes]);
  }
  desc.algorithm = pr->algo.encode();
  desc.root = op.root;
  desc.seq = seq_++;
  if (config_.debug >= 1 && op.kind != OpKind::kJoin) {
    log(config_.debug, "call #" + std::to_string(desc.seq) + " " + opKindName(op.kind) +
                           (op.kind == OpKind::kBarrier ? "" : " algorithm=" + pr->algo.name()) +
                           (config_.debug >= 2 ? " descriptor " + desc.describe() : ""));
  }
  // Every rank sends its descriptor to every other: fixed size, so the exchange completes
  // whatever the ranks disagree about. Prepared lives on the heap and never moves, so these
  // pointers stay valid if the exchange is handed from the JS thread to the engine thread.
  pr->all.resize(p);
  pr->all[me] = desc;
  pr->transfers.reserve(static_cast<size_t>(p - 1) * 4);
  // A fused call's data follows its descriptor; and whatever this rank called, it reads the
  // data each peer's descriptor says follows it (none, unless that peer fused its call).
  for (int r = 0; r < p; ++r) {
    if (r == me) continue;
    pr->transfers.push_back(
        {Transfer::kSend, r, reinterpret_cast<uint8_t*>(&pr->desc), sizeof(CollectiveDesc), 8, {}});
    if (pr->fused) {
      pr->transfers.push_back({Transfer::kSend, r, static_cast<uint8_t*>(op.data), bytes, 1, {}});
    }
    pr->transfers.push_back({Transfer::kRecv,
                             r,
                             reinterpret_cast<uint8_t*>(&pr->all[r]),
                             sizeof(CollectiveDesc),
                             8,
                             {}});
    if (late) {
      pr->transfers.push_back(
          {Transfer::kRecv, r, eagerSlot(r), kEagerMaxBytes, 1, {}, 0, &pr->all[r].payload});
    }
  }
  return pr;
}

uint64_t Communicator::bytesSent() const {
  const uint64_t data = backend_ ? backend_->bytesSent() : 0;
  return data + descriptorBytes_.load(std::memory_order_relaxed);
}

void Communicator::exchange(PreparedOp& pr, const Deadline& until) {
  if (timeline_ && pr.exchangeStart == Clock::time_point{}) pr.exchangeStart = Clock::now();
  try {
    transport_->run(pr.transfers, until, abort_.get());
    if (timeline_) pr.exchangeEnd = Clock::now();
    uint64_t sent = 0;
    for (const Transfer& tr : pr.transfers) sent += tr.kind == Transfer::kSend ? tr.bytes : 0;
    descriptorBytes_.fetch_add(sent, std::memory_order_relaxed);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kTimeout || until.at < pr.deadline.at) throw;
    // Nobody has received anything from these ranks for this call: they have not called it.
    throw Error(ErrorCode::kTimeout,
                callName(pr.desc) + " timed out: " + rankList(e.ranks()) +
                    " did not join it (still busy, stuck, or calling something else)",
                e.ranks());
  }
  if (pointToPoint(static_cast<OpKind>(pr.desc.kind))) {
    if (pr.desc.kind != static_cast<uint8_t>(OpKind::kRecv)) return;
    try {
      checkMessage(pr);
    } catch (const Error& e) {
      // The peer's data (or its descriptors) come next in its stream: nothing later can be read.
      broken_ = std::make_unique<Error>(e);
      throw;
    }
    return;
  }
  std::vector<int> odd;
  std::string mismatch = findMismatch(pr.all, &odd);
  if (!mismatch.empty()) throw Error(ErrorCode::kMismatch, mismatch, odd);
  checkJoined(pr);
  pr.zeroCopy = zeroCopy_ && !pr.fused && ZeroCopy::applies(pr.all);
}

void Communicator::checkMessage(const PreparedOp& pr) const {
  const CollectiveDesc& want = pr.desc;
  const CollectiveDesc& got = pr.all[0];
  const int peer = want.root;
  CollectiveDesc asSent = want;
  asSent.kind = static_cast<uint8_t>(OpKind::kSend);
  if (got.sameCall(asSent)) return;
  // The stream from the peer is out of step now (its data, or its descriptors, are next).
  std::string what =
      got.magic != want.magic ? "something that is not a dtrain message" : got.describe();
  throw Error(ErrorCode::kMismatch,
              "recv(" + std::string(dtypeName(static_cast<DType>(want.dtype))) + "[" +
                  std::to_string(want.count) + "], from rank " + std::to_string(peer) +
                  ", tag=" + std::to_string(want.tag) + ", message #" + std::to_string(want.seq) +
                  ") got " + what + " (message #" + std::to_string(got.seq) + ") from rank " +
                  std::to_string(peer) +
                  ". Messages between two ranks are matched in order: each recv must match the "
                  "next send from that rank in type, length and tag.",
              {peer});
}

void Communicator::checkJoined(PreparedOp& pr) const {
  std::vector<int> joined;
  for (int r = 0; r < config_.size; ++r)
    if (pr.all[r].kind == static_cast<uint8_t>(OpKind::kJoin)) joined.push_back(r);
  if (joined.empty() || joined.size() == pr.all.size()) return;
  pr.contributors = config_.size - static_cast<int>(joined.size());
  const CollectiveDesc* call = nullptr;
  for (const CollectiveDesc& d : pr.all)
    if (d.kind != static_cast<uint8_t>(OpKind::kJoin)) call = &d;
  const OpKind k = static_cast<OpKind>(call->kind);
  const bool device = (call->flags & CollectiveDesc::kDevice) != 0;
  if ((k == OpKind::kAllreduce && !device) || k == OpKind::kBarrier) return;
  throw Error(ErrorCode::kMismatch,
              rankList(joined) +
                  " called join(): until every rank has joined, the others may only call "
                  "allreduce, groupedAllreduce or barrier on host arrays (which the joined ranks "
                  "answer), not " +
                  call->describe(),
              joined);
}

void Communicator::log(int level, const std::string& line) const {
  if (config_.debug < level) return;
  const std::string out =
      "[dtrain " + config_.logName + "] " + (level >= 2 ? "DETAIL " : "INFO ") + line + "\n";
  // One write, so lines of ranks sharing a terminal do not interleave mid-line.
  ssize_t ignored = ::write(2, out.data(), out.size());
  (void)ignored;
}

namespace {
// What a rank that has joined contributes: the operator's identity, so the result is the
// others' alone.
void fillIdentity(DType t, ReduceOp op, uint8_t* p, size_t n) {
  const size_t es = dtypeSize(t);
  std::memset(p, 0, n * es);
  if (op == ReduceOp::kSum || op == ReduceOp::kAvg) return;
  auto fill = [&](auto v) {
    using T = decltype(v);
    T* d = reinterpret_cast<T*>(p);
    for (size_t i = 0; i < n; ++i) d[i] = v;
  };
  const bool prod = op == ReduceOp::kProd, mn = op == ReduceOp::kMin;
  switch (t) {
    case DType::kFloat32:
      fill(prod ? 1.0f
           : mn ? std::numeric_limits<float>::infinity()
                : -std::numeric_limits<float>::infinity());
      break;
    case DType::kFloat64:
      fill(prod ? 1.0
           : mn ? std::numeric_limits<double>::infinity()
                : -std::numeric_limits<double>::infinity());
      break;
    case DType::kFloat16:
      fill(static_cast<uint16_t>(prod ? 0x3C00 : mn ? 0x7C00 : 0xFC00));
      break;
    case DType::kBFloat16:
      fill(static_cast<uint16_t>(prod ? 0x3F80 : mn ? 0x7F80 : 0xFF80));
      break;
    case DType::kInt32:
      fill(static_cast<int32_t>(prod ? 1 : mn ? INT32_MAX : INT32_MIN));
      break;
    case DType::kInt64:
      fill(static_cast<int64_t>(prod ? 1 : mn ? INT64_MAX : INT64_MIN));
      break;
    case DType::kUint8:
      fill(static_cast<uint8_t>(prod ? 1 : mn ? 255 : 0));
      break;
    case DType::kInt8:
      fill(static_cast<int8_t>(prod ? 1 : mn ? 127 : -128));
      break;
  }
}
}  // namespace

void Communicator::runJoin(OpRequest& op) {
  std::vector<uint8_t> identity;
  while (config_.size > 1) {
    std::shared_ptr<PreparedOp> pr = prepare(op);
    exchange(*pr, pr->deadline);
    const CollectiveDesc* call = nullptr;
    int active = 0;
    for (const CollectiveDesc& d : pr->all) {
      if (d.kind == static_cast<uint8_t>(OpKind::kJoin)) continue;
      call = &d;
      ++active;
    }
    if (!call) return;  // every rank has joined
    // checkJoined (in exchange) refused anything but an all-reduce or a barrier.
    if (call->kind == static_cast<uint8_t>(OpKind::kBarrier)) continue;
    if (call->payload > 0) {
      // The others' data came with their descriptors: they reduce it without this rank's.
      joinAnswered_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    OpRequest answer;
    answer.kind = OpKind::kAllreduce;
    answer.dtype = static_cast<DType>(call->dtype);
    answer.op = static_cast<ReduceOp>(call->op);
    answer.count = call->count;
    identity.resize(answer.count * dtypeSize(answer.dtype));
    fillIdentity(answer.dtype, answer.op, identity.data(), answer.count);
    answer.data = identity.data();
    auto data = std::make_shared<PreparedOp>();
    data->deadline = pr->deadline;
    data->algo = AlgorithmChoice::decode(call->algorithm);
    data->exchanged = true;
    data->contributors = active;
    runData(answer, *data, data->deadline);
    joinAnswered_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Communicator::runData(OpRequest& op, PreparedOp& pr, const Deadline& soft) {
  if (!pr.dataStarted && config_.hooks) config_.hooks->beforeDataPhase(op.kind);
  if (timeline_ && pr.dataStart == Clock::time_point{}) {
    pr.dataStart = Clock::now();
    pr.exec.spans = &pr.rounds;
  }
  if (pr.fused) {
    reduceFused(op, pr);
    return true;
  }
  if (pr.zeroCopy) {
    pr.dataStarted = true;  // the test hook above runs once per call
    if (pr.zc.phase == 0 && config_.debug >= 1) {
      log(1, "call #" + std::to_string(pr.desc.seq) +
                 " reads the peers' shared arrays in place (every rank passed one)");
    }
    std::string why;
    switch (zeroCopy_->run(op, pr.all, pr.zc, pr.deadline, soft, &why)) {
      case ZeroCopy::Result::kDone:
        return true;
      case ZeroCopy::Result::kPending:
        return false;
      case ZeroCopy::Result::kFallBack:
        pr.zeroCopy = false;
        pr.dataStarted = false;  // the backend plans the call from the start
        if (!why.empty() && !zeroCopyWarned_) {
          zeroCopyWarned_ = true;
          const std::string line = "[dtrain " + config_.logName +
                                   "] warning: all-reduces of shared arrays (dtrain.alloc) go "
                                   "through the transport here: " +
                                   why + "\n";
          ssize_t ignored = ::write(2, line.data(), line.size());
          (void)ignored;
        }
        break;  // every rank falls back to the algorithm's schedule
    }
  }
  // A whole-collective algorithm (mpi) runs in its own backend, made on first use; so does
  // every call on device buffers (NCCL's collectives, or the schedule over NCCL's send/recv).
  const AlgorithmDef* d = pr.algo.isAuto() ? nullptr : pr.algo.def();
  const char* whole = op.device >= 0 ? "nccl" : d ? d->support(op.kind).backend : nullptr;
  if (whole) {
    std::unique_ptr<Backend>& b = wholeBackends_[whole];
    if (!b) {
      b = backendNamed(whole).create(
          BackendSetup{*transport_, abort_.get(), topology_.groupOf, config_.rank, config_.size});
    }
    return b->run(op, pr, soft);
  }
  return backend_->run(op, pr, soft);
}

void Communicator::reduceFused(OpRequest& op, PreparedOp& pr) {
  const int p = config_.size, me = config_.rank;
  const size_t es = dtypeSize(op.dtype), n = op.count, bytes = n * es;
  uint8_t* data = static_cast<uint8_t*>(op.data);
  const Reducer& red = cpuReducer();
  auto joined = [&](int r) { return pr.all[r].kind == static_cast<uint8_t>(OpKind::kJoin); };
  const int contributors = pr.contributors > 0 ? pr.contributors : p;
  int first = 0;
  while (joined(first)) ++first;  // this rank has not joined, so one is found
  // Averages as the schedules take them (sched/plan.cc): half precision divides each input,
  // everything else the sum.
  const bool avg = op.op == ReduceOp::kAvg && contributors > 1;
  const bool half = op.dtype == DType::kFloat16 || op.dtype == DType::kBFloat16;
  auto divideInput = [&](uint8_t* x) {
    if (avg && half) red.scale(op.dtype, x, n, contributors);
  };
  // (x_first op x_next) op ...: every rank the same bits, even for NaNs with different payloads
  // (x86 keeps the first operand's), or min and max of +0 and -0. A rank other than the first
  // keeps its own vector in its slot and starts from the first's.
  uint8_t* own = data;
  if (me != first) {
    std::memcpy(eagerSlot(me), data, bytes);
    own = eagerSlot(me);
    std::memcpy(data, eagerSlot(first), bytes);
  }
  divideInput(data);
  for (int r = first + 1; r < p; ++r) {
    if (joined(r)) continue;
    uint8_t* x = r == me ? own : eagerSlot(r);
    divideInput(x);
    red.reduce(op.dtype, op.op, data, x, n);
  }
  if (avg && !half) red.scale(op.dtype, data, n, contributors);
}

void Communicator::fail(const Error& e) {
  if (e.code() != ErrorCode::kPeerLost && e.code() != ErrorCode::kTimeout) return;
  // Streams between ranks are now out of step; nothing later on them can be trusted.
  broken_ = std::make_unique<Error>(e);
  if (transport_) transport_->abandon();
  if (e.code() == ErrorCode::kPeerLost && abort_ && !e.ranks().empty()) {
    abort_->raise(e.ranks()[0], "rank " + std::to_string(e.ranks()[0]) +
                                    " was lost (reported by rank " + std::to_string(config_.rank) +
                                    ": " + e.what() + ")");
  }
}

void Communicator::execute(OpRequest& op) {
  try {
    if (op.kind == OpKind::kJoin) return runJoin(op);
    std::shared_ptr<PreparedOp> pr = op.prepared ? op.prepared : prepare(op);
    runToEnd(op, *pr);
    if (timeline_) trace(op, *pr, TimelineThread::kEngine);
  } catch (const Error& e) {
    fail(e);
    throw;
  }
}

namespace {

// How long a rank waits for the other waiters' reports: at the timeout, long enough for ranks
// whose calls started a little later to time out and report too; at a stall line, short,
// since every waiter reported half an interval in.
constexpr int kAgreeMs = 1000;
constexpr int kStallAgreeMs = 100;

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

}  // namespace

std::string Communicator::waitingKey(const PreparedOp& pr, int rank) const {
  return storePrefix_ + "waiting/" + std::to_string(pr.desc.seq) + "/" + std::to_string(rank);
}

bool Communicator::reportWaiting(PreparedOp& pr) {
  const OpKind kind = static_cast<OpKind>(pr.desc.kind);
  // A point-to-point call involves two ranks, and joined ranks answer without calling: the
  // others' absence from the store would say nothing.
  if (!store_ || config_.size < 2 || pointToPoint(kind) || pr.contributors != 0) return false;
  if (pr.reportedWaiting) return true;
  try {
    store_->set(waitingKey(pr, config_.rank), "1", Deadline::after(2.0));
  } catch (const std::exception&) {
    return false;  // the store is gone: the transport's own account stands
  }
  pr.reportedWaiting = true;
  return true;
}

std::vector<int> Communicator::notWaiting(PreparedOp& pr, int graceMs, bool* known) {
  *known = false;
  if (!reportWaiting(pr)) return {};
  std::vector<int> missing;
  try {
    const Deadline grace = Deadline::after(graceMs / 1000.0);
    for (int r = 0; r < config_.size; ++r) {
      if (r == config_.rank) continue;
      try {
        store_->get(waitingKey(pr, r), grace);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kTimeout) throw;
        missing.push_back(r);
      }
    }
  } catch (const std::exception&) {
    return {};  // the store is gone: the transport's own account stands
  }
  *known = true;
  return missing;
}

void Communicator::warnStall(PreparedOp& pr) {
  const double waited = std::chrono::duration<double>(Clock::now() - pr.started).count();
  const double left = std::chrono::duration<double>(pr.deadline.at - Clock::now()).count();
  bool known = false;
  const std::vector<int> missing = notWaiting(pr, kStallAgreeMs, &known);
  std::string who;
  if (!known) {
    who = "waiting for its peers";
  } else if (missing.empty()) {
    who = "every rank is in it (its data is slow to move)";
  } else {
    who = rankList(missing) + (missing.size() > 1 ? " are" : " is") + " not in it";
  }
  const std::string line = "[dtrain " + config_.logName + "] stall: " + pr.desc.describe() +
                           " call #" + std::to_string(pr.desc.seq) + " has waited " +
                           seconds(waited) + " s; " + who + "; it times out in " +
                           seconds(left > 0 ? left : 0) + " s\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

Error Communicator::attributeTimeout(PreparedOp& pr, const Error& e) {
  bool known = false;
  const std::vector<int> missing = notWaiting(pr, kAgreeMs, &known);
  if (!known) return e;
  if (missing.empty()) {
    // Every rank is in the call: a slow transfer, or this rank came late and the others have
    // given up on it. Either way no rank is absent.
    return Error(ErrorCode::kTimeout,
                 std::string(e.what()) + "; every other rank reported waiting in this call",
                 e.ranks());
  }
  std::vector<int> waiting;
  for (int r = 0; r < config_.size; ++r)
    if (std::find(missing.begin(), missing.end(), r) == missing.end()) waiting.push_back(r);
  return Error(ErrorCode::kTimeout,
               callName(pr.desc) + " timed out: " + rankList(missing) +
                   " did not finish it (stopped, stuck in it, or busy elsewhere); " +
                   rankList(waiting) + " waited in it (this rank " + e.what() + ")",
               missing);
}

void Communicator::runToEnd(OpRequest& op, PreparedOp& pr) {
  const double w = config_.stallWarnSec;
  auto at = [&](double sec) {
    return pr.started +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(sec));
  };
  for (;;) {
    // Half an interval in, this rank reports that it waits in the call; then a line at each
    // interval.
    Deadline until = pr.deadline;
    if (w > 0) {
      const auto next = at(pr.stallEvents == 0 ? w / 2 : w * pr.stallEvents);
      if (next < until.at) until.at = next;
    }
    try {
      if (config_.size > 1 && !pr.exchanged) exchange(pr, until);
      pr.exchanged = true;
      if (runData(op, pr, until)) return;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kTimeout) throw;
      if (until.at >= pr.deadline.at || pr.deadline.passed()) {
        // The exchange's own message is right already: it hears from every rank directly.
        if (pr.exchanged) throw attributeTimeout(pr, e);
        throw;
      }
    }
    if (pr.stallEvents == 0) {
      reportWaiting(pr);
    } else {
      warnStall(pr);
    }
    // The next event still to come (a thread that was held up past several skips them).
    const double waited = std::chrono::duration<double>(Clock::now() - pr.started).count();
    pr.stallEvents = std::max(pr.stallEvents + 1, static_cast<int>(waited / w) + 1);
  }
}

void Communicator::trace(const OpRequest& op, const PreparedOp& pr, TimelineThread thread) {
  const Clock::time_point end = Clock::now();
  const auto ns = [](Clock::time_point t) { return steadyNs(t); };
  const auto dur = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
  };
  const bool perRank = op.kind == OpKind::kAllgather || op.kind == OpKind::kGather ||
                       op.kind == OpKind::kScatter || op.kind == OpKind::kAlltoall;
  size_t elems = op.count * (perRank ? static_cast<size_t>(config_.size) : 1);
  for (size_t c : op.sendCounts) elems += c;
  const uint64_t bytes = elems * dtypeSize(op.dtype);
  const uint8_t kind = static_cast<uint8_t>(op.kind);
  const uint8_t algo = pr.algo.encode();
  const bool handed = pr.handedOver != Clock::time_point{};
  const uint8_t js = static_cast<uint8_t>(TimelineThread::kJs);
  const uint8_t th = static_cast<uint8_t>(thread);
  std::vector<TimelineEvent> ev;
  ev.reserve(5 + pr.rounds.size());
  auto add = [&](TimelinePhase phase, uint8_t on, Clock::time_point a, Clock::time_point b,
                 uint64_t n, int64_t index) {
    if (a == Clock::time_point{} || b < a) return;
    ev.push_back(
        {kind, static_cast<uint8_t>(phase), on, algo, ns(a), dur(a, b), n, index, pr.desc.seq});
  };
  // Queued: from submit() until prepared (engine) or, for a handed-over call, not at all (the
  // JS thread prepared it at once).
  if (thread == TimelineThread::kEngine && !handed)
    add(TimelinePhase::kQueued, th, op.submitted, pr.started, bytes, -1);
  if (handed) add(TimelinePhase::kInline, js, pr.started, pr.handedOver, bytes, -1);
  add(TimelinePhase::kCall, th, pr.started, end, bytes, -1);
  add(TimelinePhase::kExchange, handed && pr.exchangeEnd <= pr.handedOver ? js : th,
      pr.exchangeStart, pr.exchangeEnd, bytes, -1);
  add(TimelinePhase::kData, th, pr.dataStart, end, bytes, -1);
  for (const ExecState::RoundSpan& r : pr.rounds) {
    add(TimelinePhase::kRound, handed && r.end <= pr.handedOver ? js : th, r.start, r.end,
        r.bytesSent, static_cast<int64_t>(r.round));
  }
  timeline_->add(ev.data(), ev.size());
}

}  // namespace dtrain
