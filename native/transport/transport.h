// The one interface every transport implements. Schedules (native/sched) never see sockets or
// shared memory: the executor turns each round of a schedule into a list of Transfers and
// hands it to Transport::run, which moves them all concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"

namespace dtrain {

// Receives bytes [offset, offset + n) of an incoming message as soon as they arrive, so a
// reduction can run while the rest is still in flight. n is always a multiple of the
// transfer's element size.
using Sink = std::function<void(const uint8_t* src, size_t offset, size_t n)>;

struct Transfer {
  enum Kind : uint8_t { kSend, kRecv } kind;
  int peer;
  // kSend: the bytes to send. kRecv: where they land; with a sink it is only a staging area
  // that a transport may use (shared memory hands the sink its ring directly and ignores it).
  uint8_t* data;
  size_t bytes;
  size_t elemSize;  // deliveries to a sink are whole elements
  Sink sink;        // kRecv only; empty = copy into data
  size_t done = 0;  // progress, owned by the transport
};

// Why a peer failed, for the engine to report and to propagate to the other ranks.
class AbortWatch;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Moves every transfer to completion. Transfers to the same peer in the same direction are
  // delivered in list order; all others progress concurrently. Throws Error(kPeerLost) naming
  // the rank that died or disconnected, or Error(kTimeout) naming the ranks still awaited when
  // the deadline passes, or Error(kPeerLost) when another rank reported a failure through
  // `abort` (may be null).
  virtual void run(std::vector<Transfer>& transfers, const Deadline& deadline,
                   AbortWatch* abort) = 0;
  // The communicator failed: stop whatever transfers are still in flight (their buffers may go
  // away). Transports that complete or drop a transfer within run() have nothing to do.
  virtual void abandon() {}
};

// Describes the peers still awaited by unfinished transfers, for timeout messages:
// "rank 1 (recv 0/4096 bytes), rank 2 (send 512/4096 bytes)".
std::string describePending(const std::vector<Transfer>& transfers, std::vector<int>* ranks);

// False while an earlier unfinished transfer has the same peer and direction as transfers[i]:
// such transfers share one ordered stream and must go one after the other.
bool mayProgress(const std::vector<Transfer>& transfers, size_t i);

}  // namespace dtrain
