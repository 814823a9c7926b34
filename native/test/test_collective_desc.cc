// Mismatch reports: which ranks disagree, and how, in one message every rank computes alike.
#include <string>
#include <vector>

#include "check.h"
#include "engine/collective_desc.h"
#include "kernels/cpu/reduce.h"

using namespace dtrain;

int main() {
  CollectiveDesc a;
  a.kind = static_cast<uint8_t>(OpKind::kAllreduce);
  a.count = 10;
  CollectiveDesc b = a;
  b.count = 11;
  std::vector<int> odd;
  CHECK(findMismatch({a, a, a}, &odd).empty(), "identical calls must agree");
  std::string msg = findMismatch({a, b, a}, &odd);
  CHECK(msg.find("ranks 0, 2 called allreduce(float32[10]") != std::string::npos, "%s", msg.c_str());
  CHECK(msg.find("rank 1 called allreduce(float32[11]") != std::string::npos, "%s", msg.c_str());
  CHECK(odd == std::vector<int>{1}, "odd ranks");

  CollectiveDesc c;
  c.kind = static_cast<uint8_t>(OpKind::kBarrier);
  odd.clear();
  msg = findMismatch({c, a}, &odd);
  CHECK(msg.find("rank 0 called barrier()") != std::string::npos, "%s", msg.c_str());
  CHECK(odd == std::vector<int>{1}, "a tie keeps rank 0's group as the reference");

  // A call on device buffers meets only calls on device buffers.
  CollectiveDesc dev = a;
  dev.flags |= CollectiveDesc::kDevice;
  CollectiveDesc autoFlag = a;
  autoFlag.flags |= CollectiveDesc::kAutoAlgorithm;
  CHECK(findMismatch({a, autoFlag}, &odd).empty(), "the auto flag is not compared");
  odd.clear();
  msg = findMismatch({a, dev, a}, &odd);
  CHECK(msg.find("rank 1 called allreduce(float32[10], op=sum, algorithm=auto, on device buffers)") != std::string::npos,
        "%s", msg.c_str());
  CHECK(odd == std::vector<int>{1}, "the device call is the odd one");

  // Reductions: integer sums wrap like Int32Array, min/max pick, avg divides.
  int32_t d[3] = {2147483647, 5, -7}, s[3] = {1, -9, 3};
  reduceInto(DType::kInt32, ReduceOp::kSum, d, s, 3);
  CHECK(d[0] == -2147483647 - 1 && d[1] == -4 && d[2] == -4, "int32 sum wraps");
  float f[2] = {1, 5}, g[2] = {3, 2};
  reduceInto(DType::kFloat32, ReduceOp::kMax, f, g, 2);
  CHECK(f[0] == 3 && f[1] == 5, "max");
  reduceInto(DType::kFloat32, ReduceOp::kMin, f, g, 2);
  CHECK(f[0] == 3 && f[1] == 2, "min");
  int32_t avg[2] = {7, -7};
  scaleForAverage(DType::kInt32, avg, 2, 2);
  CHECK(avg[0] == 3 && avg[1] == -3, "int avg truncates toward zero");
  return TEST_MAIN_RESULT();
}
