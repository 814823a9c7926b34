#include "transport/shm_transport.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"
#include "transport/peer_liveness.h"
#include "transport/registry.h"

namespace dtrain {

namespace {

constexpr uint64_t kMagic = 0x647472616e73686dULL;  // "dtranshm"
constexpr size_t kAlign = 64;
constexpr int kLivenessMs = 100;

struct alignas(64) Doorbell {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> waiters;
};

struct ChannelCtl {
  alignas(64) std::atomic<uint64_t> head;  // written by the producer
  alignas(64) std::atomic<uint64_t> tail;  // written by the consumer
};

uint64_t roundUp(uint64_t v) { return (v + kAlign - 1) & ~static_cast<uint64_t>(kAlign - 1); }

long futex(std::atomic<uint32_t>* addr, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), op, val, ts, nullptr, 0);
}

}  // namespace

// Layout of one rank's segment: header, then `size` channel controls, then `size` rings.
struct ShmSegment {
  uint64_t magic;
  int32_t rank;
  int32_t size;
  uint64_t cap;
  Doorbell bell;

  ChannelCtl* ctl() { return reinterpret_cast<ChannelCtl*>(reinterpret_cast<char*>(this) + 256); }
  uint8_t* data(int from) {
    return reinterpret_cast<uint8_t*>(ctl() + size) + static_cast<size_t>(from) * cap;
  }
  static size_t bytesFor(int size, size_t cap) {
    return 256 + sizeof(ChannelCtl) * size + cap * size;
  }
};
static_assert(sizeof(ShmSegment) <= 256, "segment header must fit its slot");

ShmTransport::ShmTransport(const Rendezvous& rv, const std::string& jobId, size_t channelBytes,
                           int spins, int hostRanks)
    : rank_(rv.rank),
      size_(rv.size),
      // Each rank has two threads that may wait (JS and engine), but only one polls at a time.
      spins_(Backoff::kDefaultSpins),
      cap_(roundUp(channelBytes < 4096 ? 4096 : channelBytes)),
      segs_(rv.size, nullptr),
      mapBytes_(rv.size, 0),
      sendHead_(rv.size, 0),
      recvTail_(rv.size, 0) {
  std::string safeJob;
  for (char c : jobId) safeJob += (isalnum(static_cast<unsigned char>(c)) ? c : '_');
  std::string prefix = rv.prefix;
  for (char& c : prefix) if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  std::string myName = "/dtrain-" + safeJob + "-" + prefix + std::to_string(rank_) + "-" +
                       std::to_string(getpid());
  size_t bytes = ShmSegment::bytesFor(size_, cap_);
  int fd = shm_open(myName.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) throwSystemError("shm_open " + myName);
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    shm_unlink(myName.c_str());
    throwSystemError("ftruncate shared memory (is /dev/shm large enough?)");
  }
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (mem == MAP_FAILED) {
    shm_unlink(myName.c_str());
    throwSystemError("mmap shared memory");
  }
  auto* seg = static_cast<ShmSegment*>(mem);
  seg->rank = rank_;
  seg->size = size_;
  seg->cap = cap_;
  new (&seg->bell) Doorbell();
  for (int r = 0; r < size_; ++r) new (&seg->ctl()[r]) ChannelCtl();
  seg->magic = kMagic;
  segs_[rank_] = seg;
  mapBytes_[rank_] = bytes;

  try {
    std::vector<std::string> names = rv.allGather("shm-name", myName);
    std::vector<std::string> pids = rv.allGather("shm-pid", std::to_string(getpid()));
    // Pids mean the same process everywhere only inside one PID namespace (containers that
    // share /dev/shm need not share it: each may have its own pid 1).
    char ns[64] = {0};
    const ssize_t nsLen = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
    const std::string myNs = nsLen > 0 ? std::string(ns, static_cast<size_t>(nsLen)) : "unknown-" + myName;
    for (const std::string& other : rv.allGather("shm-pidns", myNs)) pidsVisible_ = pidsVisible_ && other == myNs;
    pids_.resize(size_);
    for (int r = 0; r < size_; ++r) {
      pids_[r] = static_cast<pid_t>(std::stol(pids[r]));
      if (r == rank_) continue;
      int pfd = shm_open(names[r].c_str(), O_RDWR | O_CLOEXEC, 0600);
      if (pfd < 0) throwSystemError("shm_open peer segment " + names[r]);
      void* pm = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
      close(pfd);
      if (pm == MAP_FAILED) throwSystemError("mmap peer segment " + names[r]);
      segs_[r] = static_cast<ShmSegment*>(pm);
      mapBytes_[r] = bytes;
      if (segs_[r]->magic != kMagic || segs_[r]->cap != cap_ || segs_[r]->size != size_) {
        throw Error(ErrorCode::kBootstrap, "shared-memory segment of rank " + std::to_string(r) +
                                               " has a different layout (mixed dtrain versions "
                                               "or DTRAIN_SHM_CHANNEL_BYTES?)");
      }
    }
    rv.barrier("shm-mapped");
  } catch (...) {
    shm_unlink(myName.c_str());
    for (int r = 0; r < size_; ++r)
      if (segs_[r]) munmap(segs_[r], mapBytes_[r]);
    throw;
  }
  shm_unlink(myName.c_str());
  // A fixed number of polls (DTRAIN_SHM_SPIN), or one that adapts between the default and a
  // ceiling that is high only when every rank can have a core.
  if (spins >= 0) {
    spins_ = spins;
    fixedSpins_ = true;
  }
  // Ranks in other PID namespaces (containers sharing /dev/shm) are not visible by pid: then
  // a lost peer is found by the timeout and the abort reports of ranks that can see it, and
  // no rank maps another's shared arrays (hostPids()).
  for (int r = 0; r < size_; ++r) pidsVisible_ = pidsVisible_ && processAlive(pids_[r]);
  // A group's ranks share the cores with the rest of the job on this host (a parameter
  // server's pairs: two ranks each, six processes on two cores), so count those too. With more
  // ranks than cores, the peer a rank waits for may be waiting for this core: polling only
  // delays it, so a waiting rank yields at once (4 ranks on 2 cores, 64-256 KiB all-reduces:
  // 1.4-1.6x the bandwidth of 200 polls first; docs/performance.md).
  const bool oversubscribed =
      static_cast<int>(std::thread::hardware_concurrency()) < std::max(size_, hostRanks);
  maxSpins_ = oversubscribed ? 0 : 8000;
  if (!fixedSpins_) spins_ = oversubscribed ? 0 : Backoff::kDefaultSpins;
}

