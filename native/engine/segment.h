// One array of a grouped all-reduce: the arrays are reduced as one vector, their concatenation,
// without being copied into one (the executor splits each chunk where the arrays meet).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dtrain {

struct Segment {
  uint8_t* data;
  size_t count;  // elements
};

}  // namespace dtrain
