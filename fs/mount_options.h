// The options of `mount -t cgroup -o ...`, parsed and checked with the
// kernel's rules (kernel/cgroup/cgroup-v1.c: cgroup1_parse_param,
// check_cgroupfs_options), plus the FUSE mount options that pass through.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgemu {

struct MountOptions {
  uint32_t subsys_mask = 0;  // bit = ssid (controllers/subsystems.h)
  std::string name;          // name=; empty if none
  bool none = false;
  bool all = false;
  bool noprefix = false;
  bool clone_children = false;
  bool cpuset_v2_mode = false;
  bool xattr = false;
  bool favordynmods = false;
  std::optional<std::string> release_agent;
  // FUSE options given among the cgroup ones (allow_other, default_permissions,
  // fsname=..., ro, ...), in order, to hand to libfuse unchanged.
  std::vector<std::string> fuse_options;
  // Emulator settings of a controller, "<controller>.<key>[=value]" (e.g.
  // memory.oom_kill), in order; the kernel has none of these. Each names
  // a controller; which keys it takes is the controller's business.
  std::vector<std::string> controller_options;
};

struct MountOptionsResult {
  std::optional<MountOptions> options;  // set on success
  std::string error;                    // the kernel's message on failure, e.g.
                                        // "Unknown subsys name 'foo'"
};

// Parses a comma-separated option string (the argument of -o; several -o are
// joined with ',' by the caller). An empty string is valid and means "all".
MountOptionsResult parse_mount_options(std::string_view text);

// The super options as /proc/self/mountinfo shows them for such a mount:
// "rw,<controllers...>[,noprefix][,xattr][,cpuset_v2_mode][,favordynmods]
//  [,release_agent=P][,clone_children][,name=X]".
std::string show_mount_options(const MountOptions& options, std::string_view release_agent);

}  // namespace cgemu
