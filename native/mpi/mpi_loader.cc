#include "mpi/mpi_loader.h"

#include <dlfcn.h>

#include <mutex>

#include "common/error.h"

namespace dtrain {

namespace {

std::mutex mu;
MpiPlugin* loaded = nullptr;

template <typename Fn>
Fn symbol(void* h, const char* name, const std::string& path) {
  void* s = dlsym(h, name);
  if (!s) throw Error(ErrorCode::kBootstrap, path + " lacks " + name + "; rebuild it (npm rebuild dtrain)");
  return reinterpret_cast<Fn>(s);
}

}  // namespace

MpiPlugin& loadMpiPlugin(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return *loaded;
  // RTLD_GLOBAL: Open MPI loads its own components later, and they look for libmpi's symbols
  // in the global scope.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    throw Error(ErrorCode::kBootstrap, std::string("cannot load the MPI plugin: ") + dlerror());
  }
  auto abi = symbol<dtrain_mpi_abi_fn>(h, "dtrain_mpi_abi", path);
  if (abi() != DTRAIN_MPI_ABI) {
    throw Error(ErrorCode::kBootstrap, path + " has plugin ABI " + std::to_string(abi()) + ", this dtrain needs " +
                                           std::to_string(DTRAIN_MPI_ABI) + "; rebuild it (npm rebuild dtrain)");
  }
  auto* p = new MpiPlugin();
  p->init = symbol<dtrain_mpi_init_fn>(h, "dtrain_mpi_init", path);
  p->bcastBytes = symbol<dtrain_mpi_bcast_bytes_fn>(h, "dtrain_mpi_bcast_bytes", path);
  p->allreduce = symbol<dtrain_mpi_allreduce_fn>(h, "dtrain_mpi_allreduce", path);
  p->allgather = symbol<dtrain_mpi_allgather_fn>(h, "dtrain_mpi_allgather", path);
  p->reduceScatter = symbol<dtrain_mpi_reduce_scatter_fn>(h, "dtrain_mpi_reduce_scatter", path);
  p->finalize = symbol<dtrain_mpi_finalize_fn>(h, "dtrain_mpi_finalize", path);
  p->isend = symbol<dtrain_mpi_isend_fn>(h, "dtrain_mpi_isend", path);
  p->irecv = symbol<dtrain_mpi_irecv_fn>(h, "dtrain_mpi_irecv", path);
  p->test = symbol<dtrain_mpi_test_fn>(h, "dtrain_mpi_test", path);
  p->cancel = symbol<dtrain_mpi_cancel_fn>(h, "dtrain_mpi_cancel", path);
  loaded = p;  // never unloaded: MPI cannot be initialized twice in a process
  return *p;
}

MpiPlugin* mpiPlugin() {
  std::lock_guard<std::mutex> lock(mu);
  return loaded;
}

void mpiInit(MpiPlugin& p) {
  if (p.initialized) return;
  char version[256] = {0}, err[512] = {0};
  if (p.init(&p.rank, &p.size, &p.localRank, &p.localSize, version, sizeof version, err, sizeof err) != 0) {
    throw Error(ErrorCode::kBootstrap, err);
  }
  p.version = version;
  p.initialized = true;
}

}  // namespace dtrain