ShmTransport::~ShmTransport() {
  for (int r = 0; r < size_; ++r)
    if (segs_[r]) munmap(segs_[r], mapBytes_[r]);
}

void ShmTransport::ring(int peer) {
  Doorbell& b = segs_[peer]->bell;
  b.seq.fetch_add(1, std::memory_order_seq_cst);
  if (b.waiters.load(std::memory_order_seq_cst) != 0) {
    futex(&b.seq, FUTEX_WAKE, INT_MAX, nullptr);
  }
}

bool ShmTransport::stepSend(Transfer& t) {
  ChannelCtl& ch = segs_[t.peer]->ctl()[rank_];
  uint8_t* ringData = segs_[t.peer]->data(rank_);
  uint64_t h = sendHead_[t.peer];
  uint64_t tail = ch.tail.load(std::memory_order_acquire);
  int64_t space = static_cast<int64_t>(cap_) - static_cast<int64_t>(h - tail);
  if (space <= 0) return false;
  size_t pos = h % cap_;
  size_t n = t.bytes - t.done;
  if (n > static_cast<size_t>(space)) n = static_cast<size_t>(space);
  if (n > cap_ - pos) n = cap_ - pos;
  n -= n % t.elemSize;
  if (n == 0) return false;
  std::memcpy(ringData + pos, t.data + t.done, n);
  t.done += n;
  h += n;
  // Every message starts 64-byte aligned, so elements never straddle the ring's end.
  if (t.done == t.bytes) h = roundUp(h);
  sendHead_[t.peer] = h;
  ch.head.store(h, std::memory_order_release);
  ring(t.peer);
  return true;
}

bool ShmTransport::stepRecv(Transfer& t) {
  ChannelCtl& ch = segs_[rank_]->ctl()[t.peer];
  uint8_t* ringData = segs_[rank_]->data(t.peer);
  uint64_t tl = recvTail_[t.peer];
  uint64_t head = ch.head.load(std::memory_order_acquire);
  if (head <= tl) return false;
  size_t pos = tl % cap_;
  size_t n = t.bytes - t.done;
  if (n > head - tl) n = head - tl;
  if (n > cap_ - pos) n = cap_ - pos;
  n -= n % t.elemSize;
  if (n == 0) return false;
  if (t.sink) {
    t.sink(ringData + pos, t.done, n);
  } else {
    std::memcpy(t.data + t.done, ringData + pos, n);
  }
  t.done += n;
  tl += n;
  if (t.done == t.bytes) tl = roundUp(tl);
  recvTail_[t.peer] = tl;
  ch.tail.store(tl, std::memory_order_release);
  ring(t.peer);
  return true;
}

