// fs/mount_options.h: parse_mount_options on any text.
//   - never crashes; a refusal carries the kernel's message;
//   - an accepted set obeys check_cgroupfs_options: controllers are enabled
//     ones, a name or a controller is there, none binds nothing, noprefix
//     goes with cpuset alone, a name is [\w.-]{1,63} (kernel isalnum);
//   - show_mount_options (mountinfo's super options) parses back to the same
//     hierarchy when the release agent needs no escaping, and its text never
//     holds a raw separator inside a value.
#include <string>

#include "controllers/subsystems.h"
#include "engine/kernel_parse.h"
#include "fs/mount_options.h"
#include "targets.h"

namespace cgemu::fuzz {

int MountOptions(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string what = "options '" + std::string(text) + "'";
  const MountOptionsResult parsed = parse_mount_options(text);
  if (!parsed.options) {
    FUZZ_CHECK(!parsed.error.empty(), "refused without a message; " + what);
    return 0;
  }
  FUZZ_CHECK(parsed.error.empty(), "accepted with a message; " + what);
  const cgemu::MountOptions& o = *parsed.options;

  const uint32_t enabled = enabled_subsystem_mask();
  FUZZ_CHECK((o.subsys_mask & ~enabled) == 0, "a disabled controller is bound; " + what);
  FUZZ_CHECK(o.subsys_mask != 0 || !o.name.empty(), "neither controller nor name; " + what);
  FUZZ_CHECK(!(o.none && o.subsys_mask != 0), "none with controllers; " + what);
  if (o.all) FUZZ_CHECK(o.subsys_mask == enabled, "all without every controller; " + what);
  if (o.noprefix) {
    const auto cpuset = subsystem_id("cpuset");
    FUZZ_CHECK(cpuset && (o.subsys_mask & ~(1u << *cpuset)) == 0, "noprefix beside other controllers; " + what);
  }
  FUZZ_CHECK(o.name.size() <= 63, "name longer than 63; " + what);
  for (char c : o.name)
    FUZZ_CHECK(kernel_isalnum(c) || c == '.' || c == '-' || c == '_', "bad character in name; " + what);
  if (o.release_agent) {
    FUZZ_CHECK(!o.release_agent->empty() && o.release_agent->size() <= 4095, "release_agent length; " + what);
    FUZZ_CHECK(o.release_agent->find(',') == std::string::npos, "release_agent holds a separator; " + what);
  }
  for (const std::string& f : o.fuse_options)
    FUZZ_CHECK(!f.empty() && f.find(',') == std::string::npos, "FUSE option '" + f + "'; " + what);

  const std::string agent = o.release_agent.value_or("");
  const std::string shown = show_mount_options(o, agent);
  FUZZ_CHECK(shown.rfind("rw", 0) == 0, "shown options do not start with rw: '" + shown + "'; " + what);
  for (char c : shown) FUZZ_CHECK(c != ' ' && c != '\t' && c != '\n', "unescaped blank in '" + shown + "'; " + what);

  // Values with characters seq_escape changes do not read back as such (nor
  // do they on the kernel); the rest must.
  if (agent.find_first_of(" \t\n\\") != std::string::npos) return 0;
  const MountOptionsResult again = parse_mount_options(shown);
  FUZZ_CHECK(again.options.has_value(), "shown options '" + shown + "' refused: " + again.error + "; " + what);
  const cgemu::MountOptions& p = *again.options;
  const std::string diff = "shown '" + shown + "'; " + what;
  FUZZ_CHECK(p.subsys_mask == o.subsys_mask, "controllers differ after show; " + diff);
  FUZZ_CHECK(p.name == o.name, "name differs after show; " + diff);
  FUZZ_CHECK(p.noprefix == o.noprefix, "noprefix differs after show; " + diff);
  FUZZ_CHECK(p.clone_children == o.clone_children, "clone_children differs after show; " + diff);
  FUZZ_CHECK(p.xattr == o.xattr, "xattr differs after show; " + diff);
  FUZZ_CHECK(p.cpuset_v2_mode == o.cpuset_v2_mode, "cpuset_v2_mode differs after show; " + diff);
  FUZZ_CHECK(p.favordynmods == o.favordynmods, "favordynmods differs after show; " + diff);
  FUZZ_CHECK(p.release_agent.value_or("") == agent, "release_agent differs after show; " + diff);
  FUZZ_CHECK(show_mount_options(p, agent) == shown, "show is not stable; " + diff);
  return 0;
}

}  // namespace cgemu::fuzz
