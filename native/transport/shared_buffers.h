// Arrays in shared memory (dtrain.alloc): each its own memfd, mapped in this process and, on
// demand, in the peers on this host through /proc/<pid>/fd/<fd>, so nothing is named in
// /dev/shm and nothing outlives the processes that use it. A collective whose every rank passes
// one can read the peers' data where it lies (engine/zero_copy.cc) instead of copying it
// through the transport.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dtrain {

// Where a buffer lies: its allocation (ids are never reused in a process; 0 = not shared), the
// allocation's file descriptor in its owner, and the buffer's offset in it.
struct SharedRef {
  uint32_t id = 0;
  int32_t fd = -1;
  uint64_t offset = 0;  // bytes
};

// `bytes` of zeroed shared memory (at least one page); throws Error(kSystem) naming the cause.
void* sharedAlloc(size_t bytes);
// Unmaps and closes an allocation (a peer's mapping of it stays valid until the peer drops it).
void sharedFree(void* base);
// Whether [p, p + bytes) lies inside one allocation of this process, and where.
bool sharedFind(const void* p, size_t bytes, SharedRef* ref);

// A rank's mappings of its peers' allocations, kept for reuse: a training loop passes the same
// buffers every step. Bounded: the least recently used go once more than the cap are held
// (allocations freed by their owner live on in a peer's mapping only until then).
class PeerBuffers {
 public:
  // Holds at most max(kMaxMappings, 2 x peers) mappings, so one call's never evict each other.
  explicit PeerBuffers(int peers = 0) : cap_(std::max<size_t>(kMaxMappings, 2 * static_cast<size_t>(peers))) {}
  PeerBuffers(const PeerBuffers&) = delete;
  PeerBuffers& operator=(const PeerBuffers&) = delete;
  ~PeerBuffers();

  // The start of bytes [ref.offset, ref.offset + bytes) of the allocation `ref` of the process
  // `pid` (rank `rank`), mapped here; null when it cannot be mapped (another PID namespace,
  // no permission, an allocation already freed), with the reason in *why.
  const uint8_t* map(int rank, pid_t pid, const SharedRef& ref, size_t bytes, std::string* why);

 private:
  static constexpr size_t kMaxMappings = 64;
  struct Mapping {
    int rank;
    uint32_t id;
    uint8_t* base;
    size_t bytes;
    uint64_t used;
  };
  size_t cap_;
  std::vector<Mapping> maps_;
  uint64_t clock_ = 0;
};

}  // namespace dtrain
