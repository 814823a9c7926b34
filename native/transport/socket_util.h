// Small POSIX socket helpers shared by the store client and the TCP transport.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>

#include "common/clock.h"

namespace dtrain {

struct HostPort {
  std::string host;
  int port = 0;
};

// Parses "host:port", or "[v6-address]:port" (an IPv6 address in brackets, as in URLs; the
// host is returned without them); throws Error(kInvalidArgument) naming `what` on bad input.
HostPort parseHostPort(const std::string& s, const char* what);

// "host:port", with an IPv6 host in brackets so that parseHostPort reads it back.
std::string joinHostPort(const std::string& host, int port);

// A numeric IPv4 or IPv6 address (no brackets) and a port as a socket address; false if `host`
// is neither.
bool numericAddress(const std::string& host, int port, sockaddr_storage* out, socklen_t* len);

// The port of an IPv4 or IPv6 socket address.
int portOf(const sockaddr_storage& addr);

// Connects with retries until the deadline (the listener may not be up yet), trying every
// address the host resolves to (IPv4 and IPv6). Returns a blocking fd with TCP_NODELAY set.
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
