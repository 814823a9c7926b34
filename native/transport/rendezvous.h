// Exchange of small facts among all ranks through the store, during communicator setup.
#pragma once

#include <string>
#include <vector>

#include "transport/store_client.h"

namespace dtrain {

struct Rendezvous {
  StoreClient* store;
  std::string prefix;  // namespaces the keys of one communicator: "c<N>/"
  int rank;
  int size;
  Deadline deadline;

  // Publishes this rank's value under `name` and returns every rank's, in rank order.
  std::vector<std::string> allGather(const std::string& name, const std::string& value) const;
  // Returns once every rank has called it with the same name.
  void barrier(const std::string& name) const;
};

}  // namespace dtrain
