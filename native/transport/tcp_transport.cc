#include "transport/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "transport/registry.h"
#include "transport/socket_util.h"

namespace dtrain {

namespace {
constexpr long kSpinBelowNs = 200000;  // see TcpTransport::run
constexpr const char* kHello = "DTRAIN1";

void logRefusal(int rank, const std::string& from, const std::string& why) {
  std::fprintf(stderr, "dtrain: rank %d refused TCP connection from %s: %s\n", rank, from.c_str(),
               why.c_str());
  std::fflush(stderr);
}
[[noreturn]] void lost(int peer, const std::string& cause, AbortWatch* abort) {
  std::string why = "lost the connection to rank " + std::to_string(peer) + " (" + cause +
                    "): the process died or its host is unreachable";
  if (abort) abort->throwLost(peer, why);
  throw Error(ErrorCode::kPeerLost, why, {peer});
}
}  // namespace

TcpTransport::TcpTransport(const Rendezvous& rv, const std::string& token,
                           const std::string& bindHost)
    : rank_(rv.rank), size_(rv.size), token_(token), fds_(rv.size, -1) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (!numericAddress(bindHost, 0, &addr, &len)) {
    throw Error(ErrorCode::kConfig,
                "DTRAIN_TCP_ADDR must be a numeric IPv4 or IPv6 address, got '" + bindHost + "'");
  }
  listenFd_ = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) throwSystemError("socket for " + bindHost);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listenFd_, 128) != 0) {
    close(listenFd_);
    throwSystemError("listen on " + bindHost);
  }
  len = sizeof(addr);
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
  wakeFd_ = eventfd(0, EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    close(listenFd_);
    throwSystemError("eventfd");
  }
  acceptor_ = std::thread([this] { acceptLoop(); });

  try {
    std::string me = joinHostPort(bindHost, portOf(addr));
    std::vector<std::string> addrs = rv.allGather("tcp-addr", me);
    // Lower ranks accept, higher ranks connect: each pair is connected exactly once.
    for (int peer = 0; peer < rank_; ++peer) {
      int fd = connectTo(parseHostPort(addrs[peer], "peer address"), rv.deadline, "peer");
      std::string hello = std::string(kHello) + " " + token_ + " " + std::to_string(rank_) + "\n";
      std::string what = "rank " + std::to_string(peer);
      writeAll(fd, hello.data(), hello.size(), rv.deadline, what.c_str());
      std::string reply = readLine(fd, rv.deadline, what.c_str());
      if (reply != "OK") {
        close(fd);
        throw Error(ErrorCode::kBootstrap, what + " refused the connection: " + reply);
      }
      fds_[peer] = fd;
    }
    std::unique_lock<std::mutex> lock(mu_);
    int expected = size_ - 1 - rank_;
    if (!cv_.wait_until(lock, rv.deadline.at,
                        [&] { return static_cast<int>(accepted_.size()) == expected; })) {
      std::string missing;
      for (int r = rank_ + 1; r < size_; ++r)
        if (!accepted_.count(r)) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      throw Error(ErrorCode::kTimeout, "timed out waiting for ranks " + missing + " to connect");
    }
    for (auto& [r, fd] : accepted_) fds_[r] = fd;
    accepted_.clear();
    setupDone_ = true;
  } catch (...) {
    closeAll();
    throw;
  }
  for (int r = 0; r < size_; ++r) {
    if (fds_[r] >= 0) setNonBlocking(fds_[r], true);
  }
}

TcpTransport::~TcpTransport() { closeAll(); }

void TcpTransport::closeAll() {
  uint64_t v = 1;
  if (write(wakeFd_, &v, sizeof(v)) < 0) {
    // The acceptor also stops when the listener closes below.
  }
  acceptor_.join();
  for (int fd : fds_)
    if (fd >= 0) close(fd);
  for (auto& [r, fd] : accepted_) close(fd);  // accepted before a failed setup finished
  close(listenFd_);
  close(wakeFd_);
}

