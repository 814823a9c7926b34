// The nccl backend: collectives on device buffers (dtrain.cuda.alloc), after dtrain's
// descriptor exchange over the host transport has checked that every rank made the same call.
// Algorithm `nccl` (what `auto` means on device buffers) hands the data phase to NCCL's own
// collective; any other algorithm runs dtrain's schedule (sched/plan.h), each round one
// ncclGroupStart/ncclGroupEnd of ncclSend and ncclRecv, reduced by libdtrain_cuda.so's kernels,
// all queued on one stream. The NCCL communicator is made on the first device call: rank 0's
// ncclGetUniqueId travels to the others over the host transport (which the store or MPI
// bootstrapped), then every rank calls ncclCommInitRank on the device its buffers are on.
//
// NCCL has no timeouts of its own: the engine polls the call's completion event and, at the
// call's deadline or when another rank reports a failure, aborts the NCCL communicator
// (ncclCommAbort) and fails the call, naming what it knows; the communicator is then broken,
// as after a lost peer on any transport.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "engine/backend.h"
#include "gpu/cuda_api.h"
#include "gpu/cuda_kernels_loader.h"
#include "sched/plan.h"
#include "transport/store_client.h"

namespace dtrain {

namespace {

int ncclTypeOf(DType t) {
  switch (t) {
    case DType::kFloat32:
      return kNcclFloat32;
    case DType::kFloat64:
      return kNcclFloat64;
    case DType::kInt32:
      return kNcclInt32;
    case DType::kFloat16:
      return kNcclFloat16;
    case DType::kBFloat16:
      return kNcclBfloat16;
    case DType::kUint8:
      return kNcclUint8;
    case DType::kInt8:
      return kNcclInt8;
    case DType::kInt64:
      return kNcclInt64;
  }
  return kNcclFloat32;
}

int ncclOpOf(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return kNcclSum;
    case ReduceOp::kAvg:
      return kNcclAvg;
    case ReduceOp::kMin:
      return kNcclMin;
    case ReduceOp::kMax:
      return kNcclMax;
    case ReduceOp::kProd:
      return kNcclProd;
  }
  return kNcclSum;
}

std::string seconds(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g s", s);
  return b;
}

class NcclBackend final : public Backend {
 public:
  explicit NcclBackend(const BackendSetup& s)
      : transport_(s.transport),
        abort_(s.abort),
        topology_(s.topology),
        rank_(s.rank),
        size_(s.size) {}

  ~NcclBackend() override {
    if (!rt_) return;
    rt_->setDevice(device_);
    // ncclCommDestroy is an intra-node collective (NCCL's docs), and a communicator may be
    // destroyed at different times on different ranks (garbage collection, a lost peer):
    // abort, which is local. Every call has completed or failed by now.
    if (comm_) nccl_->commAbort(comm_);
    if (done_) rt_->eventDestroy(done_);
    if (stream_) rt_->streamDestroy(stream_);
    if (staging_) rt_->free(staging_);
    if (scratch_) rt_->free(scratch_);
  }

