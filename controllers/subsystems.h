// The v1 controllers the emulator knows, in the kernel's subsystem-id order
// (include/linux/cgroup_subsys.h). The order matters: it is the order of
// can_attach/attach callbacks, of /proc/<pid>/cgroup controller lists and of
// /proc/cgroups rows.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

struct Subsystem {
  int ssid;
  std::string_view legacy_name;
  // False for controllers the kernel has but the emulator does not offer:
  // mounting them fails as for a controller disabled on the kernel command line.
  bool enabled;
  // Builds the controller's callbacks and files; nullptr while a controller
  // has no emulated files yet (its hierarchy then shows the core files only).
  // `settings` are its emulator settings ("key" or "key=value", from mount
  // options "<controller>.key=value"); an unknown or bad one throws
  // std::invalid_argument with a message for the user.
  std::unique_ptr<Controller> (*make)(const std::vector<std::string>& settings);
};

std::span<const Subsystem> all_subsystems();
std::optional<int> subsystem_id(std::string_view legacy_name);
uint32_t enabled_subsystem_mask();
// A hierarchy as /proc/<pid>/cgroup names it: its controllers' legacy names
// in ssid order, then ",name=NAME" (or "name=NAME" alone).
std::string proc_cgroup_controllers(uint32_t subsys_mask, std::string_view name);

}  // namespace cgemu
