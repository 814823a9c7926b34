#include "transport/transport.h"

#include <algorithm>

namespace dtrain {

std::string describePending(const std::vector<Transfer>& transfers, std::vector<int>* ranks) {
  std::string out;
  for (const Transfer& t : transfers) {
    if (t.done == t.bytes) continue;
    if (ranks && std::find(ranks->begin(), ranks->end(), t.peer) == ranks->end()) {
      ranks->push_back(t.peer);
    }
    if (!out.empty()) out += ", ";
    out += "rank " + std::to_string(t.peer) + " (" + (t.kind == Transfer::kSend ? "send " : "recv ") +
           std::to_string(t.done) + "/" + std::to_string(t.bytes) + " bytes)";
  }
  return out;
}

bool mayProgress(const std::vector<Transfer>& transfers, size_t i) {
  const Transfer& t = transfers[i];
  for (size_t j = 0; j < i; ++j) {
    const Transfer& u = transfers[j];
    if (u.peer == t.peer && u.kind == t.kind && u.done < u.bytes) return false;
  }
  return true;
}

}  // namespace dtrain