void TcpTransport::acceptLoop() {
  while (true) {
    pollfd p[2] = {{listenFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    setNoDelay(fd);
    std::string from = peerAddress(fd);
    std::string why;
    int peer = -1;
    try {
      // Short: one silent stranger must not hold up the peers queued behind it for long.
      std::string line = readLine(fd, Deadline::after(2.0), "connecting peer");
      char hello[16] = {0}, tok[1024] = {0};
      int r = -1;
      if (std::sscanf(line.c_str(), "%15s %1023s %d", hello, tok, &r) != 3 ||
          std::strcmp(hello, kHello) != 0) {
        why = "not a dtrain handshake";
      } else if (!equalSecret(tok, token_)) {
        why = "bad token";
      } else if (r <= rank_ || r >= size_) {
        why = "unexpected rank " + std::to_string(r);
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        if (setupDone_ || accepted_.count(r)) why = "rank " + std::to_string(r) + " is already connected";
        else peer = r;
      }
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (peer < 0) {
      std::string reply = "ERR " + why + "\n";
      if (send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
      }
      close(fd);
      logRefusal(rank_, from, why);
      continue;
    }
    if (send(fd, "OK\n", 3, MSG_NOSIGNAL) != 3) {
      close(fd);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    accepted_[peer] = fd;
    cv_.notify_all();
  }
}

bool TcpTransport::stepSend(Transfer& t, AbortWatch* abort) {
  ssize_t w = send(fds_[t.peer], t.data + t.done, t.bytes - t.done, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w > 0) {
    t.done += static_cast<size_t>(w);
    return true;
  }
  if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  lost(t.peer, std::strerror(errno), abort);
}

bool TcpTransport::stepRecv(Transfer& t, AbortWatch* abort) {
  ssize_t r = recv(fds_[t.peer], t.data + t.done, t.bytes - t.done, MSG_DONTWAIT);
  if (r > 0) {
    size_t before = t.done - t.done % t.elemSize;
    t.done += static_cast<size_t>(r);
    size_t after = t.done - t.done % t.elemSize;
    if (t.sink && after > before) t.sink(t.data + before, before, after - before);
    return true;
  }
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  lost(t.peer, r == 0 ? "closed the connection" : std::strerror(errno), abort);
}

void TcpTransport::run(std::vector<Transfer>& transfers, const Deadline& deadline,
                       AbortWatch* abort) {
  std::vector<pollfd> pfds;
  while (true) {
    // Move everything that can move without blocking, then poll for the rest.
    bool pending = false;
    pfds.clear();
    for (size_t i = 0; i < transfers.size(); ++i) {
      Transfer& t = transfers[i];
      if (t.done == t.bytes) continue;
      pending = true;
      if (!mayProgress(transfers, i)) continue;
      while (t.done < t.bytes && (t.kind == Transfer::kSend ? stepSend(t, abort) : stepRecv(t, abort))) {
      }
      if (t.done < t.bytes) {
        pfds.push_back({fds_[t.peer], static_cast<short>(t.kind == Transfer::kSend ? POLLOUT : POLLIN), 0});
      }
    }
    if (!pending) return;
    if (pfds.empty()) continue;  // a finished transfer unblocked the next one in its stream
    if (abort) pfds.push_back({abort->fd(), POLLIN, 0});
    // Sleep in ppoll until data or the deadline; but a deadline only microseconds away (the JS
    // thread's 200 us wait for peers to join) is polled for: a sleep that short costs more in
    // wake-up latency than it saves (4 KiB all-reduce, 2 ranks: 70 us against 25).
    timespec ts = deadline.timespecLeft(1000);
    if (ts.tv_sec == 0 && ts.tv_nsec < kSpinBelowNs) ts.tv_nsec = 0;
    int rc = ppoll(pfds.data(), pfds.size(), &ts, nullptr);
    if (rc < 0 && errno != EINTR) throwSystemError("poll");
    if (abort) abort->throwIfAborted();
    if (rc == 0 && deadline.passed()) {
      std::vector<int> ranks;
      std::string what = describePending(transfers, &ranks);
      throw Error(ErrorCode::kTimeout, "timed out waiting for " + what, ranks);
    }
  }
}

namespace {
std::unique_ptr<Transport> createTcp(const TransportSetup& s) {
  return std::make_unique<TcpTransport>(s.rendezvous, s.options.token, s.options.tcpAddr);
}
}  // namespace

// Defaults: as for shm (transport/shm_transport.cc), over loopback.
extern const TransportDef kTcpTransport = {
    "tcp",
    "a full mesh of TCP connections, for ranks on any hosts",
    createTcp,
    /*unavailable=*/nullptr,
    /*defaultCost=*/{2e-5, 4.4e-10, 1.2e-10},
    /*autoCandidate=*/true,
};

}  // namespace dtrain
