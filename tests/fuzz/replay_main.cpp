// Replays saved fuzz inputs through the fuzz targets, without libFuzzer:
//
//   fuzz_replay TARGET PATH...
//
// Every regular file under each PATH (recursively; dot files skipped) is one
// input. A missing PATH is skipped. Exit 0 if every input ran; a violated
// property or a crash aborts.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "targets.h"

namespace fsys = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fuzz_replay TARGET PATH...\n");
    return 2;
  }
  const cgemu::fuzz::Target* target = nullptr;
  for (const auto& t : cgemu::fuzz::kTargets)
    if (strcmp(t.name, argv[1]) == 0) target = &t;
  if (!target) {
    fprintf(stderr, "fuzz_replay: no target %s\n", argv[1]);
    return 2;
  }
  std::vector<fsys::path> files;
  for (int i = 2; i < argc; ++i) {
    fsys::path p(argv[i]);
    std::error_code ec;
    if (fsys::is_regular_file(p, ec)) {
      files.push_back(p);
    } else if (fsys::is_directory(p, ec)) {
      for (const auto& e : fsys::recursive_directory_iterator(p))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fprintf(stderr, "fuzz_replay: %s %s (%zu bytes)\n", target->name, f.c_str(), bytes.size());
    target->fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  printf("fuzz_replay: %s: %zu inputs, no property violated\n", target->name, files.size());
  return 0;
}
