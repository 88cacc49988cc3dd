// The fuzz targets, as plain functions: libFuzzer drives them through
// fuzz_main.cpp (one executable per target, -DCGEMU_FUZZ=ON with clang), and
// replay_main.cpp runs every saved input through them under ctest.
//
// A target returns 0; a violated property prints what was expected and
// aborts, which libFuzzer reports as a crash and ctest as a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace cgemu::fuzz {

// engine/kernel_parse.h against a reference port of lib/kstrtox.c and strim.
int KernelParse(const uint8_t* data, size_t size);
// fs/mount_options.h: parse_mount_options never crashes, its result obeys
// the kernel's combination rules, and show_mount_options parses back.
int MountOptions(const uint8_t* data, size_t size);
// fs/v1_core_files.h write handlers, driven through an Engine on a fake host
// (tests/unit/fake_task_source.h): never crash, a failed write leaves the
// engine unchanged, a successful one did what it says, and every host task
// is in exactly one cgroup of each hierarchy after every step.
int CoreFiles(const uint8_t* data, size_t size);
// The controllers' control files (controllers/*.cpp), read and written
// through their ControlFile tables on an Engine over a fake host whose pids
// no real task can have (controller_world.h): never crash, reads never fail,
// a failed write changes no file and asks nothing of the host, values parse
// as the kernel's parsers do and read back normalised, and each controller's
// hierarchy rules hold after every step.
int CpusetFiles(const uint8_t* data, size_t size);       // cpuset: CPU and node lists, flags
int CpuFiles(const uint8_t* data, size_t size);          // cpu + cpuacct: the u64/s64 files
int MemoryFiles(const uint8_t* data, size_t size);       // memory: sizes, limits, event_control
int DevicesFiles(const uint8_t* data, size_t size);      // devices: allow/deny rules
int FreezerPidsFiles(const uint8_t* data, size_t size);  // freezer.state, pids.max

// The fuzz input, read front to back; reads past the end give 0.
struct Input {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t next() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::string_view take(size_t len) {
    len = len < n ? len : n;
    std::string_view out(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return out;
  }
};

struct Target {
  const char* name;  // also the directory under corpus/ and regressions/
  int (*fn)(const uint8_t*, size_t);
};
inline constexpr Target kTargets[] = {
    {"kernel_parse", KernelParse},
    {"mount_options", MountOptions},
    {"core_files", CoreFiles},
    {"cpuset_files", CpusetFiles},
    {"cpu_files", CpuFiles},
    {"memory_files", MemoryFiles},
    {"devices_files", DevicesFiles},
    {"freezer_pids_files", FreezerPidsFiles},
};

[[noreturn]] inline void check_failed(const char* file, int line, const char* expr, std::string_view detail) {
  fprintf(stderr, "%s:%d: fuzz property violated: %s\n  %.*s\n", file, line, expr, static_cast<int>(detail.size()),
          detail.data());
  abort();
}

}  // namespace cgemu::fuzz

// FUZZ_CHECK(condition, detail): detail is anything convertible to std::string_view.
#define FUZZ_CHECK(cond, detail) \
  do {                           \
    if (!(cond)) ::cgemu::fuzz::check_failed(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)