  bool run(const OpRequest& op, PreparedOp& pr, const Deadline& soft) override {
    if (op.device < 0) {
      throw Error(
          ErrorCode::kInvalidArgument,
          "algorithm 'nccl' runs on device buffers (dtrain.cuda.alloc); host arrays take dtrain's "
          "algorithms (leave the algorithm to 'auto')");
    }
    if (pr.contributors != 0) {
      throw Error(
          ErrorCode::kInvalidArgument,
          "join() does not answer collectives on device buffers: every rank must make the call");
    }
    if (!pr.dataStarted) {
      pr.dataStarted = true;
      setUp(op.device, pr.deadline);
      const AlgorithmDef* d = pr.algo.isAuto() ? nullptr : pr.algo.def();
      const bool byNccl = (d && d->support(op.kind).backend &&
                           std::strcmp(d->support(op.kind).backend, "nccl") == 0) ||
                          (op.kind == OpKind::kBroadcast && pr.algo.isAuto());
      // Decided on every rank alike, before anything is queued.
      if (!byNccl && !withoutKernels_.empty()) {
        throw Error(ErrorCode::kNoGpu,
                    rankList(withoutKernels_) +
                        " cannot run dtrain's schedules on device buffers: libdtrain_cuda.so (the "
                        "reduction kernels) is not loaded there; use algorithm 'nccl'",
                    withoutKernels_);
      }
      inFlight_ = true;
      try {
        if (op.ready)
          rt_->check(rt_->streamWaitEvent(stream_, op.ready.get(), 0), "cudaStreamWaitEvent");
        if (byNccl) {
          whole(op);
        } else {
          scheduled(op, pr);
        }
        rt_->check(rt_->eventRecord(done_, stream_), "cudaEventRecord");
      } catch (const Error& e) {
        // Part of the call may be queued on the stream, over buffers the caller gets back, and
        // the peers wait in matching calls: nothing on this communicator can go on.
        abortComm(e.what());
        throw Error(
            ErrorCode::kBroken,
            std::string("queueing ") + opKindName(op.kind) +
                " on device buffers failed, and the NCCL communicator was aborted: " + e.what());
      }
      backoffUs_ = 2;
    }
    return wait(op, pr, soft);
  }

  uint64_t bytesSent() const override { return bytes_.load(std::memory_order_relaxed); }

 private:
  // The libraries, this rank's stream and event, and the NCCL communicator (once).
  void setUp(int device, const Deadline& deadline) {
    if (!aborted_.empty()) {
      throw Error(ErrorCode::kBroken,
                  "the NCCL communicator was aborted after an earlier failure (" + aborted_ +
                      "); call shutdown() and init() again");
    }
    if (comm_) {
      if (device != device_) {
        throw Error(ErrorCode::kInvalidArgument,
                    "this communicator's device buffers are on CUDA device " +
                        std::to_string(device_) + "; a buffer on device " + std::to_string(device) +
                        " needs a communicator of its own (NCCL binds one device per rank)");
      }
      rt_->check(rt_->setDevice(device_), "cudaSetDevice");
      return;
    }
    // ncclCommInitRank blocks until every rank has called it, so every rank first says whether
    // it can (libraries, device, stream; rank 0 its unique id) in one byte to every other over
    // the host transport: a rank without NCCL fails the call everywhere instead of leaving the
    // others waiting in NCCL. The exchange keeps the streams in step, so the communicator goes
    // on working for host arrays.
    NcclUniqueId id{};
    Error own(ErrorCode::kSystem, "");
    uint8_t ready = 1;  // bit 0: NCCL and the device are usable; bit 1: so are the kernels
    try {
      prepareDevice(device);
      if (cudaKernels()) ready |= 2;
      if (rank_ == 0) nccl_->check(nccl_->getUniqueId(&id), "ncclGetUniqueId");
    } catch (const Error& e) {
      own = e;
      ready = 0;
    }
    std::vector<uint8_t> all(static_cast<size_t>(size_), 0);
    all[rank_] = ready;
    std::vector<Transfer> t;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      t.push_back({Transfer::kSend, r, &all[rank_], 1, 1, {}});
      t.push_back({Transfer::kRecv, r, &all[r], 1, 1, {}});
    }
    if (size_ > 1) transport_.run(t, deadline, abort_);
    if (!ready) throw own;
    std::vector<int> unable;
    withoutKernels_.clear();
    for (int r = 0; r < size_; ++r) {
      if (!(all[r] & 1)) unable.push_back(r);
      if (!(all[r] & 2)) withoutKernels_.push_back(r);
    }
    if (!unable.empty()) {
      throw Error(ErrorCode::kNoGpu,
                  rankList(unable) +
                      " cannot run collectives on device buffers (no usable CUDA device or NCCL "
                      "there; its own error says which)",
                  unable);
    }
    // Rank 0's unique id, to every other rank: every rank is in this call's data phase.
    t.clear();
    if (rank_ == 0) {
      for (int r = 1; r < size_; ++r)
        t.push_back({Transfer::kSend, r, reinterpret_cast<uint8_t*>(&id), sizeof id, 1, {}});
    } else {
      t.push_back({Transfer::kRecv, 0, reinterpret_cast<uint8_t*>(&id), sizeof id, 1, {}});
    }
    if (size_ > 1) transport_.run(t, deadline, abort_);
    nccl_->check(nccl_->commInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }

