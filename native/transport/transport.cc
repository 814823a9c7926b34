#include "transport/transport.h"

#include <algorithm>

#include "common/error.h"

namespace dtrain {

std::string describePending(const std::vector<Transfer>& transfers, std::vector<int>* ranks) {
  std::string out;
  for (const Transfer& t : transfers) {
    // A late length still unread: the transfer before it in the stream is what is awaited.
    if (t.done == t.bytes || t.lengthFrom) continue;
    if (ranks && std::find(ranks->begin(), ranks->end(), t.peer) == ranks->end()) {
      ranks->push_back(t.peer);
    }
    if (!out.empty()) out += ", ";
    out += "rank " + std::to_string(t.peer) + " (" + (t.kind == Transfer::kSend ? "send " : "recv ") +
           std::to_string(t.done) + "/" + std::to_string(t.bytes) + " bytes)";
  }
  return out;
}

bool mayProgress(std::vector<Transfer>& transfers, size_t i) {
  Transfer& t = transfers[i];
  for (size_t j = 0; j < i; ++j) {
    const Transfer& u = transfers[j];
    if (u.peer == t.peer && u.kind == t.kind && u.done < u.bytes) return false;
  }
  if (t.lengthFrom) {
    const size_t n = *t.lengthFrom;
    if (n > t.bytes) {
      // Only a peer built differently announces more than any build sends.
      throw Error(ErrorCode::kPeerLost,
                  "rank " + std::to_string(t.peer) + " announced " + std::to_string(n) +
                      " bytes where at most " + std::to_string(t.bytes) +
                      " may follow; it runs a different dtrain build",
                  {t.peer});
    }
    t.bytes = n;
    t.lengthFrom = nullptr;
  }
  return true;
}

}  // namespace dtrain
