// Client of the launcher's rendezvous store (docs/store-protocol.md). Used only while a
// communicator is set up, and afterwards to report and learn of failures (AbortWatch).
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "transport/socket_util.h"

namespace dtrain {

class StoreClient {
 public:
  // Connects and authenticates; throws Error(kBootstrap) if the store refuses the token.
  StoreClient(const std::string& address, const std::string& token, const Deadline& deadline);
  ~StoreClient();
  StoreClient(const StoreClient&) = delete;
  StoreClient& operator=(const StoreClient&) = delete;

  void set(const std::string& key, const std::string& value, const Deadline& deadline);
  // Waits until the key exists; throws Error(kTimeout) naming the key when it does not.
  std::string get(const std::string& key, const Deadline& deadline);
  int64_t add(const std::string& key, int64_t delta, const Deadline& deadline);

  // Sends a GET without waiting for the answer; readValue() collects it later.
  void sendGet(const std::string& key, int64_t timeoutMs, const Deadline& deadline);
  std::string readValue(const Deadline& deadline, const std::string& key);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Watches the job-wide abort key: a rank that sees a peer fail writes why, and every other
// rank's pending collective fails with that reason instead of waiting for its own timeout.
class AbortWatch {
 public:
  AbortWatch(const std::string& address, const std::string& token, const std::string& key,
             const Deadline& deadline);
  // Non-blocking: throws Error(kPeerLost) naming the lost rank once some rank has reported a
  // failure.
  void throwIfAborted();
  // A peer that failed may only have exited because it learnt of an earlier failure, which
  // it reported just before: give that report `ms` to arrive, so every rank names the rank
  // lost first. Then throws Error(kPeerLost) with `ownReason` if no report came.
  [[noreturn]] void throwLost(int peer, const std::string& ownReason, int ms = 200);
  // Reports to every rank that `lostRank` failed (best effort; the store may be gone). Does
  // nothing if this rank only learnt of the failure from another rank's report.
  void raise(int lostRank, const std::string& reason);
  // The fd to poll for readability (the store answers the pending GET when the key is set).
  int fd() const { return watcher_.fd(); }

 private:
  std::string address_, token_, key_;
  StoreClient watcher_;
  bool fired_ = false;
  int lostRank_ = -1;
  std::string reason_;
};

}  // namespace dtrain
