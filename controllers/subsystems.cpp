#include "controllers/subsystems.h"

#include "controllers/cpu.h"
#include "controllers/cpuacct.h"
#include "controllers/cpuset.h"
#include "controllers/devices.h"
#include "controllers/freezer.h"
#include "controllers/memory.h"
#include "controllers/pids.h"

namespace cgemu {
namespace {

constexpr Subsystem kSubsystems[] = {
    {0, "cpuset", true, make_cpuset},
    {1, "cpu", true, make_cpu},
    {2, "cpuacct", true, make_cpuacct},
    {3, "blkio", true, nullptr},
    {4, "memory", true, make_memory},
    {5, "devices", true, make_devices},
    {6, "freezer", true, make_freezer},
    {7, "net_cls", false, nullptr},
    {8, "perf_event", false, nullptr},
    {9, "net_prio", false, nullptr},
    {10, "hugetlb", false, nullptr},
    {11, "pids", true, make_pids},
    {12, "rdma", false, nullptr},
    {13, "misc", false, nullptr},
};

}  // namespace

std::span<const Subsystem> all_subsystems() { return kSubsystems; }

std::optional<int> subsystem_id(std::string_view legacy_name) {
  for (const auto& ss : kSubsystems)
    if (ss.legacy_name == legacy_name) return ss.ssid;
  return std::nullopt;
}

uint32_t enabled_subsystem_mask() {
  uint32_t mask = 0;
  for (const auto& ss : kSubsystems)
    if (ss.enabled) mask |= 1u << ss.ssid;
  return mask;
}

std::string proc_cgroup_controllers(uint32_t subsys_mask, std::string_view name) {
  std::string out;
  for (const auto& ss : kSubsystems) {
    if (!(subsys_mask & (1u << ss.ssid))) continue;
    if (!out.empty()) out += ',';
    out += ss.legacy_name;
  }
  if (!name.empty()) {
    if (!out.empty()) out += ',';
    out += "name=";
    out += name;
  }
  return out;
}

}  // namespace cgemu
