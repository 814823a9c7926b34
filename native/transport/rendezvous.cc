#include "transport/rendezvous.h"

namespace dtrain {

std::vector<std::string> Rendezvous::allGather(const std::string& name,
                                               const std::string& value) const {
  store->set(prefix + name + "/" + std::to_string(rank), value, deadline);
  std::vector<std::string> out(size);
  for (int r = 0; r < size; ++r) {
    out[r] = r == rank ? value : store->get(prefix + name + "/" + std::to_string(r), deadline);
  }
  return out;
}

void Rendezvous::barrier(const std::string& name) const {
  int64_t arrived = store->add(prefix + name + "/count", 1, deadline);
  if (arrived == size) store->set(prefix + name + "/done", "1", deadline);
  store->get(prefix + name + "/done", deadline);
}

}  // namespace dtrain
