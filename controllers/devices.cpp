#include "controllers/devices.h"

#include <cerrno>
#include <stdexcept>

#include "controllers/subsystems.h"
#include "engine/cgroup.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"

namespace cgemu {
namespace {

using Ex = DevException;

DevCgroup* parent_of(const DevCgroup& devcg) { return static_cast<DevCgroup*>(devcg.parent); }

// dev_exception_add: ORs the access into every entry with the same type,
// major and minor; appends a new entry if there is none.
void exception_add(DevCgroup& devcg, const Ex& ex) {
  bool merged = false;
  for (Ex& walk : devcg.exceptions) {
    if (walk.type != ex.type || walk.major != ex.major || walk.minor != ex.minor) continue;
    walk.access |= ex.access;
    merged = true;
  }
  if (!merged) devcg.exceptions.push_back(ex);
}

// dev_exception_rm: clears the access bits in entries with the same type,
// major and minor, and drops entries left with none.
void exception_rm(DevCgroup& devcg, const Ex& ex) {
  auto& list = devcg.exceptions;
  for (auto it = list.begin(); it != list.end();) {
    if (it->type == ex.type && it->major == ex.major && it->minor == ex.minor) {
      it->access &= ~ex.access;
      if (!it->access) {
        it = list.erase(it);
        continue;
      }
    }
    ++it;
  }
}

// match_exception: an exception contains the whole range and access.
bool match_exception(const std::vector<Ex>& exceptions, short type, uint32_t major, uint32_t minor, short access) {
  for (const Ex& ex : exceptions) {
    if ((type & Ex::kBlock) && !(ex.type & Ex::kBlock)) continue;
    if ((type & Ex::kChar) && !(ex.type & Ex::kChar)) continue;
    if (ex.major != Ex::kAny && ex.major != major) continue;
    if (ex.minor != Ex::kAny && ex.minor != minor) continue;
    if (access & ~ex.access) continue;
    return true;
  }
  return false;
}

// match_exception_partial: an exception overlaps the range and the access.
bool match_exception_partial(const std::vector<Ex>& exceptions, short type, uint32_t major, uint32_t minor,
                             short access) {
  for (const Ex& ex : exceptions) {
    if ((type & Ex::kBlock) && !(ex.type & Ex::kBlock)) continue;
    if ((type & Ex::kChar) && !(ex.type & Ex::kChar)) continue;
    if (ex.major != Ex::kAny && major != Ex::kAny && ex.major != major) continue;
    if (ex.minor != Ex::kAny && minor != Ex::kAny && ex.minor != minor) continue;
    if (!(access & ex.access)) continue;
    return true;
  }
  return false;
}

// verify_new_ex: whether a child with `behavior` may hold refex given the
// parent devcg.
bool verify_new_ex(const DevCgroup& devcg, const Ex& refex, DevBehavior behavior) {
  if (devcg.behavior == DevBehavior::kAllow) {
    // In a default-allow child a new exception only restricts; in a
    // default-deny one it grants, so it must not touch any of the parent's
    // (deny) exceptions, even partially.
    if (behavior == DevBehavior::kAllow) return true;
    return !match_exception_partial(devcg.exceptions, refex.type, refex.major, refex.minor, refex.access);
  }
  // A default-deny parent must contain the grant completely.
  return match_exception(devcg.exceptions, refex.type, refex.major, refex.minor, refex.access);
}

bool parent_has_perm(const DevCgroup& child, const Ex& ex) {
  const DevCgroup* parent = parent_of(child);
  if (!parent) return true;
  return verify_new_ex(*parent, ex, child.behavior);
}

// parent_allows_removal: removing a deny exception of a default-allow child
// must not grant what the parent denies.
bool parent_allows_removal(const DevCgroup& child, const Ex& ex) {
  const DevCgroup* parent = parent_of(child);
  if (!parent) return true;
  if (child.behavior == DevBehavior::kDeny) return true;
  return !match_exception_partial(parent->exceptions, ex.type, ex.major, ex.minor, ex.access);
}

bool may_allow_all(const DevCgroup* parent) { return !parent || parent->behavior == DevBehavior::kAllow; }

// revalidate_active_exceptions: drops the exceptions the parent no longer allows.
void revalidate_active_exceptions(DevCgroup& devcg) {
  auto& list = devcg.exceptions;
  for (size_t i = 0; i < list.size();) {
    if (parent_has_perm(devcg, list[i])) {
      ++i;
      continue;
    }
    const Ex ex = list[i];
    const size_t before = list.size();
    exception_rm(devcg, ex);
    if (list.size() == before) ++i;  // cannot happen: ex matches itself
  }
}

DevCgroup* devcg_of(Cgroup& cgroup, int ssid) { return static_cast<DevCgroup*>(cgroup.css(ssid)); }

// propagate_exception: a new restriction reaches every online descendant,
// in pre-order (each after its parent).
void propagate_exception(DevCgroup& root, const Ex& ex, int ssid) {
  std::vector<Cgroup*> stack;
  for (auto it = root.cgroup->children().rbegin(); it != root.cgroup->children().rend(); ++it)
    stack.push_back(it->second.get());
  while (!stack.empty()) {
    Cgroup* pos = stack.back();
    stack.pop_back();
    for (auto it = pos->children().rbegin(); it != pos->children().rend(); ++it) stack.push_back(it->second.get());
    DevCgroup* devcg = devcg_of(*pos, ssid);
    if (!devcg || devcg->behavior == DevBehavior::kNone) continue;
    if (root.behavior == DevBehavior::kAllow && devcg->behavior == DevBehavior::kAllow)
      exception_add(*devcg, ex);
    else
      exception_rm(*devcg, ex);
    revalidate_active_exceptions(*devcg);
  }
}

// Reads a major or minor number: "*" or up to 11 decimal digits (kstrtou32).
// Advances *p past it; false for EINVAL.
bool parse_majmin(std::string_view s, size_t* p, uint32_t* out) {
  auto digit = [&](size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
  if (*p < s.size() && s[*p] == '*') {
    *out = Ex::kAny;
    ++*p;
    return true;
  }
  if (!digit(*p)) return false;
  std::string temp;
  for (int count = 0; count < 11; ++count) {
    temp.push_back(s[*p]);
    ++*p;
    if (!digit(*p)) break;
  }
  unsigned long long value;
  if (kstrtoull(temp, 10, &value) || value > 0xffffffffULL) return false;
  *out = static_cast<uint32_t>(value);
  return true;
}

char type_to_char(short type) {
  if (type == Ex::kAll) return 'a';
  if (type == Ex::kChar) return 'c';
  if (type == Ex::kBlock) return 'b';
  return 'X';
}

std::string majmin(uint32_t m) { return m == Ex::kAny ? "*" : std::to_string(m); }

std::string access_string(short access) {
  std::string acc;
  if (access & Ex::kRead) acc += 'r';
  if (access & Ex::kWrite) acc += 'w';
  if (access & Ex::kMknod) acc += 'm';
  return acc;
}

const int kSsid = *subsystem_id("devices");

int write_rule(const FileCall& call, std::string_view input, int filetype) {
  DevCgroup* devcg = devcg_of(call.cgroup, kSsid);
  if (!devcg) return -EINVAL;
  return DevicesController::update_access(*devcg, filetype, strstrip(input), call.opener.sys_admin);
}

constexpr ControlFile kFiles[] = {
    {
        .name = "allow",
        .flags = kCftCapturesAdmin,
        .write = [](const FileCall& c, std::string_view in) { return write_rule(c, in, DevicesController::kAllowFile); },
    },
    {
        .name = "deny",
        .flags = kCftCapturesAdmin,
        .write = [](const FileCall& c, std::string_view in) { return write_rule(c, in, DevicesController::kDenyFile); },
    },
    {
        .name = "list",
        .read =
            [](const FileCall& c, std::string& out) {
              DevCgroup* devcg = devcg_of(c.cgroup, kSsid);
              if (!devcg) return -EINVAL;
              out = DevicesController::list(*devcg);
              return 0;
            },
        // The list hides a default-allow cgroup's deny exceptions: the
        // behaviour is saved as a first line, the exceptions after it.
        .save =
            [](const FileCall& c, std::string& out) {
              DevCgroup* devcg = devcg_of(c.cgroup, kSsid);
              if (!devcg) return -EINVAL;
              DevCgroup shown = *devcg;
              shown.behavior = DevBehavior::kDeny;
              out = (devcg->behavior == DevBehavior::kAllow ? "allow\n" : "deny\n") + DevicesController::list(shown);
              return 0;
            },
        .restore =
            [](const FileCall& c, std::string_view saved) {
              const size_t eol = saved.find('\n');
              const std::string_view behavior = saved.substr(0, eol);
              if (behavior != "allow" && behavior != "deny") return -EINVAL;
              const int exception_file = behavior == "allow" ? DevicesController::kDenyFile : DevicesController::kAllowFile;
              const int behavior_file = behavior == "allow" ? DevicesController::kAllowFile : DevicesController::kDenyFile;
              if (int err = write_rule(c, "a", behavior_file)) return err;
              saved.remove_prefix(eol == std::string_view::npos ? saved.size() : eol + 1);
              while (!saved.empty()) {
                const size_t end = saved.find('\n');
                if (int err = write_rule(c, saved.substr(0, end), exception_file)) return err;
                saved.remove_prefix(end == std::string_view::npos ? saved.size() : end + 1);
              }
              return 0;
            },
    },
};

}  // namespace

// devcgroup_css_alloc + devcgroup_online: the root allows everything; a
// child copies its parent's behaviour and exceptions.
std::unique_ptr<Css> DevicesController::css_alloc(Cgroup&, Css* parent_css) {
  auto devcg = std::make_unique<DevCgroup>();
  if (auto* parent = static_cast<DevCgroup*>(parent_css)) {
    devcg->exceptions = parent->exceptions;
    devcg->behavior = parent->behavior;
  } else {
    devcg->behavior = DevBehavior::kAllow;
  }
  return devcg;
}

void DevicesController::css_offline(Css& css) { static_cast<DevCgroup&>(css).behavior = DevBehavior::kNone; }

std::span<const ControlFile> DevicesController::legacy_files() const { return kFiles; }

int DevicesController::update_access(DevCgroup& devcg, int filetype, std::string_view b, bool sys_admin) {
  if (!sys_admin) return -EPERM;
  DevCgroup* parent = parent_of(devcg);
  const bool has_online_children = devcg.cgroup && !devcg.cgroup->children().empty();
  Ex ex;
  const char first = b.empty() ? '\0' : b[0];
  switch (first) {
    case 'a':
      // Everything after the 'a' is ignored.
      if (filetype == kAllowFile) {
        if (has_online_children) return -EINVAL;
        if (!may_allow_all(parent)) return -EPERM;
        devcg.exceptions.clear();
        if (parent) devcg.exceptions = parent->exceptions;
        devcg.behavior = DevBehavior::kAllow;
      } else {
        if (has_online_children) return -EINVAL;
        devcg.exceptions.clear();
        devcg.behavior = DevBehavior::kDeny;
      }
      return 0;
    case 'b':
      ex.type = Ex::kBlock;
      break;
    case 'c':
      ex.type = Ex::kChar;
      break;
    default:
      return -EINVAL;
  }
  size_t p = 1;
  auto at = [&](size_t i) { return i < b.size() ? b[i] : '\0'; };
  if (!kernel_isspace(at(p))) return -EINVAL;
  ++p;
  if (!parse_majmin(b, &p, &ex.major)) return -EINVAL;
  if (at(p) != ':') return -EINVAL;
  ++p;
  if (!parse_majmin(b, &p, &ex.minor)) return -EINVAL;
  if (!kernel_isspace(at(p))) return -EINVAL;
  // Up to three access characters; a newline (possible inside the stripped
  // buffer) or the end stops early; anything after the third is ignored.
  ++p;
  for (int count = 0; count < 3; ++count, ++p) {
    const char c = at(p);
    if (c == 'r') {
      ex.access |= Ex::kRead;
    } else if (c == 'w') {
      ex.access |= Ex::kWrite;
    } else if (c == 'm') {
      ex.access |= Ex::kMknod;
    } else if (c == '\n' || c == '\0') {
      break;
    } else {
      return -EINVAL;
    }
  }

  if (filetype == kAllowFile) {
    // In default-allow mode an allow removes a matching deny exception.
    if (devcg.behavior == DevBehavior::kAllow) {
      if (!parent_allows_removal(devcg, ex)) return -EPERM;
      exception_rm(devcg, ex);
      return 0;
    }
    if (!parent_has_perm(devcg, ex)) return -EPERM;
    exception_add(devcg, ex);
    return 0;
  }
  // deny: in default-deny mode it removes a matching grant; either way the
  // new restriction propagates to the descendants.
  if (devcg.behavior == DevBehavior::kDeny)
    exception_rm(devcg, ex);
  else
    exception_add(devcg, ex);
  propagate_exception(devcg, ex, kSsid);
  return 0;
}

std::string DevicesController::list(const DevCgroup& devcg) {
  // Default-allow shows "all devices" only: its deny exceptions are hidden.
  if (devcg.behavior == DevBehavior::kAllow) return "a *:* rwm\n";
  std::string out;
  for (const Ex& ex : devcg.exceptions) {
    out += type_to_char(ex.type);
    out += ' ';
    out += majmin(ex.major) + ":" + majmin(ex.minor) + " " + access_string(ex.access) + "\n";
  }
  return out;
}

std::unique_ptr<Controller> make_devices(const std::vector<std::string>& settings) {
  if (!settings.empty()) throw std::invalid_argument("the devices controller has no setting '" + settings[0] + "'");
  return std::make_unique<DevicesController>();
}

}  // namespace cgemu
