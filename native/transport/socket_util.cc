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
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  char* end = nullptr;
  long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + " has a bad port in '" + s + "'");
  }
  hp.port = static_cast<int>(port);
  return hp;
}

std::string joinHostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool numericAddress(const std::string& host, int port, sockaddr_storage* out, socklen_t* len) {
  *out = sockaddr_storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

int portOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
}

int connectTo(const HostPort& hp, const Deadline& deadline, const char* what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
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
    for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        lastErr = errno;
        continue;  // e.g. an IPv6 address on a host without IPv6: try the next one
      }
      if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        freeaddrinfo(res);
        setNoDelay(fd);
        return fd;
      }
      lastErr = errno;
      close(fd);
    }
    if (deadline.passed()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(deadline.msLeft(delayMs)));
    delayMs = delayMs < 200 ? delayMs * 2 : 200;
  }
  freeaddrinfo(res);
  throw Error(ErrorCode::kBootstrap, std::string("cannot connect to ") + what + " at " +
                                         joinHostPort(hp.host, hp.port) + ": " +
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
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = "?";
  const void* ip = addr.ss_family == AF_INET6
                       ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6&>(addr).sin6_addr)
                       : static_cast<const void*>(&reinterpret_cast<sockaddr_in&>(addr).sin_addr);
  inet_ntop(addr.ss_family, ip, buf, sizeof(buf));
  return joinHostPort(buf, portOf(addr));
}

bool equalSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace dtrain
