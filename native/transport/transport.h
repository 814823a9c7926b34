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

#include <sys/types.h>

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
  // kRecv only, on transports whose lateLengths() is true: the message's length is not known
  // when the list is made but read from *lengthFrom when the transfer starts (once the
  // transfers before it from the same peer, one of which fills it, are done), replacing
  // `bytes`; `data` must hold the largest length it may read. A descriptor that says how much
  // data follows it is how the engine sends small collectives in one message (and drains what
  // a peer sent when the calls disagree).
  const uint32_t* lengthFrom = nullptr;
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
  // Whether run() honours Transfer::lengthFrom (starting each stream's transfers one after the
  // other through mayProgress). Transports that post every transfer at once cannot.
  virtual bool lateLengths() const { return false; }
  // Every rank's process id, where all ranks share this host's memory and their processes are
  // visible from this one (so a peer's shared arrays can be mapped here); else null.
  virtual const std::vector<pid_t>* hostPids() const { return nullptr; }
};

// Describes the peers still awaited by unfinished transfers, for timeout messages:
// "rank 1 (recv 0/4096 bytes), rank 2 (send 512/4096 bytes)".
std::string describePending(const std::vector<Transfer>& transfers, std::vector<int>* ranks);

// False while an earlier unfinished transfer has the same peer and direction as transfers[i]:
// such transfers share one ordered stream and must go one after the other. When it turns true
// for a transfer with a late length, it reads that length (which may be 0: then the transfer
// is done at once).
bool mayProgress(std::vector<Transfer>& transfers, size_t i);

}  // namespace dtrain
