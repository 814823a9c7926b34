#include "transport/store_client.h"

#include <poll.h>
#include <unistd.h>

#include "common/error.h"

#include <cstdlib>
#include <vector>

namespace dtrain {

namespace {
constexpr const char* kWhat = "the rendezvous store";
// The store's GET wait for the abort key: effectively forever (about 23 days), within the
// range of a JS timer.
constexpr int64_t kForeverMs = 2000000000;

void checkKey(const std::string& key) {
  if (key.empty() || key.find_first_of(" \n\r") != std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument, "bad store key '" + key + "'");
  }
}
}  // namespace

StoreClient::StoreClient(const std::string& address, const std::string& token,
                         const Deadline& deadline) {
  fd_ = connectTo(parseHostPort(address, "DTRAIN_STORE"), deadline, kWhat);
  std::string auth = "AUTH " + token + "\n";
  writeAll(fd_, auth.data(), auth.size(), deadline, kWhat);
  std::string reply = readLine(fd_, deadline, kWhat);
  if (reply != "OK") {
    close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::kBootstrap,
                "the rendezvous store refused this worker (" + reply +
                    "): DTRAIN_TOKEN does not match the launcher's; start workers with `dtrain run`");
  }
}

StoreClient::~StoreClient() {
  if (fd_ >= 0) close(fd_);
}

void StoreClient::set(const std::string& key, const std::string& value, const Deadline& deadline) {
  checkKey(key);
  std::string req = "SET " + key + " " + std::to_string(value.size()) + "\n" + value;
  writeAll(fd_, req.data(), req.size(), deadline, kWhat);
  std::string reply = readLine(fd_, deadline, kWhat);
  if (reply != "OK") throw Error(ErrorCode::kBootstrap, "store SET " + key + " failed: " + reply);
}

void StoreClient::sendGet(const std::string& key, int64_t timeoutMs, const Deadline& deadline) {
  checkKey(key);
  std::string req = "GET " + key + " " + std::to_string(timeoutMs) + "\n";
  writeAll(fd_, req.data(), req.size(), deadline, kWhat);
}

std::string StoreClient::readValue(const Deadline& deadline, const std::string& key) {
  std::string reply = readLine(fd_, deadline, kWhat);
  if (reply == "TIMEOUT") {
    throw Error(ErrorCode::kTimeout, "timed out waiting for '" + key +
                                         "' in the rendezvous store: not every worker has "
                                         "started, or one failed before init()");
  }
  if (reply.rfind("VAL ", 0) != 0) {
    throw Error(ErrorCode::kBootstrap, "store GET " + key + " failed: " + reply);
  }
  size_t len = std::stoull(reply.substr(4));
  std::string value(len, '\0');
  if (len) readAll(fd_, &value[0], len, deadline, kWhat);
  return value;
}

std::string StoreClient::get(const std::string& key, const Deadline& deadline) {
  int64_t ms = deadline.msLeft(1 << 30);
  sendGet(key, ms, deadline);
  // The store answers TIMEOUT itself; allow it a moment beyond our own deadline to say so.
  Deadline grace{deadline.at + std::chrono::seconds(5)};
  return readValue(grace, key);
}

int64_t StoreClient::add(const std::string& key, int64_t delta, const Deadline& deadline) {
  checkKey(key);
  std::string req = "ADD " + key + " " + std::to_string(delta) + "\n";
  writeAll(fd_, req.data(), req.size(), deadline, kWhat);
  std::string reply = readLine(fd_, deadline, kWhat);
  if (reply.rfind("NUM ", 0) != 0) {
    throw Error(ErrorCode::kBootstrap, "store ADD " + key + " failed: " + reply);
  }
  return std::stoll(reply.substr(4));
}

AbortWatch::AbortWatch(const std::string& address, const std::string& token,
                       const std::string& key, const Deadline& deadline)
    : address_(address), token_(token), key_(key), watcher_(address, token, deadline) {
  watcher_.sendGet(key_, kForeverMs, deadline);
}

void AbortWatch::throwIfAborted() {
  if (!fired_) {
    pollfd p{watcher_.fd(), POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return;
    fired_ = true;
    try {
      // The value is "<lost rank>|<reason>".
      std::string v = watcher_.readValue(Deadline::after(2.0), key_);
      size_t bar = v.find('|');
      lostRank_ = bar == std::string::npos ? -1 : std::atoi(v.substr(0, bar).c_str());
      reason_ = bar == std::string::npos ? v : v.substr(bar + 1);
    } catch (const Error&) {
      reason_ = "lost the connection to the rendezvous store (did the launcher exit?)";
    }
  }
  std::vector<int> ranks;
  if (lostRank_ >= 0) ranks.push_back(lostRank_);
  throw Error(ErrorCode::kPeerLost, reason_, ranks);
}

void AbortWatch::throwLost(int peer, const std::string& ownReason, int ms) {
  if (!fired_) {
    pollfd p{watcher_.fd(), POLLIN, 0};
    poll(&p, 1, ms);
  }
  throwIfAborted();
  throw Error(ErrorCode::kPeerLost, ownReason, {peer});
}

void AbortWatch::raise(int lostRank, const std::string& reason) {
  if (fired_) return;
  try {
    StoreClient c(address_, token_, Deadline::after(2.0));
    c.set(key_, std::to_string(lostRank) + "|" + reason, Deadline::after(2.0));
  } catch (const std::exception&) {
    // The store may already be gone; each rank still fails on its own deadline.
  }
}

}  // namespace dtrain
