// The MPI plugin: the only code compiled against the system's MPI (with mpicxx, when it is
// found at install), as a shared library the core addon loads with dlopen under mpirun. The
// core prebuilt addon therefore loads on machines without MPI. Its interface is plain C
// (native/mpi/mpi_plugin.h); dtype and op codes are dtrain's own (common/dtype.h).
// The MPI C++ bindings are not wanted (deprecated, and they drag in libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "mpi/mpi_plugin.h"

namespace {

MPI_Comm world = MPI_COMM_NULL;
MPI_Comm node = MPI_COMM_NULL;
MPI_Op halfSum = MPI_OP_NULL, halfProd = MPI_OP_NULL, halfMin = MPI_OP_NULL, halfMax = MPI_OP_NULL;
MPI_Op bf16Sum = MPI_OP_NULL, bf16Prod = MPI_OP_NULL, bf16Min = MPI_OP_NULL, bf16Max = MPI_OP_NULL;

int fail(char* err, size_t len, const char* what, int code) {
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int n = 0;
  MPI_Error_string(code, msg, &n);
  std::snprintf(err, len, "%s failed: %s", what, msg);
  return code == MPI_SUCCESS ? 1 : code;
}

// float16 and bfloat16 have no MPI type: they travel as 2-byte integers and are reduced by
// user-defined ops that widen to float32, as dtrain's CPU reducer does (one rounding per step).
float fromHalf(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = man;
      do {
        e++;
        m <<= 1;
      } while ((m & 0x400u) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t toHalf(float f) {  // round to nearest even
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflows to inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(e);
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = absx - 0x38000000u;
  r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
  return static_cast<uint16_t>(sign | r);
}

float fromBf16(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t toBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

template <float (*From)(uint16_t), uint16_t (*To)(float), int Kind>
void reduce16(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) {
    const float x = From(a[i]), y = From(b[i]);
    float r;
    switch (Kind) {
      case 0: r = x + y; break;
      case 1: r = x * y; break;
      case 2: r = x < y ? x : y; break;
      default: r = x > y ? x : y; break;
    }
    b[i] = To(r);
  }
}

bool typeOf(int dtype, MPI_Datatype* t) {
  switch (dtype) {
    case DTRAIN_MPI_FLOAT32: *t = MPI_FLOAT; return true;
    case DTRAIN_MPI_FLOAT64: *t = MPI_DOUBLE; return true;
    case DTRAIN_MPI_INT32: *t = MPI_INT32_T; return true;
    case DTRAIN_MPI_FLOAT16:
    case DTRAIN_MPI_BFLOAT16: *t = MPI_UINT16_T; return true;
    case DTRAIN_MPI_UINT8: *t = MPI_UINT8_T; return true;
    case DTRAIN_MPI_INT8: *t = MPI_INT8_T; return true;
    case DTRAIN_MPI_INT64: *t = MPI_INT64_T; return true;
    default: return false;
  }
}

// Average is a sum here; the core divides afterwards, as for its own schedules.
bool opOf(int dtype, int op, MPI_Op* o) {
  const bool half = dtype == DTRAIN_MPI_FLOAT16, bf = dtype == DTRAIN_MPI_BFLOAT16;
  switch (op) {
    case DTRAIN_MPI_SUM:
    case DTRAIN_MPI_AVG: *o = half ? halfSum : bf ? bf16Sum : MPI_SUM; return true;
    case DTRAIN_MPI_MIN: *o = half ? halfMin : bf ? bf16Min : MPI_MIN; return true;
    case DTRAIN_MPI_MAX: *o = half ? halfMax : bf ? bf16Max : MPI_MAX; return true;
    case DTRAIN_MPI_PROD: *o = half ? halfProd : bf ? bf16Prod : MPI_PROD; return true;
    default: return false;
  }
}

int badArgs(char* err, size_t len, int dtype, int op) {
  std::snprintf(err, len, "the MPI plugin does not know dtype %d or op %d", dtype, op);
  return 1;
}

// MPI counts are ints: a larger message goes in pieces of at most 1 GiB elements.
constexpr size_t kMaxPiece = size_t{1} << 30;

}  // namespace

extern "C" {

int dtrain_mpi_abi(void) { return DTRAIN_MPI_ABI; }

int dtrain_mpi_init(int* rank, int* size, int* localRank, int* localSize, char* version,
                    size_t versionLen, char* err, size_t errLen) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    // The engine threads call MPI (the mpi algorithm), one communicator's at a time.
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) return fail(err, errLen, "MPI_Init_thread", rc);
    if (provided < MPI_THREAD_SERIALIZED) {
      std::snprintf(err, errLen, "this MPI offers thread level %d; dtrain needs MPI_THREAD_SERIALIZED or better", provided);
      return 1;
    }
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &world);
  // Errors come back as codes (and become dtrain errors) instead of aborting the job.
  MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
  MPI_Comm_rank(world, rank);
  MPI_Comm_size(world, size);
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, localRank);
  MPI_Comm_size(node, localSize);
  MPI_Op_create(&reduce16<fromHalf, toHalf, 0>, 1, &halfSum);
  MPI_Op_create(&reduce16<fromHalf, toHalf, 1>, 1, &halfProd);
  MPI_Op_create(&reduce16<fromHalf, toHalf, 2>, 1, &halfMin);
  MPI_Op_create(&reduce16<fromHalf, toHalf, 3>, 1, &halfMax);
  MPI_Op_create(&reduce16<fromBf16, toBf16, 0>, 1, &bf16Sum);
  MPI_Op_create(&reduce16<fromBf16, toBf16, 1>, 1, &bf16Prod);
  MPI_Op_create(&reduce16<fromBf16, toBf16, 2>, 1, &bf16Min);
  MPI_Op_create(&reduce16<fromBf16, toBf16, 3>, 1, &bf16Max);
  int n = 0;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  MPI_Get_library_version(lib, &n);
  std::snprintf(version, versionLen, "%s", lib);
  // The first line is enough for messages ("Open MPI v4.1.4, ...").
  for (char* p = version; *p; ++p)
    if (*p == '\n') *p = 0;
  return 0;
}