  // The libraries, the device, this rank's stream and completion event; throws kNoGpu saying
  // what is missing.
  void prepareDevice(int device) {
    std::string why;
    rt_ = cudaRuntime(&why);
    if (!rt_) {
      throw Error(ErrorCode::kNoGpu, "collectives on device buffers need the CUDA runtime: " + why);
    }
    nccl_ = nccl(&why);
    if (!nccl_) {
      throw Error(ErrorCode::kNoGpu,
                  "collectives on device buffers need NCCL (tried " + joinedNames() + "): " + why +
                      "; install it (pip's nvidia-nccl-cu12, or the libnccl2 package) and put "
                      "its directory on LD_LIBRARY_PATH");
    }
    device_ = device;
    rt_->check(rt_->setDevice(device_), "cudaSetDevice");
    if (!stream_) {
      rt_->check(rt_->streamCreateWithFlags(&stream_, kCudaStreamNonBlocking),
                 "cudaStreamCreateWithFlags");
    }
    if (!done_) {
      rt_->check(rt_->eventCreateWithFlags(&done_, kCudaEventDisableTiming),
                 "cudaEventCreateWithFlags");
    }
  }

  static std::string joinedNames() {
    std::string s;
    for (const std::string& n : ncclNames()) s += (s.empty() ? "" : ", ") + n;
    return s;
  }

  // NCCL's own collective: in place on `data` (all-gather from `input`).
  void whole(const OpRequest& op) {
    const int dt = ncclTypeOf(op.dtype), ro = ncclOpOf(op.op);
    const size_t es = dtypeSize(op.dtype);
    switch (op.kind) {
      case OpKind::kAllreduce:
        nccl_->check(nccl_->allReduce(op.data, op.data, op.count, dt, ro, comm_, stream_),
                     "ncclAllReduce");
        bytes_ += 2 * (size_ - 1) * op.count * es / size_;
        break;
      case OpKind::kBroadcast:
        nccl_->check(nccl_->broadcast(op.data, op.data, op.count, dt, op.root, comm_, stream_),
                     "ncclBroadcast");
        bytes_ += (size_ - 1) * op.count * es / size_;
        break;
      case OpKind::kAllgather:
        nccl_->check(nccl_->allGather(op.input, op.data, op.count, dt, comm_, stream_),
                     "ncclAllGather");
        bytes_ += (size_ - 1) * op.count * es;
        break;
      case OpKind::kReduceScatter: {
        // In place: NCCL writes rank r's chunk at data + r * count/size, where dtrain's schedules
        // leave it (equal chunks; the engine sends other lengths to a schedule).
        const size_t each = op.count / size_;
        uint8_t* mine = static_cast<uint8_t*>(op.data) + static_cast<size_t>(rank_) * each * es;
        nccl_->check(nccl_->reduceScatter(op.data, mine, each, dt, ro, comm_, stream_),
                     "ncclReduceScatter");
        bytes_ += (size_ - 1) * op.count * es / size_;
        break;
      }
      default:
        throw Error(ErrorCode::kInvalidArgument,
                    std::string("algorithm 'nccl' does not run ") + opKindName(op.kind));
    }
  }

  const DtrainCudaKernels& kernels() {
    std::string why;
    const DtrainCudaKernels* k = cudaKernels(&why);
    if (!k) {
      throw Error(ErrorCode::kNoGpu,
                  "dtrain's schedules on device buffers reduce with libdtrain_cuda.so's kernels, "
                  "which are not loaded (" +
                      why + "); use algorithm 'nccl'");
    }
    return *k;
  }

