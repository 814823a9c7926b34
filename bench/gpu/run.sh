#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and the CUDA toolkit: builds the CUDA kernels, runs the test
# binary that checks every CUDA kernel against the CPU reference, then the GPU benchmark (JSON
# lines: GB/s against the device's own copy bandwidth), then the NCCL test through dtrain's
# run-time loader (a communicator of one and two more on the same device, every collective
# checked, ncclAllReduce's time by size), then the engine on device buffers (test_gpu_engine:
# libdtrain_cuda.so through the addon's loader against the CPU reducer, and a communicator of
# one running every device collective through the nccl backend). NCCL is found on
# LD_LIBRARY_PATH, else in the Python wheels (nvidia-nccl-cu*, which PyTorch installs).
#   bench/gpu/run.sh [bytes]        (default 268435456)
# NVCC selects the compiler (default: nvcc on PATH); BUILD the build folder (cmake-build-cuda).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${BUILD:-cmake-build-cuda}"
nvcc_bin="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDTRAIN_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_bin" >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_cuda_kernels bench_cuda_kernels test_nccl test_gpu_engine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$build/test_cuda_kernels"
"$build/bench_cuda_kernels" "${1:-268435456}"
nccl_dir="$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null || true)"
LD_LIBRARY_PATH="${nccl_dir:+$nccl_dir:}${LD_LIBRARY_PATH:-}" "$build/test_nccl"
LD_LIBRARY_PATH="${nccl_dir:+$nccl_dir:}${LD_LIBRARY_PATH:-}" "$build/test_gpu_engine"
