# Finds Eigen3 without vendoring it: a system install (Debian libeigen3-dev), or the PyPI wheel
# cmeel-eigen, whose headers live under <site-packages>/cmeel.prefix. scikit-build-core installs
# cmeel-eigen into the isolated build environment; for plain CMake builds `pip install cmeel-eigen`.
find_package(Python COMPONENTS Interpreter QUIET)
if(Python_Interpreter_FOUND)
  execute_process(
    COMMAND ${Python_EXECUTABLE} -c
      "import os, sys; print(';'.join(p2 for p2 in (os.path.join(p, 'cmeel.prefix') for p in sys.path if p) if os.path.isdir(p2)))"
    OUTPUT_VARIABLE _kboost_cmeel_prefixes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  foreach(_p IN LISTS _kboost_cmeel_prefixes)
    list(APPEND CMAKE_PREFIX_PATH ${_p})
  endforeach()
endif()
# Headers are architecture independent: let a cross build find them outside the sysroot.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
find_package(Eigen3 3.3 CONFIG REQUIRED)
message(STATUS "kboost: Eigen ${Eigen3_VERSION} from ${Eigen3_DIR}")
