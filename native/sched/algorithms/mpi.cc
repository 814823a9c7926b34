// Algorithm `mpi`: no schedule of dtrain's. The mpi backend (engine/mpi_backend.cc) runs the
// site's MPI collective for the data phase, after dtrain's descriptor exchange.
#include "sched/algorithm.h"

namespace dtrain {

namespace {

constexpr CollectiveSupport kByMpi{nullptr, false, "mpi"};

}  // namespace

extern const AlgorithmDef kMpiAlgorithm = {
    "mpi",
    "the site's MPI (MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter) under mpirun",
    /*allreduce=*/kByMpi,
    /*reduceScatter=*/kByMpi,
    /*allgather=*/kByMpi,
    // Broadcast takes no algorithm in the API (it is always the binomial tree).
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/false,
};

}  // namespace dtrain
