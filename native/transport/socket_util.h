// Small POSIX socket helpers shared by the store client and the TCP transport.
#pragma once

#include <cstddef>
#include <string>

#include "common/clock.h"

namespace dtrain {

struct HostPort {
  std::string host;
  int port = 0;
};

// Parses "host:port"; throws Error(kInvalidArgument) naming `what` on bad input.
HostPort parseHostPort(const std::string& s, const char* what);

// Connects with retries until the deadline (the listener may not be up yet). Returns a
// blocking fd with TCP_NODELAY set.
int connectTo(const HostPort& hp, const Deadline& deadline, const char* what);

// Blocking full write/read bounded by the deadline. Throw Error(kTimeout) or
// Error(kPeerLost) (peer closed) with `what` in the message.
void writeAll(int fd, const void* data, size_t n, const Deadline& deadline, const char* what);
void readAll(int fd, void* data, size_t n, const Deadline& deadline, const char* what);
// Reads one '\n'-terminated line (without the newline); at most 4096 bytes.
std::string readLine(int fd, const Deadline& deadline, const char* what);

void setNonBlocking(int fd, bool on);
void setNoDelay(int fd);
std::string peerAddress(int fd);

// Constant-time comparison for secrets.
bool equalSecret(const std::string& a, const std::string& b);

}  // namespace dtrain