void ShmTransport::adaptSpins(bool slept) {
  // Polling pays while peers run on other cores and answer within it; when they do not (more
  // busy threads than cores), it only burns the time slice a peer needs. So: poll longer after
  // waits that polling ended, shorter after waits that had to sleep.
  if (fixedSpins_) return;
  const int floor = std::min(Backoff::kDefaultSpins, maxSpins_);
  spins_ = slept ? std::max(floor, spins_ / 2) : std::min(maxSpins_, std::max(1, spins_) * 2);
}

void ShmTransport::checkPeers(const std::vector<Transfer>& transfers, AbortWatch* abort) {
  if (abort) abort->throwIfAborted();
  for (const Transfer& t : transfers) {
    if (t.done < t.bytes && pidsVisible_ && !processAlive(pids_[t.peer])) {
      std::string why = "rank " + std::to_string(t.peer) + " (pid " +
                        std::to_string(pids_[t.peer]) + ") died during the collective";
      if (abort) abort->throwLost(t.peer, why);
      throw Error(ErrorCode::kPeerLost, why, {t.peer});
    }
  }
}

void ShmTransport::run(std::vector<Transfer>& transfers, const Deadline& deadline,
                       AbortWatch* abort) {
  Doorbell& bell = segs_[rank_]->bell;
  Backoff backoff(spins_);
  bool slept = false;
  unsigned polls = 0;
  Clock::time_point lastCheck{};  // read once a wait gets long enough to check the peers
  while (true) {
    uint32_t seen = bell.seq.load(std::memory_order_seq_cst);
    bool progressed = false, pending = false;
    for (size_t i = 0; i < transfers.size(); ++i) {
      Transfer& t = transfers[i];
      if (t.done == t.bytes) continue;
      pending = true;
      if (!mayProgress(transfers, i)) continue;
      progressed |= t.done == t.bytes;  // a late length of 0
      // Keep going on one transfer while it moves, to copy in large pieces.
      while (t.done < t.bytes && (t.kind == Transfer::kSend ? stepSend(t) : stepRecv(t))) {
        progressed = true;
      }
    }
    if (!pending) {
      adaptSpins(slept);
      return;
    }
    if (progressed) {
      backoff.reset();
      continue;
    }
    // Polling may last hundreds of microseconds; look at the clock now and then, so a short
    // deadline (the JS thread's inline attempt) is kept.
    if (backoff.next() && ((++polls & 127) != 0 || !deadline.passed())) continue;
    auto now = Clock::now();
    if (lastCheck == Clock::time_point{}) lastCheck = now;
    if (now - lastCheck >= std::chrono::milliseconds(kLivenessMs)) {
      lastCheck = now;
      checkPeers(transfers, abort);
    }
    if (deadline.passed()) {
      std::vector<int> ranks;
      std::string what = describePending(transfers, &ranks);
      throw Error(ErrorCode::kTimeout, "timed out waiting for " + what, ranks);
    }
    bell.waiters.fetch_add(1, std::memory_order_seq_cst);
    if (bell.seq.load(std::memory_order_seq_cst) == seen) {
      timespec ts = deadline.timespecLeft(kLivenessMs);
      futex(&bell.seq, FUTEX_WAIT, seen, &ts);
      slept = true;
    }
    bell.waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

namespace {

std::unique_ptr<Transport> createShm(const TransportSetup& s) {
  return std::make_unique<ShmTransport>(s.rendezvous, s.options.jobId, s.options.shmChannelBytes,
                                        s.options.shmSpin, s.options.hostRanks);
}

std::string shmUnavailable(const std::vector<std::string>& hosts) {
  for (size_t r = 0; r < hosts.size(); ++r) {
    if (hosts[r] != hosts[0]) {
      return "the shm transport needs every rank on one host, but rank 0 is on '" + hosts[0] +
             "' and rank " + std::to_string(r) + " on '" + hosts[r] + "'";
    }
  }
  return "";
}

}  // namespace

// Defaults: `dtrain bench allreduce --calibrate` on the development machine (2-core AMD EPYC,
// 2 ranks), rounded; see docs/algorithms.md.
extern const TransportDef kShmTransport = {
    "shm",
    "shared-memory rings between the ranks of one host",
    createShm,
    shmUnavailable,
    /*defaultCost=*/{1e-6, 1.0e-10, 1.2e-10},
    /*autoCandidate=*/true,
};

}  // namespace dtrain
