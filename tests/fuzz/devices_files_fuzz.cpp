// The devices controller's files (controllers/devices.cpp) on the fake host
// of controller_world.h: devices.allow and devices.deny rules, devices.list.
//
// Header: none. Host changes: none of its own (the devices controller acts
// on no task).
//
// Checks, besides controller_world.h's:
//   - without CAP_SYS_ADMIN every write is EPERM;
//   - a rule parses as devcgroup_update_access does (a reference port of its
//     parser: "a", or "[bc] <major>:<minor> [rwm]{0,3}" with '*' or at most
//     11 digits that kstrtou32 takes, separated by one isspace() character):
//     a rule it refuses is EINVAL; "a" is EINVAL with children, and allow
//     "a" is EPERM under a default-deny parent; a deny rule is never refused,
//     an allow rule at most with EPERM;
//   - what a successful rule did: allow in a default-deny cgroup grants the
//     whole rule, allow in a default-allow one removes those access bits
//     from its exceptions for that device, deny the reverse;
//   - after every step: devices.list shows "a *:* rwm" for default-allow and
//     one well-formed line per exception otherwise; a default-allow cgroup's
//     parent is default-allow; and every exception of a cgroup is one its
//     parent allows (verify_new_ex: a default-deny parent's exceptions
//     contain it, a default-allow parent's deny exceptions do not touch a
//     default-deny child's grant).
#include <cerrno>
#include <string>
#include <vector>

#include "controller_world.h"
#include "controllers/devices.h"
#include "engine/kernel_parse.h"

namespace cgemu::fuzz {
namespace {

using Ex = DevException;

const int kDevices = *subsystem_id("devices");

bool ref_isspace(char c) {
  const unsigned u = static_cast<unsigned char>(c);
  return (u >= 9 && u <= 13) || u == 32 || u == 160;
}
bool ref_isdigit(char c) { return c >= '0' && c <= '9'; }

// devcgroup_update_access's parser on the stripped C string. 'a' for the
// whole-behaviour rule, 'x' for EINVAL, else 'b'/'c' with *ex filled.
char ref_parse_rule(const std::string& text, Ex* ex) {
  const char* b = text.c_str();
  *ex = Ex{};
  switch (*b) {
    case 'a': return 'a';
    case 'b': ex->type = Ex::kBlock; break;
    case 'c': ex->type = Ex::kChar; break;
    default: return 'x';
  }
  b++;
  if (!ref_isspace(*b)) return 'x';
  b++;
  auto number = [&](uint32_t* out) {
    if (*b == '*') {
      *out = ~0u;
      b++;
      return true;
    }
    if (!ref_isdigit(*b)) return false;
    char temp[12] = {};
    for (int count = 0; count < 11; count++) {
      temp[count] = *b;
      b++;
      if (!ref_isdigit(*b)) break;
    }
    // kstrtou32(temp, 10)
    unsigned long long v = 0;
    for (const char* p = temp; *p; ++p) v = v * 10 + static_cast<unsigned>(*p - '0');  // 11 digits fit
    if (v > 0xffffffffULL) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  };
  if (!number(&ex->major)) return 'x';
  if (*b != ':') return 'x';
  b++;
  if (!number(&ex->minor)) return 'x';
  if (!ref_isspace(*b)) return 'x';
  int count = 0;
  for (b++, count = 0; count < 3; count++, b++) {
    switch (*b) {
      case 'r': ex->access |= Ex::kRead; break;
      case 'w': ex->access |= Ex::kWrite; break;
      case 'm': ex->access |= Ex::kMknod; break;
      case '\n':
      case '\0': count = 3; break;
      default: return 'x';
    }
  }
  return ex->type == Ex::kBlock ? 'b' : 'c';
}

// match_exception / match_exception_partial, from security/device_cgroup.c.
bool ref_match(const std::vector<Ex>& list, const Ex& e) {
  for (const Ex& ex : list) {
    if ((e.type & Ex::kBlock) && !(ex.type & Ex::kBlock)) continue;
    if ((e.type & Ex::kChar) && !(ex.type & Ex::kChar)) continue;
    if (ex.major != Ex::kAny && ex.major != e.major) continue;
    if (ex.minor != Ex::kAny && ex.minor != e.minor) continue;
    if (e.access & ~ex.access) continue;
    return true;
  }
  return false;
}
bool ref_match_partial(const std::vector<Ex>& list, const Ex& e) {
  for (const Ex& ex : list) {
    if ((e.type & Ex::kBlock) && !(ex.type & Ex::kBlock)) continue;
    if ((e.type & Ex::kChar) && !(ex.type & Ex::kChar)) continue;
    if (ex.major != Ex::kAny && e.major != Ex::kAny && ex.major != e.major) continue;
    if (ex.minor != Ex::kAny && e.minor != Ex::kAny && ex.minor != e.minor) continue;
    if (!(e.access & ex.access)) continue;
    return true;
  }
  return false;
}

std::string describe(const Ex& e) {
  auto n = [](uint32_t v) { return v == Ex::kAny ? std::string("*") : std::to_string(v); };
  std::string acc;
  if (e.access & Ex::kRead) acc += 'r';
  if (e.access & Ex::kWrite) acc += 'w';
  if (e.access & Ex::kMknod) acc += 'm';
  return std::string(1, e.type == Ex::kBlock ? 'b' : e.type == Ex::kChar ? 'c' : '?') + " " + n(e.major) + ":" +
         n(e.minor) + " " + acc;
}

class DevicesWorld : public ControllerWorld {
 public:
  explicit DevicesWorld(std::string what) : ControllerWorld(std::move(what)) {
    Controllers controllers;
    controllers[kDevices] = make_devices({});
    init(std::move(controllers), {{"", 1u << kDevices, false, ""}}, {"devices.allow", "devices.deny"});
  }
  ~DevicesWorld() override { destroy_engine(); }

