// What a rank is about to do, exchanged by every rank before every collective so that ranks
// that disagree (different collectives, lengths, types, roots) all fail with one clear error
// instead of hanging or corrupting each other's data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "sched/collective.h"

namespace dtrain {

// Fixed size, so that the exchange itself completes whatever the ranks disagree about.
struct alignas(8) CollectiveDesc {
  uint32_t magic = 0x64657363;  // "desc"
  uint8_t kind = 0;
  uint8_t dtype = 0;
  uint8_t op = 0;
  uint8_t algorithm = 0;
  int32_t root = 0;   // broadcast, reduce, gather, scatter; send/recv: the sender
  uint32_t tag = 0;   // send/recv
  uint64_t count = 0;
  uint64_t seq = 0;   // the call's number; send/recv: the message's number between the pair
  uint64_t shape = 0;  // a grouped all-reduce's array lengths, hashed; all-to-all-v's flag
  uint32_t parts = 0;  // arrays in a grouped all-reduce
  // Bytes of the call's data that follow the descriptor in the same stream (a small all-reduce
  // by `direct`, engine/communicator.cc); 0 for everything else. Receivers read exactly this
  // much, whatever they called, so streams stay in step after a mismatch.
  uint32_t payload = 0;
  // An all-reduce whose buffer lies in shared memory (dtrain.alloc): its allocation (0: none),
  // the allocation's file descriptor in this rank's process and the buffer's offset in
  // elements, for peers on this host to read it where it is (engine/zero_copy.cc). Differs
  // between ranks; not part of the comparison.
  uint32_t region = 0;
  int32_t regionFd = 0;
  uint32_t regionOffset = 0;
  // kAutoAlgorithm: the caller left the algorithm to `auto`; kDevice: its buffers are device
  // memory (compared: a device call and a host call cannot meet).
  uint8_t flags = 0;
  uint8_t pad[3] = {0};
  static constexpr uint8_t kAutoAlgorithm = 1, kDevice = 2;

  bool sameCall(const CollectiveDesc& o) const;
  std::string describe() const;  // "allreduce(float32[10], sum)"
};
static_assert(sizeof(CollectiveDesc) == 64, "descriptor is exchanged as 64 raw bytes");

// Empty when all agree; else a message that lists each group of ranks and its call, and the
// ranks outside the largest group in `odd`.
std::string findMismatch(const std::vector<CollectiveDesc>& all, std::vector<int>* odd);

}  // namespace dtrain
