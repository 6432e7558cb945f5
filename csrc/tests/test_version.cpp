#include "kboost/version.h"

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  const std::string info = kboost::build_info();
  std::printf("%s\n", info.c_str());
  if (std::strcmp(kboost::version(), KBOOST_VERSION) != 0) return 1;
  if (info.find("eigen") == std::string::npos) return 1;
  return 0;
}
