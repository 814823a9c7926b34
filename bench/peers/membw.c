// The physical limit for an all-reduce on one host: how fast one core copies memory.
//   membw BYTES [BYTES...]   one JSON line per size: {"bytes":N,"memcpy_GBs":X}
// X counts the bytes read and the bytes written (a copy of N bytes moves 2N), best of several
// runs, so it compares with the traffic an all-reduce must make (docs/performance.md).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: membw BYTES [BYTES...]\n");
    return 2;
  }
  for (int a = 1; a < argc; a++) {
    size_t bytes = (size_t)strtoull(argv[a], NULL, 10);
    if (bytes < 64) bytes = 64;
    unsigned char *src = aligned_alloc(64, (bytes + 63) / 64 * 64);
    unsigned char *dst = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!src || !dst) return 1;
    memset(src, 1, bytes);
    memset(dst, 2, bytes);  // both touched: no first-touch page faults in the timing
    // Enough repetitions for ~20 ms a run, at least 3; the best of 5 runs.
    int reps = (int)(2e8 / (double)bytes);
    if (reps < 3) reps = 3;
    double best = 1e30;
    for (int run = 0; run < 5; run++) {
      double t0 = seconds();
      for (int r = 0; r < reps; r++) {
        memcpy(dst, src, bytes);
        src[r % bytes] ^= dst[(r * 7) % bytes];  // keeps the copies from being elided
      }
      double t = (seconds() - t0) / reps;
      if (t < best) best = t;
    }
    printf("{\"bytes\":%zu,\"memcpy_GBs\":%.2f,\"check\":%d}\n", bytes, 2.0 * (double)bytes / best / 1e9, dst[bytes / 2]);
    free(src);
    free(dst);
  }
  return 0;
}