  void kcheck(const DtrainCudaKernels& k, int rc) {
    if (rc != 0) throw Error(ErrorCode::kSystem, k.lastError());
  }

  uint8_t* base(const OpRequest& op, BufferId b) {
    switch (b) {
      case BufferId::kData:
        return static_cast<uint8_t*>(op.data);
      case BufferId::kInput:
        return static_cast<uint8_t*>(const_cast<void*>(op.input));
      case BufferId::kScratch:
        return static_cast<uint8_t*>(scratch_);
    }
    return nullptr;
  }

  uint8_t* at(const OpRequest& op, const Chunk& c, size_t es) {
    return base(op, c.buffer) + c.offset * es;
  }

  void ensure(void** p, size_t* have, size_t bytes) {
    if (bytes <= *have) return;
    // The stream may still read the old buffer: wait for it before freeing.
    rt_->check(rt_->streamSynchronize(stream_), "cudaStreamSynchronize");
    if (*p) rt_->free(*p);
    *p = nullptr;
    rt_->check(rt_->malloc(p, bytes), "cudaMalloc");
    *have = bytes;
  }

  // dtrain's plan for the call, queued on the stream round by round.
  void scheduled(const OpRequest& op, PreparedOp& pr) {
    if (!op.segments.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "grouped all-reduces take host arrays; give device buffers one by one");
    }
    const Plan plan = planCollective(collectiveCallOf(op, pr, rank_, size_), topology_);
    const size_t es = dtypeSize(op.dtype);
    const DtrainCudaKernels& k = kernels();
    kcheck(k, k.setDevice(device_));
    const int dt = static_cast<int>(op.dtype), ro = static_cast<int>(op.op);
    size_t stagingNeed = 0;
    for (const Round& r : plan.schedule.rounds) {
      size_t n = 0;
      for (const Step& s : r.steps)
        if (s.kind == StepKind::kRecvReduce) n += s.dst.count * es;
      stagingNeed = std::max(stagingNeed, n);
    }
    ensure(&staging_, &stagingBytes_, stagingNeed);
    ensure(&scratch_, &scratchBytes_, plan.schedule.scratchElems * es);
    auto scale = [&](const Scaling& s) {
      if (s.any()) kcheck(k, k.scale(dt, at(op, s.chunk, es), s.chunk.count, s.divisor, stream_));
    };
    scale(plan.before);
    uint64_t sent = 0;
    for (const Round& r : plan.schedule.rounds) {
      for (const Step& s : r.steps) {
        if (s.kind != StepKind::kCopy) continue;
        rt_->check(rt_->memcpyAsync(at(op, s.dst, es), at(op, s.src, es), s.src.count * es,
                                    kCudaMemcpyDeviceToDevice, stream_),
                   "cudaMemcpyAsync");
      }
      std::vector<std::pair<uint8_t*, const Step*>> arrived;
      size_t off = 0;
      nccl_->check(nccl_->groupStart(), "ncclGroupStart");
      // NCCL's group depth is per thread: a failure inside must still close the group, or
      // every later NCCL call on this thread would join a group that never launches.
      struct GroupEnd {
        const Nccl* n;
        bool open = true;
        ~GroupEnd() {
          if (open) n->groupEnd();
        }
      } group{nccl_};
      for (const Step& s : r.steps) {
        if (s.kind == StepKind::kSend) {
          nccl_->check(
              nccl_->send(at(op, s.src, es), s.src.count * es, kNcclUint8, s.peer, comm_, stream_),
              "ncclSend");
          sent += s.src.count * es;
        } else if (s.kind == StepKind::kRecv) {
          nccl_->check(
              nccl_->recv(at(op, s.dst, es), s.dst.count * es, kNcclUint8, s.peer, comm_, stream_),
              "ncclRecv");
        } else if (s.kind == StepKind::kRecvReduce) {
          uint8_t* into = static_cast<uint8_t*>(staging_) + off;
          off += s.dst.count * es;
          nccl_->check(nccl_->recv(into, s.dst.count * es, kNcclUint8, s.peer, comm_, stream_),
                       "ncclRecv");
          arrived.emplace_back(into, &s);
        }
      }
      group.open = false;
      nccl_->check(nccl_->groupEnd(), "ncclGroupEnd");
      for (const auto& [from, s] : arrived)
        kcheck(k, k.reduce(dt, ro, at(op, s->dst, es), from, s->dst.count, stream_));
      for (const Step& s : r.steps) {
        if (s.kind == StepKind::kReduce)
          kcheck(k, k.reduce(dt, ro, at(op, s.dst, es), at(op, s.src, es), s.dst.count, stream_));
      }
    }
    scale(plan.after);
    bytes_ += sent;
  }

