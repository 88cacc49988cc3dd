// The devices controller (security/device_cgroup.c): per-cgroup default
// behaviour (allow or deny) and an ordered list of exceptions, with the
// kernel's parent/child rules. The whitelist is kept and shown exactly as
// the kernel keeps it; it is not enforced (a FUSE daemon cannot refuse an
// open of /dev/*; see README, "Differences from the kernel").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

class Cgroup;

struct DevException {
  static constexpr short kBlock = 1;  // DEVCG_DEV_BLOCK
  static constexpr short kChar = 2;   // DEVCG_DEV_CHAR
  static constexpr short kAll = 4;    // DEVCG_DEV_ALL
  static constexpr short kMknod = 1;  // DEVCG_ACC_MKNOD
  static constexpr short kRead = 2;   // DEVCG_ACC_READ
  static constexpr short kWrite = 4;  // DEVCG_ACC_WRITE
  static constexpr uint32_t kAny = ~0u;  // "*"

  uint32_t major = 0;
  uint32_t minor = 0;
  short type = 0;
  short access = 0;
};

enum class DevBehavior { kNone, kAllow, kDeny };  // kNone: offline

class DevCgroup : public Css {
 public:
  std::vector<DevException> exceptions;  // in insertion order
  DevBehavior behavior = DevBehavior::kNone;
};

class DevicesController : public Controller {
 public:
  static constexpr int kAllowFile = 1;  // DEVCG_ALLOW
  static constexpr int kDenyFile = 2;   // DEVCG_DENY

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  void css_offline(Css& css) override;
  std::span<const ControlFile> legacy_files() const override;

  // devcgroup_update_access on an already stripped buffer: 0 or -errno.
  static int update_access(DevCgroup& devcg, int filetype, std::string_view buffer, bool sys_admin);
  // devcgroup_seq_show.
  static std::string list(const DevCgroup& devcg);
};

// Subsystem::make. The devices controller has no settings.
std::unique_ptr<Controller> make_devices(const std::vector<std::string>& settings);

}  // namespace cgemu
