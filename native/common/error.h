// Errors the core raises. Each carries a stable code that the binding turns into `err.code`,
// so programs can act on the kind of failure (a lost peer, a timeout, a mismatch) without
// parsing messages. lib/common/errors.ts's ERROR_CODES is the one table of every code, these
// and those only the TypeScript raises, each with its meaning and what to do; a new code here
// goes there too (test/56.error-codes.test.js compares them).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace dtrain {

enum class ErrorCode {
  kInvalidArgument,  // ERR_DTRAIN_INVALID_ARG
  kPeerLost,         // ERR_DTRAIN_PEER_LOST: a peer process died or closed its connection
  kTimeout,          // ERR_DTRAIN_TIMEOUT: a collective did not finish before its deadline
  kMismatch,         // ERR_DTRAIN_MISMATCH: ranks called different collectives or sizes
  kBroken,           // ERR_DTRAIN_BROKEN: an earlier failure left the communicator unusable
  kBootstrap,        // ERR_DTRAIN_BOOTSTRAP: the rendezvous or transport setup failed
  kClosed,           // ERR_DTRAIN_CLOSED: the communicator was shut down
  kSystem,           // ERR_DTRAIN_SYSTEM: an OS call failed
  kConfig,           // ERR_DTRAIN_CONFIG: a DTRAIN_* setting this build or machine cannot use
  kNoGpu,            // ERR_DTRAIN_NO_GPU: a GPU call where no CUDA device or library was found
};

// How many codes there are (kNoGpu is the last).
constexpr int kErrorCodeCount = static_cast<int>(ErrorCode::kNoGpu) + 1;

const char* errorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::vector<int> ranks = {})
      : std::runtime_error(message), code_(code), ranks_(std::move(ranks)) {}
  ErrorCode code() const { return code_; }
  // The ranks the error is about: the lost peer, the peers waited for, the disagreeing ranks.
  const std::vector<int>& ranks() const { return ranks_; }

 private:
  ErrorCode code_;
  std::vector<int> ranks_;
};

// "rank 2", "ranks 0, 1": how every message names ranks.
std::string rankList(const std::vector<int>& ranks);

// Throws kSystem with `what` and strerror(errno) appended.
[[noreturn]] void throwSystemError(const std::string& what);

}  // namespace dtrain
