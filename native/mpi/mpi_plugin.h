// The C interface between the core addon and the MPI plugin (native/mpi/dtrain_mpi.cc). The core
// declares these itself and resolves them with dlsym; the plugin defines them. Bump
// DTRAIN_MPI_ABI when a signature changes: the core refuses a plugin of another ABI.
#pragma once

#include <stddef.h>

#define DTRAIN_MPI_ABI 2

// dtrain's dtype and reduce-op codes (common/dtype.h), repeated so the plugin needs no core header.
#define DTRAIN_MPI_FLOAT32 0
#define DTRAIN_MPI_FLOAT64 1
#define DTRAIN_MPI_INT32 2
#define DTRAIN_MPI_FLOAT16 3
#define DTRAIN_MPI_BFLOAT16 4
#define DTRAIN_MPI_UINT8 5
#define DTRAIN_MPI_INT8 6
#define DTRAIN_MPI_INT64 7
#define DTRAIN_MPI_SUM 0
#define DTRAIN_MPI_AVG 1
#define DTRAIN_MPI_MIN 2
#define DTRAIN_MPI_MAX 3
#define DTRAIN_MPI_PROD 4

#ifdef __cplusplus
extern "C" {
#endif

// Every function but abi and finalize returns 0, or non-zero with a message in err.
typedef int (*dtrain_mpi_abi_fn)(void);
typedef int (*dtrain_mpi_init_fn)(int* rank, int* size, int* localRank, int* localSize, char* version,
                                  size_t versionLen, char* err, size_t errLen);
typedef int (*dtrain_mpi_bcast_bytes_fn)(void* buf, size_t bytes, int root, char* err, size_t errLen);
typedef int (*dtrain_mpi_allreduce_fn)(void* buf, size_t count, int dtype, int op, char* err, size_t errLen);
typedef int (*dtrain_mpi_allgather_fn)(const void* send, void* recv, size_t count, int dtype, char* err,
                                       size_t errLen);
// counts: each rank's chunk (elements), in rank order; the chunks of `send` follow one another.
typedef int (*dtrain_mpi_reduce_scatter_fn)(const void* send, void* recv, const int* counts, int dtype, int op,
                                            char* err, size_t errLen);
typedef void (*dtrain_mpi_finalize_fn)(void);
// Non-blocking point-to-point on MPI_COMM_WORLD (the mpi transport): at most INT_MAX bytes per
// call; *req is the plugin's handle, released by test (once done) or cancel.
typedef int (*dtrain_mpi_isend_fn)(const void* buf, int bytes, int peer, int tag, void** req, char* err, size_t errLen);
typedef int (*dtrain_mpi_irecv_fn)(void* buf, int bytes, int peer, int tag, void** req, char* err, size_t errLen);
typedef int (*dtrain_mpi_test_fn)(void* req, int* done, char* err, size_t errLen);
typedef void (*dtrain_mpi_cancel_fn)(void* req);

#ifdef __cplusplus
}
#endif
