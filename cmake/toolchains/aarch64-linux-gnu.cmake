# Cross build for 64-bit ARM Linux with Debian's cross compiler; the tests run under qemu-user.
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build/aarch64 && ctest --test-dir build/aarch64     (ctest prefixes the emulator)
# scripts/ctest_all.sh does all of this.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(KBOOST_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${KBOOST_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${KBOOST_CROSS_TRIPLE}-g++)
set(KBOOST_CROSS_SYSROOT /usr/${KBOOST_CROSS_TRIPLE})

# Libraries and headers from the target's sysroot; programs (python, for Eigen) from the host.
# Packages: KboostEigen.cmake allows the host's (architecture-independent) Eigen headers.
set(CMAKE_FIND_ROOT_PATH ${KBOOST_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# ctest runs every test executable through qemu, with the target's dynamic loader and libraries.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${KBOOST_CROSS_SYSROOT}")

# No fused multiply-add contraction: results stay comparable with the x86 build and the reference.
set(CMAKE_C_FLAGS_INIT "-ffp-contract=off")
set(CMAKE_CXX_FLAGS_INIT "-ffp-contract=off")
