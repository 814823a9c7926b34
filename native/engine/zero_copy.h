// All-reduce straight from the peers' memory, for calls whose every rank passes an array from
// dtrain.alloc on one host (transport/shared_buffers.h): each rank reduces its 1/p of the
// vector reading every peer's buffer where it lies, then copies the others' reduced parts out
// of their buffers. Each rank reads n(2p - 1)/p bytes and writes n, where the rings also copy
// everything in and out of themselves; three 8-byte rounds keep the ranks in step (all mapped
// the others' buffers; all parts reduced; all parts copied, so no buffer is handed back to its
// owner while a peer still reads it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engine/collective_desc.h"
#include "engine/op_request.h"
#include "transport/shared_buffers.h"
#include "transport/transport.h"

namespace dtrain {

class Reducer;

// A zero-copy call in progress, resumable where one thread left it.
struct ZeroCopyState {
  int phase = 0;
  size_t done = 0;  // elements of the current local phase finished
  std::vector<const uint8_t*> peers;  // each rank's buffer as mapped here (own: null)
  uint64_t mine = 0;                  // what this rank tells the others in the current round
  std::vector<uint64_t> theirs;
  std::vector<Transfer> transfers;
};

class ZeroCopy {
 public:
  // noMaps (tests only): this rank fails to map its peers' buffers.
  ZeroCopy(Transport& transport, AbortWatch* abort, const std::vector<pid_t>& pids, int rank,
           int size, const Reducer& reducer, bool noMaps = false);

  // Whether every rank's descriptor offers its buffer in shared memory and left the algorithm
  // to `auto`, for an operation this path implements. Every rank sees the same descriptors, so
  // all decide alike.
  static bool applies(const std::vector<CollectiveDesc>& all);

  enum class Result { kDone, kPending, kFallBack };
  // Runs or resumes the call. kPending: `soft` passed first (call again); kFallBack: some rank
  // could not map a peer's buffer, every rank knows it and nothing was written, so the call's
  // algorithm runs instead (`why` says what failed here, if it was here).
  Result run(const OpRequest& op, const std::vector<CollectiveDesc>& all, ZeroCopyState& s,
             const Deadline& hard, const Deadline& soft, std::string* why);

 private:
  // Exchanges s.mine with every peer; false when `soft` passed first.
  bool round(ZeroCopyState& s, const Deadline& hard, const Deadline& soft);

  Transport& transport_;
  AbortWatch* abort_;
  std::vector<pid_t> pids_;
  int rank_, size_;
  const Reducer& reducer_;
  bool noMaps_;
  PeerBuffers peers_;
};

}  // namespace dtrain
