#include "transport/socket_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/error.h"

namespace dtrain {

HostPort parseHostPort(const std::string& s, const char* what) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + " must be host:port, got '" + s + "'");
  }
  HostPort hp;
  hp.host = s.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + " has a bad port in '" + s + "'");
  }
  hp.port = static_cast<int>(port);
  return hp;
}

int connectTo(const HostPort& hp, const Deadline& deadline, const char* what) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    throw Error(ErrorCode::kBootstrap, std::string("cannot resolve ") + what + " host '" +
                                           hp.host + "': " + gai_strerror(rc));
  }
  int lastErr = 0;
  int delayMs = 5;
  while (true) {
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      freeaddrinfo(res);
      throwSystemError("socket");
    }
    if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
      freeaddrinfo(res);
      setNoDelay(fd);
      return fd;
    }
    lastErr = errno;
    close(fd);
    if (deadline.passed()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(deadline.msLeft(delayMs)));
    delayMs = delayMs < 200 ? delayMs * 2 : 200;
  }
  freeaddrinfo(res);
  throw Error(ErrorCode::kBootstrap, std::string("cannot connect to ") + what + " at " + hp.host +
                                         ":" + std::to_string(hp.port) + ": " +
                                         std::strerror(lastErr));
}

namespace {

void waitFor(int fd, short events, const Deadline& deadline, const char* what) {
  while (true) {
    pollfd p{fd, events, 0};
    int ms = deadline.msLeft(1000);
    int rc = poll(&p, 1, ms);
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) throwSystemError(std::string("poll on ") + what);
    if (deadline.passed()) {
      throw Error(ErrorCode::kTimeout, std::string("timed out talking to ") + what);
    }
  }
}

}  // namespace

void writeAll(int fd, const void* data, size_t n, const Deadline& deadline, const char* what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      p += w;
      n -= static_cast<size_t>(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      waitFor(fd, POLLOUT, deadline, what);
    } else {
      throw Error(ErrorCode::kPeerLost,
                  std::string("lost connection to ") + what + ": " + std::strerror(errno));
    }
  }
}

void readAll(int fd, void* data, size_t n, const Deadline& deadline, const char* what) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= static_cast<size_t>(r);
    } else if (r == 0) {
      throw Error(ErrorCode::kPeerLost, std::string(what) + " closed the connection");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      waitFor(fd, POLLIN, deadline, what);
    } else {
      throw Error(ErrorCode::kPeerLost,
                  std::string("lost connection to ") + what + ": " + std::strerror(errno));
    }
  }
}

std::string readLine(int fd, const Deadline& deadline, const char* what) {
  // Byte at a time: lines are short and only used in the handshake and store replies, and
  // reading ahead would steal bytes of the value that follows.
  std::string line;
  char c;
  while (true) {
    readAll(fd, &c, 1, deadline, what);
    if (c == '\n') return line;
    line.push_back(c);
    if (line.size() > 4096) {
      throw Error(ErrorCode::kBootstrap, std::string("over-long line from ") + what);
    }
  }
}

void setNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

std::string peerAddress(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char buf[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(addr.sin_port));
}

bool equalSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace dtrain
