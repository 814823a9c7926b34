// Algorithm `nccl`: no schedule of dtrain's. On device buffers (dtrain.cuda.alloc) the nccl
// backend (engine/nccl_backend.cc) runs NCCL's own collective for the data phase, after
// dtrain's descriptor exchange; it is what `auto` means there. dtrain's schedules run on device
// buffers too, over ncclSend/ncclRecv, when a call names one.
#include "sched/algorithm.h"

namespace dtrain {

namespace {

constexpr CollectiveSupport kByNccl{nullptr, false, "nccl"};

}  // namespace

extern const AlgorithmDef kNcclAlgorithm = {
    "nccl",
    "NCCL's collectives (ncclAllReduce, ncclAllGather, ncclReduceScatter) on device buffers",
    /*allreduce=*/kByNccl,
    /*reduceScatter=*/kByNccl,
    /*allgather=*/kByNccl,
    // Broadcast takes no algorithm in the API: on device buffers it is ncclBroadcast.
    /*broadcast=*/{},
    /*takesInner=*/false,
    /*autoCandidate=*/false,
};

}  // namespace dtrain
