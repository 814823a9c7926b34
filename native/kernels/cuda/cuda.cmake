# The CUDA kernels (sm_90 code and compute_90 PTX, so newer GPUs JIT it): libdtrain_cuda.so,
# which the addon loads with dlopen where a GPU is present (native/gpu/build.js builds it at
# install), the test binary that checks each kernel against the CPU reference, and the GPU
# benchmark. Included by CMakeLists.txt when -DDTRAIN_CUDA=ON; bench/gpu/run.sh builds and runs
# them.
enable_language(CUDA)
set(DTRAIN_CUDA_ARCHITECTURES "90-real;90-virtual" CACHE STRING
    "CUDA architectures of the kernels (default: sm_90 code and compute_90 PTX)")
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

# The shared library links the CPU core too (the DGC sampling helpers).
set_target_properties(dtrain_core PROPERTIES POSITION_INDEPENDENT_CODE ON)

add_library(dtrain_cuda_objects OBJECT ${CMAKE_CURRENT_SOURCE_DIR}/native/kernels/cuda/cuda_kernels.cu)
target_include_directories(dtrain_cuda_objects PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/native)
# No fused multiply-adds anywhere: element results must equal the scalar reference's.
target_compile_options(dtrain_cuda_objects PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-fmad=false -O3>)
# Hidden, so libdtrain_cuda.so exports its one entry point only (the test binaries link the
# objects statically, where visibility does not matter).
set_target_properties(dtrain_cuda_objects PROPERTIES CUDA_ARCHITECTURES "${DTRAIN_CUDA_ARCHITECTURES}"
                      POSITION_INDEPENDENT_CODE ON CUDA_VISIBILITY_PRESET hidden)

# For the C++ test and benchmark binaries, against the shared CUDA runtime.
add_library(dtrain_cuda STATIC $<TARGET_OBJECTS:dtrain_cuda_objects>)
target_include_directories(dtrain_cuda PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/native)
target_link_libraries(dtrain_cuda PUBLIC dtrain_core cudart)

# libdtrain_cuda.so: the kernels behind kernels_abi.h, with the CUDA runtime linked statically
# so that only the driver is needed where it is loaded.
string(REPLACE ";" " + " DTRAIN_CUDA_ARCH_TEXT "${DTRAIN_CUDA_ARCHITECTURES}")
add_library(dtrain_cuda_shared SHARED $<TARGET_OBJECTS:dtrain_cuda_objects>
            ${CMAKE_CURRENT_SOURCE_DIR}/native/kernels/cuda/kernels_abi.cu)
target_include_directories(dtrain_cuda_shared PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/native)
target_compile_definitions(dtrain_cuda_shared PRIVATE DTRAIN_CUDA_ARCH_TEXT="${DTRAIN_CUDA_ARCH_TEXT}")
target_link_libraries(dtrain_cuda_shared PRIVATE dtrain_core)
# Only dtrain_cuda_kernels is exported: the core's symbols stay inside.
target_link_options(dtrain_cuda_shared PRIVATE -Wl,--exclude-libs,ALL)
set_target_properties(dtrain_cuda_shared PROPERTIES OUTPUT_NAME dtrain_cuda CUDA_RUNTIME_LIBRARY Static
                      CUDA_ARCHITECTURES "${DTRAIN_CUDA_ARCHITECTURES}" CUDA_VISIBILITY_PRESET hidden
                      CXX_VISIBILITY_PRESET hidden)

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

# The engine's device collectives and libdtrain_cuda.so through the addon's loader (plain C++:
# everything CUDA is loaded at run time).
add_executable(test_gpu_engine native/test/test_gpu_engine.cc)
target_link_libraries(test_gpu_engine PRIVATE dtrain_core)
target_compile_definitions(test_gpu_engine PRIVATE DTRAIN_CUDA_LIBRARY="$<TARGET_FILE:dtrain_cuda_shared>")
add_dependencies(test_gpu_engine dtrain_cuda_shared)
add_test(NAME test_gpu_engine COMMAND test_gpu_engine)
set_tests_properties(test_gpu_engine PROPERTIES SKIP_RETURN_CODE 77)