 private:
  static DevCgroup& dev(const Cgroup& c) { return *static_cast<DevCgroup*>(c.css(kDevices)); }

  void check_write(const Write& w) override {
    const bool allow = w.file.name == "devices.allow";
    const DevCgroup& d = dev(w.cgroup);
    auto expect = [&](int want) {
      FUZZ_CHECK(w.err == want, "devcgroup_update_access gives " + errno_name(want) + "; " + w.what);
      return w.err == 0;
    };
    if (!w.opener.sys_admin) {
      expect(-EPERM);
      return;
    }
    Ex ex;
    const char kind = ref_parse_rule(std::string(strstrip(w.input)), &ex);
    if (kind == 'x') {
      expect(-EINVAL);
      return;
    }
    if (kind == 'a') {
      const DevCgroup* parent = w.cgroup.is_root() ? nullptr : &dev(*w.cgroup.parent());
      if (!w.cgroup.children().empty())
        expect(-EINVAL);
      else if (allow && parent && parent->behavior != DevBehavior::kAllow)
        expect(-EPERM);
      else if (expect(0))
        FUZZ_CHECK(text(w.after, w.cgroup, "devices.list") == (allow ? "a *:* rwm\n" : ""),
                   "after 'a' the list reads '" + printable(text(w.after, w.cgroup, "devices.list")) + "'; " + w.what);
      return;
    }
    if (allow)
      FUZZ_CHECK(w.err == 0 || w.err == -EPERM, "an allow rule is granted or EPERM; " + w.what);
    else
      expect(0);
    if (w.err) return;
    // Entries for exactly this device.
    short bits = 0;
    for (const Ex& e : d.exceptions)
      if (e.type == ex.type && e.major == ex.major && e.minor == ex.minor) bits |= e.access;
    const bool grants = (allow && d.behavior == DevBehavior::kDeny) || (!allow && d.behavior == DevBehavior::kAllow);
    if (grants)
      FUZZ_CHECK((bits & ex.access) == ex.access && ref_match(d.exceptions, ex),
                 "the exceptions do not hold " + describe(ex) + "; " + w.what);
    else
      FUZZ_CHECK(!(bits & ex.access), "the exceptions still hold access of " + describe(ex) + "; " + w.what);
  }

  void check_state(const Snapshot& s) override {
    for (Cgroup* c : cgroups_) {
      const std::string where = key(*c) + "; " + what_;
      const DevCgroup& d = dev(*c);
      const std::string list = text(s, *c, "devices.list");
      FUZZ_CHECK(d.behavior == DevBehavior::kAllow || d.behavior == DevBehavior::kDeny,
                 "a live cgroup without a behaviour: " + where);
      if (d.behavior == DevBehavior::kAllow) {
        FUZZ_CHECK(list == "a *:* rwm\n", "a default-allow list reads '" + printable(list) + "' in " + where);
      } else {
        std::string want;
        for (const Ex& e : d.exceptions) {
          FUZZ_CHECK(e.type == Ex::kBlock || e.type == Ex::kChar, "an exception of no device type in " + where);
          want += describe(e) + "\n";
        }
        FUZZ_CHECK(list == want, "the list reads '" + printable(list) + "', not '" + printable(want) + "' in " + where);
      }
      if (c->is_root()) continue;
      const DevCgroup& p = dev(*c->parent());
      if (d.behavior == DevBehavior::kAllow)
        FUZZ_CHECK(p.behavior == DevBehavior::kAllow, "default-allow under a default-deny parent: " + where);
      for (const Ex& e : d.exceptions) {
        // verify_new_ex(parent, e, child's behaviour)
        bool ok;
        if (p.behavior == DevBehavior::kAllow)
          ok = d.behavior == DevBehavior::kAllow || !ref_match_partial(p.exceptions, e);
        else
          ok = ref_match(p.exceptions, e);
        FUZZ_CHECK(ok, "exception " + describe(e) + " is not one the parent allows, in " + where);
      }
    }
  }
};

}  // namespace

int DevicesFiles(const uint8_t* data, size_t size) { return run_world<DevicesWorld>(data, size); }

}  // namespace cgemu::fuzz
