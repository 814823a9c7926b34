// The core addon's view of the MPI plugin (native/mpi/dtrain_mpi.cc): loaded with dlopen on
// demand under mpirun, so the addon itself never links MPI.
#pragma once

#include <string>

#include "mpi/mpi_plugin.h"

namespace dtrain {

struct MpiPlugin {
  dtrain_mpi_init_fn init = nullptr;
  dtrain_mpi_bcast_bytes_fn bcastBytes = nullptr;
  dtrain_mpi_allreduce_fn allreduce = nullptr;
  dtrain_mpi_allgather_fn allgather = nullptr;
  dtrain_mpi_reduce_scatter_fn reduceScatter = nullptr;
  dtrain_mpi_finalize_fn finalize = nullptr;
  dtrain_mpi_isend_fn isend = nullptr;
  dtrain_mpi_irecv_fn irecv = nullptr;
  dtrain_mpi_test_fn test = nullptr;
  dtrain_mpi_cancel_fn cancel = nullptr;
  // Set by mpiInit(): MPI's view of this process.
  bool initialized = false;
  int rank = 0, size = 1, localRank = 0, localSize = 1;
  std::string version;
};

// Loads the plugin at `path` (once; later calls return the loaded one). Throws Error(kBootstrap)
// saying why it cannot be used (missing, another ABI, libmpi not found).
MpiPlugin& loadMpiPlugin(const std::string& path);
// The loaded plugin, or null when none was loaded.
MpiPlugin* mpiPlugin();
// MPI_Init_thread through the plugin (once). Throws Error(kBootstrap).
void mpiInit(MpiPlugin& p);

}  // namespace dtrain
