#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace dtrain {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "ERR_DTRAIN_INVALID_ARG";
    case ErrorCode::kPeerLost: return "ERR_DTRAIN_PEER_LOST";
    case ErrorCode::kTimeout: return "ERR_DTRAIN_TIMEOUT";
    case ErrorCode::kMismatch: return "ERR_DTRAIN_MISMATCH";
    case ErrorCode::kBroken: return "ERR_DTRAIN_BROKEN";
    case ErrorCode::kBootstrap: return "ERR_DTRAIN_BOOTSTRAP";
    case ErrorCode::kClosed: return "ERR_DTRAIN_CLOSED";
    case ErrorCode::kSystem: return "ERR_DTRAIN_SYSTEM";
    case ErrorCode::kConfig: return "ERR_DTRAIN_CONFIG";
    case ErrorCode::kNoGpu: return "ERR_DTRAIN_NO_GPU";
  }
  return "ERR_DTRAIN_UNKNOWN";
}

std::string rankList(const std::vector<int>& ranks) {
  std::string s = ranks.size() > 1 ? "ranks " : "rank ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

void throwSystemError(const std::string& what) {
  int err = errno;
  throw Error(ErrorCode::kSystem, what + ": " + std::strerror(err));
}

}  // namespace dtrain
