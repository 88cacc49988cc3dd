// libFuzzer entry point of one target: compiled once per target with
// -DCGEMU_FUZZ_TARGET=<function in targets.h>.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cgemu::fuzz::CGEMU_FUZZ_TARGET(data, size);
}
