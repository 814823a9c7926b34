# The CUDA kernels (sm_90 code and compute_90 PTX, so newer GPUs JIT it), the test binary that
# checks each against the CPU reference, and the GPU benchmark. Included by CMakeLists.txt when
# -DDTRAIN_CUDA=ON; bench/gpu/run.sh builds and runs both.
enable_language(CUDA)
set(DTRAIN_CUDA_ARCHITECTURES "90-real;90-virtual" CACHE STRING
    "CUDA architectures of the kernels (default: sm_90 code and compute_90 PTX)")
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

add_library(dtrain_cuda STATIC ${CMAKE_CURRENT_SOURCE_DIR}/native/kernels/cuda/cuda_kernels.cu)
target_include_directories(dtrain_cuda PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/native)
# No fused multiply-adds anywhere: element results must equal the scalar reference's.
target_compile_options(dtrain_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-fmad=false -O3>)
target_link_libraries(dtrain_cuda PUBLIC dtrain_core cudart)
set_target_properties(dtrain_cuda PROPERTIES CUDA_ARCHITECTURES "${DTRAIN_CUDA_ARCHITECTURES}")

add_executable(test_cuda_kernels native/test/test_cuda_kernels.cu)
target_compile_definitions(test_cuda_kernels PRIVATE
  DTRAIN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/native/test/data")
target_link_libraries(test_cuda_kernels PRIVATE dtrain_cuda)
set_target_properties(test_cuda_kernels PROPERTIES CUDA_ARCHITECTURES "${DTRAIN_CUDA_ARCHITECTURES}")
add_test(NAME test_cuda_kernels COMMAND test_cuda_kernels)
set_tests_properties(test_cuda_kernels PROPERTIES SKIP_RETURN_CODE 77)

add_executable(bench_cuda_kernels native/bench/bench_cuda_kernels.cu)
target_link_libraries(bench_cuda_kernels PRIVATE dtrain_cuda)
set_target_properties(bench_cuda_kernels PROPERTIES CUDA_ARCHITECTURES "${DTRAIN_CUDA_ARCHITECTURES}")
