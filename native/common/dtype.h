// Element types and reduction operators shared by the schedules, kernels and engine.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dtrain {

// Values are part of the binding's ABI (lib/native.ts mirrors them).
// kFloat16 and kBFloat16 are raw bits in uint16_t (a Uint16Array in JavaScript, named by the
// caller's `dtype`); reductions on them add in float32 and round once per step.
// Integer sums and products wrap around (two's complement), as in MPI, NCCL and torch; the
// TypeScript layer computes integer averages exactly (lib/comm/communicator.ts).
enum class DType : uint8_t {
  kFloat32 = 0,
  kFloat64 = 1,
  kInt32 = 2,
  kFloat16 = 3,
  kBFloat16 = 4,
  kUint8 = 5,
  kInt8 = 6,
  kInt64 = 7,
};
constexpr int kDTypeCount = 8;
enum class ReduceOp : uint8_t { kSum = 0, kAvg = 1, kMin = 2, kMax = 3, kProd = 4 };
constexpr int kReduceOpCount = 5;

size_t dtypeSize(DType t);
const char* dtypeName(DType t);
const char* reduceOpName(ReduceOp op);
bool validDType(int v);
bool validReduceOp(int v);

}  // namespace dtrain
