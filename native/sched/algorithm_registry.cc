// Builds the registry from the list. A build may name another list (DTRAIN_ALGORITHM_LIST): the
// registry tests add a toy algorithm that way, with one file and one line.
#include "sched/algorithm.h"

#ifndef DTRAIN_ALGORITHM_LIST
#define DTRAIN_ALGORITHM_LIST "sched/algorithm_list.def"
#endif

namespace dtrain {

#define DTRAIN_ALGORITHM(def) extern const AlgorithmDef def;
#include DTRAIN_ALGORITHM_LIST
#undef DTRAIN_ALGORITHM

const std::vector<const AlgorithmDef*>& algorithms() {
  static const std::vector<const AlgorithmDef*> all = {
#define DTRAIN_ALGORITHM(def) &def,
#include DTRAIN_ALGORITHM_LIST
#undef DTRAIN_ALGORITHM
  };
  return all;
}

}  // namespace dtrain