int dtrain_mpi_bcast_bytes(void* buf, size_t bytes, int root, char* err, size_t errLen) {
  const int rc = MPI_Bcast(buf, static_cast<int>(bytes), MPI_BYTE, root, world);
  return rc == MPI_SUCCESS ? 0 : fail(err, errLen, "MPI_Bcast", rc);
}

int dtrain_mpi_allreduce(void* buf, size_t count, int dtype, int op, char* err, size_t errLen) {
  MPI_Datatype t;
  MPI_Op o;
  if (!typeOf(dtype, &t) || !opOf(dtype, op, &o)) return badArgs(err, errLen, dtype, op);
  int es = 0;
  MPI_Type_size(t, &es);
  for (size_t at = 0; at < count; at += kMaxPiece) {
    const size_t n = count - at < kMaxPiece ? count - at : kMaxPiece;
    const int rc = MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(buf) + at * es, static_cast<int>(n), t, o, world);
    if (rc != MPI_SUCCESS) return fail(err, errLen, "MPI_Allreduce", rc);
  }
  return 0;
}

int dtrain_mpi_allgather(const void* send, void* recv, size_t count, int dtype, char* err, size_t errLen) {
  MPI_Datatype t;
  if (!typeOf(dtype, &t)) return badArgs(err, errLen, dtype, 0);
  if (count > static_cast<size_t>(INT32_MAX)) {
    std::snprintf(err, errLen, "MPI_Allgather: %zu elements per rank exceed MPI's int count", count);
    return 1;
  }
  const int rc = MPI_Allgather(send, static_cast<int>(count), t, recv, static_cast<int>(count), t, world);
  return rc == MPI_SUCCESS ? 0 : fail(err, errLen, "MPI_Allgather", rc);
}

int dtrain_mpi_reduce_scatter(const void* send, void* recv, const int* counts, int dtype, int op, char* err,
                              size_t errLen) {
  MPI_Datatype t;
  MPI_Op o;
  if (!typeOf(dtype, &t) || !opOf(dtype, op, &o)) return badArgs(err, errLen, dtype, op);
  int p = 0;
  MPI_Comm_size(world, &p);
  bool even = true;
  for (int r = 1; r < p; ++r) even = even && counts[r] == counts[0];
  // Equal chunks are MPI_Reduce_scatter_block's case; dtrain's uneven split needs the counts.
  const int rc = even ? MPI_Reduce_scatter_block(send, recv, counts[0], t, o, world)
                      : MPI_Reduce_scatter(send, recv, counts, t, o, world);
  return rc == MPI_SUCCESS ? 0 : fail(err, errLen, even ? "MPI_Reduce_scatter_block" : "MPI_Reduce_scatter", rc);
}

int dtrain_mpi_isend(const void* buf, int bytes, int peer, int tag, void** req, char* err, size_t errLen) {
  auto* r = new MPI_Request;
  const int rc = MPI_Isend(buf, bytes, MPI_BYTE, peer, tag, world, r);
  if (rc != MPI_SUCCESS) {
    delete r;
    return fail(err, errLen, "MPI_Isend", rc);
  }
  *req = r;
  return 0;
}

int dtrain_mpi_irecv(void* buf, int bytes, int peer, int tag, void** req, char* err, size_t errLen) {
  auto* r = new MPI_Request;
  const int rc = MPI_Irecv(buf, bytes, MPI_BYTE, peer, tag, world, r);
  if (rc != MPI_SUCCESS) {
    delete r;
    return fail(err, errLen, "MPI_Irecv", rc);
  }
  *req = r;
  return 0;
}

int dtrain_mpi_test(void* req, int* done, char* err, size_t errLen) {
  auto* r = static_cast<MPI_Request*>(req);
  const int rc = MPI_Test(r, done, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return fail(err, errLen, "MPI_Test", rc);
  if (*done) delete r;
  return 0;
}

void dtrain_mpi_cancel(void* req) {
  auto* r = static_cast<MPI_Request*>(req);
  MPI_Cancel(r);
  MPI_Request_free(r);
  delete r;
}

void dtrain_mpi_finalize(void) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  MPI_Finalize();
}

}  // extern "C"
