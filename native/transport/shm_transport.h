// Shared-memory transport for ranks on one host. Each rank owns one segment holding a
// single-producer single-consumer ring from every other rank to it, and a doorbell (a futex
// word) that peers ring when they add data to its rings or free space in rings it writes.
// A waiting rank spins briefly, then sleeps on its doorbell, so several ranks can share a
// core without starving the one they wait for.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "transport/rendezvous.h"
#include "transport/transport.h"

namespace dtrain {

struct ShmSegment;

class ShmTransport : public Transport {
 public:
  // Collective over all ranks, which must share one host (see kShmTransport's `unavailable`):
  // creates this rank's segment, maps every peer's, and unlinks its own name once all have
  // mapped it (so nothing is left in /dev/shm after a crash). spins >= 0 fixes the polls a
  // waiting rank makes before yielding; -1 adapts them.
  ShmTransport(const Rendezvous& rv, const std::string& jobId, size_t channelBytes, int spins,
               int hostRanks = 0);
  ~ShmTransport() override;

  const char* name() const override { return "shm"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool lateLengths() const override { return true; }
  const std::vector<pid_t>* hostPids() const override { return pidsVisible_ ? &pids_ : nullptr; }
  void run(std::vector<Transfer>& transfers, const Deadline& deadline,
           AbortWatch* abort) override;

 private:
  bool stepSend(Transfer& t);
  bool stepRecv(Transfer& t);
  void ring(int peer);
  void checkPeers(const std::vector<Transfer>& transfers, AbortWatch* abort);

  int rank_, size_;
  void adaptSpins(bool slept);
  int spins_;             // polls before yielding, adapted per wait (adaptSpins)
  int maxSpins_ = 0;
  bool fixedSpins_ = false;
  bool pidsVisible_ = true;  // every peer's pid can be checked from this process
  size_t cap_;
  std::vector<ShmSegment*> segs_;   // by rank, own included
  std::vector<size_t> mapBytes_;
  std::vector<pid_t> pids_;
  std::vector<uint64_t> sendHead_;  // next write position in my ring inside peer's segment
  std::vector<uint64_t> recvTail_;  // next read position in peer's ring inside my segment
};

}  // namespace dtrain
