// Mount option parsing as the kernel does it for `mount -t cgroup -o TEXT`:
//   fs/fs_context.c vfs_parse_monolithic_sep: split on ',', skip empty
//     elements and elements starting with '=', split key=value at the first '='
//   fs/fs_parser.c fs_parse: type checks ("Unexpected value", "Bad value")
//   kernel/cgroup/cgroup-v1.c cgroup1_parse_param, check_cgroupfs_options
// Error texts are the kernel's, without the "cgroup: " log prefix. They were
// checked against the 6.18 reference kernel through fsopen()/fsconfig().
#include "fs/mount_options.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <utility>

#include "controllers/subsystems.h"
#include "engine/kernel_parse.h"

namespace cgemu {
namespace {

constexpr std::size_t kMaxRootNameLen = 64;  // MAX_CGROUP_ROOT_NAMELEN, incl. NUL
constexpr std::size_t kPathMax = 4096;       // PATH_MAX, incl. NUL

// Options that belong to the FUSE mount rather than to cgroupfs. With a real
// cgroup mount, mount(8) or the VFS consumes the generic flags before the
// filesystem sees them; here they go to libfuse unchanged.
constexpr std::string_view kFuseFlags[] = {
    "allow_other", "allow_root", "default_permissions", "auto_unmount",
    "ro",          "rw",         "nosuid",              "suid",
    "nodev",       "dev",        "noexec",              "exec",
    "atime",       "noatime",    "sync",                "async",
    "dirsync",
};
// Generic flags that mount(8) accepts but libfuse refuses; relatime is the
// default anyway, so they are accepted and dropped.
constexpr std::string_view kDroppedFlags[] = {"relatime"};
constexpr std::string_view kFuseKeysWithValue[] = {"fsname", "subtype", "max_read"};

bool is_fuse_option(std::string_view key, bool has_value) {
  if (has_value) return std::ranges::find(kFuseKeysWithValue, key) != std::end(kFuseKeysWithValue);
  return std::ranges::find(kFuseFlags, key) != std::end(kFuseFlags);
}

// One "key[=value]" element, as fs_parameter: a key without '=' is a flag
// (no value); "key=" has an empty value.
struct Param {
  std::string_view key;
  std::optional<std::string_view> value;
};

// The cgroup1_fs_parameters table entries that are flags.
enum class Flag { kAll, kCloneChildren, kCpusetV2Mode, kNone, kNoprefix, kXattr, kFavordynmods, kNofavordynmods };

std::optional<Flag> flag_named(std::string_view key) {
  static constexpr std::pair<std::string_view, Flag> kFlags[] = {
      {"all", Flag::kAll},
      {"clone_children", Flag::kCloneChildren},
      {"cpuset_v2_mode", Flag::kCpusetV2Mode},
      {"none", Flag::kNone},
      {"noprefix", Flag::kNoprefix},
      {"xattr", Flag::kXattr},
      {"favordynmods", Flag::kFavordynmods},
      {"nofavordynmods", Flag::kNofavordynmods},
  };
  for (const auto& [name, flag] : kFlags)
    if (name == key) return flag;
  return std::nullopt;
}

void apply_flag(Flag flag, MountOptions& options) {
  switch (flag) {
    case Flag::kAll: options.all = true; break;
    case Flag::kCloneChildren: options.clone_children = true; break;
    case Flag::kCpusetV2Mode: options.cpuset_v2_mode = true; break;
    case Flag::kNone: options.none = true; break;
    case Flag::kNoprefix: options.noprefix = true; break;
    case Flag::kXattr: options.xattr = true; break;
    case Flag::kFavordynmods: options.favordynmods = true; break;
    case Flag::kNofavordynmods: options.favordynmods = false; break;
  }
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Opt_name: [\w.-]+ with the kernel's (Latin-1) isalnum, at most 63 bytes.
// The empty value never gets here: fs_parse rejects it as "Bad value".
std::string check_root_name(std::string_view name, const MountOptions& options) {
  if (name.size() > kMaxRootNameLen - 1) return "Name too long";
  const bool valid = std::ranges::all_of(
      name, [](char c) { return kernel_isalnum(c) || c == '.' || c == '-' || c == '_'; });
  if (!valid) return "Invalid name";
  if (!options.name.empty()) return "name respecified";
  return {};
}

// cgroup1_parse_param for one element; returns the error text or "".
std::string apply_param(const Param& param, MountOptions& options) {
  if (const auto flag = flag_named(param.key)) {
    if (param.value) return "Unexpected value for " + quoted(param.key);
    apply_flag(*flag, options);
    return {};
  }
  const bool is_name = param.key == "name";
  if (is_name || param.key == "release_agent") {
    // fsparam_string: a missing or empty value is rejected by fs_parse.
    if (!param.value || param.value->empty()) return "Bad value for " + quoted(param.key);
    if (is_name) {
      if (std::string error = check_root_name(*param.value, options); !error.empty()) return error;
      options.name = *param.value;
    } else {
      if (options.release_agent) return "release_agent respecified";
      // init_cgroup_root() copies it with strscpy into a PATH_MAX buffer.
      options.release_agent = std::string(param.value->substr(0, kPathMax - 1));
    }
    return {};
  }
  // Not a cgroup1 parameter (-ENOPARAM): vfs_parse_fs_param_source, then the
  // controller names. mount(8) always passes a source (the device argument)
  // before the options, so an explicit source= is always a second one.
  if (param.key == "source") return param.value ? "Multiple sources" : "Non-string source";
  // A value after a controller name is ignored ("cpu=x" binds cpu).
  for (const Subsystem& subsystem : all_subsystems()) {
    if (subsystem.legacy_name != param.key) continue;
    if (!subsystem.enabled) return "Disabled controller " + quoted(param.key);
    options.subsys_mask |= 1u << subsystem.ssid;
    return {};
  }
  return "Unknown subsys name " + quoted(param.key);
}

// check_cgroupfs_options: the combination rules, applied once all elements
// are parsed. Sets `all` when it is implied, as the kernel sets ctx->all_ss.
std::string check_combination(MountOptions& options) {
  const uint32_t enabled = enabled_subsystem_mask();
  // Controllers that noprefix may not be combined with: all but cpuset.
  uint32_t needs_prefix = ~0u;
  if (const auto cpuset = subsystem_id("cpuset")) needs_prefix &= ~(1u << *cpuset);

  options.subsys_mask &= enabled;
  if (options.subsys_mask == 0 && !options.none && options.name.empty()) options.all = true;
  if (options.all) {
    if (options.subsys_mask != 0) return "subsys name conflicts with all";
    options.subsys_mask = enabled;
  }
  if (options.subsys_mask == 0 && options.name.empty()) return "Need name or subsystem set";
  if (options.noprefix && (options.subsys_mask & needs_prefix) != 0) return "noprefix used incorrectly";
  if (options.subsys_mask != 0 && options.none) return "none used incorrectly";
  return {};
}

// seq_escape() with ESCAPE_OCTAL: each byte of `special` becomes \ooo.
std::string seq_escape(std::string_view text, std::string_view special) {
  std::string escaped;
  for (const char c : text) {
    if (special.find(c) == std::string_view::npos) {
      escaped += c;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    escaped += '\\';
    escaped += static_cast<char>('0' + ((byte >> 6) & 7));
    escaped += static_cast<char>('0' + ((byte >> 3) & 7));
    escaped += static_cast<char>('0' + (byte & 7));
  }
  return escaped;
}

// seq_show_option(): ",name[=value]" with the name and value escaped.
void show_option(std::string& out, std::string_view name, std::optional<std::string_view> value = {}) {
  out += ',';
  out += seq_escape(name, std::string_view(",= \t\n\\"));
  if (value) {
    out += '=';
    out += seq_escape(*value, std::string_view(", \t\n\\"));
  }
}

}  // namespace

MountOptionsResult parse_mount_options(std::string_view text) {
  MountOptions options;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view element = text.substr(0, comma);
    if (!element.empty() && element.front() != '=') {  // both skipped by the VFS
      Param param{element, std::nullopt};
      if (const std::size_t eq = element.find('='); eq != std::string_view::npos) {
        param.key = element.substr(0, eq);
        param.value = element.substr(eq + 1);
      }
      if (!param.value && std::ranges::find(kDroppedFlags, param.key) != std::end(kDroppedFlags)) {
        // nothing to pass on
      } else if (is_fuse_option(param.key, param.value.has_value())) {
        options.fuse_options.emplace_back(element);
      } else if (const size_t dot = param.key.find('.');
                 dot != std::string_view::npos && subsystem_id(param.key.substr(0, dot))) {
        options.controller_options.emplace_back(element);
      } else if (std::string error = apply_param(param, options); !error.empty()) {
        return {std::nullopt, std::move(error)};
      }
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (std::string error = check_combination(options); !error.empty()) return {std::nullopt, std::move(error)};
  return {std::move(options), {}};
}

std::string show_mount_options(const MountOptions& options, std::string_view release_agent) {
  // cgroup1_show_options, after the VFS's "rw".
  std::string out = "rw";
  for (const Subsystem& subsystem : all_subsystems())
    if (options.subsys_mask & (1u << subsystem.ssid)) show_option(out, subsystem.legacy_name);
  if (options.noprefix) out += ",noprefix";
  if (options.xattr) out += ",xattr";
  if (options.cpuset_v2_mode) out += ",cpuset_v2_mode";
  if (options.favordynmods) out += ",favordynmods";
  // The live agent, which release_agent writes change, not the mount option.
  if (!release_agent.empty()) show_option(out, "release_agent", release_agent);
  if (options.clone_children) out += ",clone_children";
  if (!options.name.empty()) show_option(out, "name", std::string_view(options.name));
  return out;
}

}  // namespace cgemu
