/* Peer of `dtrain bench allreduce --mpi`: MPI_Allreduce of float32 sums, timed as dtrain's
 * bench/allreduce-worker.js times its own, for sizes MIN_BYTES, 4 x MIN_BYTES, ... up to
 * MAX_BYTES. Rank 0 prints one JSON line per size:
 *   {"impl":"mpi","np":P,"bytes":B,"time_us":T,"algbw_GBs":A,"busbw_GBs":W,"ok":true}
 * time: the slowest rank's mean over the timed calls; algbw = B / time; busbw = algbw x 2(P-1)/P
 * (nccl-tests' convention, so figures compare across rank counts); ok: the sum was right.
 *
 * Build and run (dtrain bench allreduce --mpi does both itself):
 *   mpicc -O2 -o mpi_allreduce mpi_allreduce.c
 *   mpirun -np 2 ./mpi_allreduce [MAX_BYTES (67108864)] [MIN_BYTES (4096)]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

/* Timed calls per size: the same counts as dtrain's worker, so the two means compare. */
static int timed_calls(size_t bytes) {
  if (bytes < ((size_t)64 << 10)) return 2000;
  if (bytes < ((size_t)1 << 20)) return 200;
  if (bytes < ((size_t)16 << 20)) return 30;
  return 8;
}

static size_t size_arg(int argc, char **argv, int i, size_t fallback) {
  if (argc <= i) return fallback;
  char *end = NULL;
  unsigned long long v = strtoull(argv[i], &end, 10);
  if (*argv[i] == '\0' || *end != '\0' || v < 4 || v % 4 != 0) {
    fprintf(stderr, "mpi_allreduce: %s is not a byte count that holds whole float32 elements\n", argv[i]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return (size_t)v;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, np = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  const size_t max_bytes = size_arg(argc, argv, 1, (size_t)64 << 20);
  const size_t min_bytes = size_arg(argc, argv, 2, 4096);

  const size_t max_count = max_bytes / sizeof(float);
  float *in = malloc(max_bytes);
  float *out = malloc(max_bytes);
  if (in == NULL || out == NULL) {
    fprintf(stderr, "mpi_allreduce: cannot allocate 2 x %zu bytes\n", max_bytes);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  for (size_t i = 0; i < max_count; i++) in[i] = (float)(rank + 1);
  const float expected = (float)np * (float)(np + 1) / 2.0f;

  for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    const int count = (int)(bytes / sizeof(float));
    const int calls = timed_calls(bytes);
    for (int i = 0; i < 3; i++) MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    for (int i = 0; i < calls; i++) MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double mine = (MPI_Wtime() - start) / calls;
    double slowest = 0;
    MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    const int ok = out[0] == expected && out[count - 1] == expected;
    if (rank == 0) {
      const double algbw = (double)bytes / slowest / 1e9;
      printf("{\"impl\":\"mpi\",\"np\":%d,\"bytes\":%zu,\"time_us\":%.1f,\"algbw_GBs\":%.3f,\"busbw_GBs\":%.3f,\"ok\":%s}\n",
             np, bytes, slowest * 1e6, algbw, algbw * 2.0 * (np - 1) / np, ok ? "true" : "false");
      fflush(stdout);
    }
  }
  free(in);
  free(out);
  MPI_Finalize();
  return 0;
}