  // Until the stream has run the call: true when done, false when `soft` passed first.
  bool wait(const OpRequest& op, const PreparedOp& pr, const Deadline& soft) {
    for (;;) {
      const int rc = rt_->eventQuery(done_);
      if (rc == 0) {
        inFlight_ = false;
        return true;
      }
      if (rc != kCudaErrorNotReady) {
        abortComm(rt_->getErrorString(rc));
        rt_->check(rc, "the device collective");
      }
      int async = 0;
      if (nccl_->commGetAsyncError(comm_, &async) == 0 && async != 0 && async != kNcclInProgress) {
        const std::string what = nccl_->getErrorString(async);
        abortComm(what);
        throw Error(ErrorCode::kPeerLost, std::string("NCCL reported an error during ") +
                                              opKindName(op.kind) + " on device buffers: " + what);
      }
      if (abort_) {
        try {
          abort_->throwIfAborted();
        } catch (const Error& e) {
          abortComm(e.what());
          throw;
        }
      }
      if (pr.deadline.passed()) {
        abortComm("a timeout");
        const double limit = std::chrono::duration<double>(pr.deadline.at - pr.started).count();
        throw Error(ErrorCode::kTimeout,
                    std::string(opKindName(op.kind)) + " on device buffers did not finish within " +
                        seconds(limit) +
                        ": NCCL does not say which rank it waits for; a rank that did not make the "
                        "call, or whose "
                        "GPU is stuck, holds the others (the NCCL communicator was aborted)");
      }
      if (soft.passed()) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(backoffUs_));
      backoffUs_ = std::min(backoffUs_ * 2, 1000);
    }
  }

  // After a failure nothing queued on the communicator can finish: NCCL's way out.
  void abortComm(const std::string& why) {
    aborted_ = why;
    if (comm_) nccl_->commAbort(comm_);
    comm_ = nullptr;
    inFlight_ = false;
  }

  Transport& transport_;
  AbortWatch* abort_;
  const Topology& topology_;
  int rank_, size_;
  const CudaRuntime* rt_ = nullptr;
  const Nccl* nccl_ = nullptr;
  ncclCommPtr comm_ = nullptr;
  int device_ = -1;
  cudaStream stream_ = nullptr;
  cudaEvent done_ = nullptr;
  bool inFlight_ = false;
  std::string aborted_;              // why the NCCL communicator was aborted
  std::vector<int> withoutKernels_;  // ranks where libdtrain_cuda.so is not loaded
  int backoffUs_ = 2;
  void* staging_ = nullptr;
  size_t stagingBytes_ = 0;
  void* scratch_ = nullptr;
  size_t scratchBytes_ = 0;
  std::atomic<uint64_t> bytes_{0};
};

// Never a communicator's default: only device buffers reach it.
bool acceptsNone(const Transport&) { return false; }

std::unique_ptr<Backend> create(const BackendSetup& s) { return std::make_unique<NcclBackend>(s); }

}  // namespace

extern const BackendDef kNcclBackend = {
    "nccl",
    "device buffers: NCCL's collectives, or dtrain's schedules over ncclSend/ncclRecv with CUDA "
    "reductions",
    acceptsNone,
    create,
};

}  // namespace dtrain
