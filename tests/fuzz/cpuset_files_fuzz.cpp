// The cpuset controller's files (controllers/cpuset.cpp) on the fake host of
// controller_world.h: CPU and memory-node lists, the flags, the relax level.
//
// Header: [h0][h1]. h0 & 7: CPUs - 1 (times 8 with h0 & 8: up to 64);
// h0 bits 4-5: the memory nodes ({0}, {0,1}, {0,3}, {1}); h0 bit 6: 4 node
// bits instead of 1024; h0 bit 7: cpuset_v2_mode. h1 bits 0-3: CPUs 1-4
// offline; bits 4-5: sched_domain_level_max; bit 6: NR_CPUS 16 (a short
// max_write_len) instead of 8192; bit 7: clone_children on the root.
// Host changes: a task's affinity may no longer be changed (EPERM), or may
// again.
//
// Checks, besides controller_world.h's:
//   - cpuset.cpus and cpuset.mems parse as lib/bitmap-str.c's
//     bitmap_parselist does (a reference port, unsigned int arithmetic
//     included): its error is the write's; a list outside the top cpuset is
//     EINVAL; the top cpuset's are EACCES; the same list again changes
//     nothing; and what a successful write reads back is the list in the
//     kernel's "%*pbl" form;
//   - the flags take kstrtoull and narrow it to an int (4294967296 is off),
//     and read back 0 or 1; only the exclusive ones can be refused;
//     sched_relax_domain_level takes -1 to sched_domain_level_max + 1;
//   - v1 rules after every step: a child's CPUs, nodes and exclusive flags
//     are within its parent's, effective = allowed & the parent's effective,
//     the top cpuset has the online CPUs and the memory nodes; in both modes
//     exclusive siblings do not overlap;
//   - the real effect: every task in a cpuset has the affinity of its
//     cpuset's effective online CPUs (all possible CPUs at the root), as
//     sched_setaffinity was asked (a forked task inherits its parent's).
#include <cerrno>
#include <climits>
#include <string>
#include <vector>

#include "controller_world.h"
#include "controllers/cpuset.h"
#include "engine/kernel_parse.h"

namespace cgemu::fuzz {
namespace {

using Mask = std::vector<bool>;

const int kCpuset = *subsystem_id("cpuset");

// ---- the reference: lib/bitmap-str.c and "%*pbl", on a C string ----------------

bool ref_isspace(char c) {  // lib/ctype.c: 9-13, 32 and 160
  const unsigned u = static_cast<unsigned char>(c);
  return (u >= 9 && u <= 13) || u == 32 || u == 160;
}
bool ref_end_of_str(char c) { return c == '\0' || c == '\n'; }
bool ref_sep(char c) { return ref_isspace(c) || c == ','; }
bool ref_end_of_region(char c) { return ref_sep(c) || ref_end_of_str(c); }

struct Region {
  unsigned start, off, group_len, end, nbits;
};

// bitmap_getnum: nullptr and *err on an error.
const char* ref_getnum(const char* str, unsigned* num, unsigned lastbit, int* err) {
  if (str[0] == 'N') {
    *num = lastbit;
    return str + 1;
  }
  // _parse_integer(str, 10, &n)
  unsigned long long n = 0;
  unsigned len = 0;
  bool overflow = false;
  for (const char* s = str;; ++s) {
    const unsigned c = static_cast<unsigned>(static_cast<int>(static_cast<signed char>(*s)));
    if (!('0' <= c && c <= '9')) break;
    const unsigned val = c - '0';
    if (n & (~0ULL << 60))
      if (n > (ULLONG_MAX - val) / 10) overflow = true;
    n = n * 10 + val;
    ++len;
  }
  if (!len) {
    *err = -EINVAL;
    return nullptr;
  }
  if (overflow || n != static_cast<unsigned>(n)) {
    *err = -EOVERFLOW;
    return nullptr;
  }
  *num = static_cast<unsigned>(n);
  return str + len;
}

// bitmap_parse_region: the next position (nullptr at the end of the
// string), or nullptr with *err.
const char* ref_parse_region(const char* str, Region* r, int* err) {
  const unsigned lastbit = r->nbits - 1;
  auto lower = [](char c) { return static_cast<unsigned char>(c) | 0x20; };  // enough for "all"
  if (lower(str[0]) == 'a' && lower(str[1]) == 'l' && lower(str[2]) == 'l') {
    r->start = 0;
    r->end = lastbit;
    str += 3;
  } else {
    str = ref_getnum(str, &r->start, lastbit, err);
    if (!str) return nullptr;
    if (ref_end_of_region(*str)) {
      r->end = r->start;
      r->off = r->end + 1;
      r->group_len = r->end + 1;
      return ref_end_of_str(*str) ? nullptr : str;
    }
    if (*str != '-') {
      *err = -EINVAL;
      return nullptr;
    }
    str = ref_getnum(str + 1, &r->end, lastbit, err);
    if (!str) return nullptr;
  }
  // check_pattern:
  if (ref_end_of_region(*str)) {
    r->off = r->end + 1;
    r->group_len = r->end + 1;
    return ref_end_of_str(*str) ? nullptr : str;
  }
  if (*str != ':') {
    *err = -EINVAL;
    return nullptr;
  }
  str = ref_getnum(str + 1, &r->off, lastbit, err);
  if (!str) return nullptr;
  if (*str != '/') {
    *err = -EINVAL;
    return nullptr;
  }
  return ref_getnum(str + 1, &r->group_len, lastbit, err);
}

// bitmap_parselist(text, mask, nbits): 0 or -errno.
int ref_parselist(const std::string& text, unsigned nbits, Mask* out) {
  out->assign(nbits, false);
  Region r{};
  r.nbits = nbits;
  const char* buf = text.c_str();
  while (buf) {
    // bitmap_find_region
    while (ref_sep(*buf)) ++buf;
    if (ref_end_of_str(*buf)) return 0;
    int err = 0;
    buf = ref_parse_region(buf, &r, &err);
    if (err) return err;
    // bitmap_check_region
    if (r.start > r.end || r.group_len == 0 || r.off > r.group_len) return -EINVAL;
    if (r.end >= r.nbits) return -ERANGE;
    // bitmap_set_region, in unsigned int as the kernel's struct region is.
    int guard = 0;
    for (unsigned start = r.start; start <= r.end; start += r.group_len) {
      const unsigned len = std::min(r.end - start + 1, r.off);
      for (unsigned bit = start; bit < start + len; ++bit) (*out)[bit] = true;
      FUZZ_CHECK(++guard < (1 << 20), "the reference bitmap_set_region does not end");
    }
  }
  return 0;
}

// "%*pbl": ascending ranges, "a-b" or "a", comma separated.
std::string ref_print(const Mask& m) {
  std::string out;
  for (size_t i = 0; i < m.size();) {
    if (!m[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j + 1 < m.size() && m[j + 1]) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(i);
    if (j > i) out += "-" + std::to_string(j);
    i = j + 1;
  }
  return out;
}

bool subset(const Mask& a, const Mask& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] && !(i < b.size() && b[i])) return false;
  return true;
}
bool intersects(const Mask& a, const Mask& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i] && b[i]) return true;
  return false;
}
Mask both(const Mask& a, const Mask& b) {
  Mask out(a.size(), false);
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] && i < b.size() && b[i];
  return out;
}
Mask bits(unsigned n, const std::vector<unsigned>& set) {
  Mask m(n, false);
  for (unsigned i : set)
    if (i < n) m[i] = true;
  return m;
}

class CpusetWorld : public ControllerWorld {
 public:
  CpusetWorld(Input& in, std::string what) : ControllerWorld(std::move(what)) {
    const uint8_t h0 = in.next(), h1 = in.next();
    CpusetTopology t;
    t.nr_cpu_ids = (h0 & 8) ? 8u * ((h0 & 7) + 1) : (h0 & 7) + 1u;
    t.possible_cpus.assign(t.nr_cpu_ids, true);
    t.online_cpus.assign(t.nr_cpu_ids, true);
    for (unsigned i = 0; i < 4; ++i)
      if ((h1 >> i) & 1 && i + 1 < t.nr_cpu_ids) t.online_cpus[i + 1] = false;
    t.max_numnodes = (h0 & 0x40) ? 4 : 1024;
    static const std::vector<unsigned> kNodes[] = {{0}, {0, 1}, {0, 3}, {1}};
    t.memory_nodes = bits(t.max_numnodes, kNodes[(h0 >> 4) & 3]);
    t.nr_cpus_config = (h1 & 0x40) ? 16 : 8192;
    t.sched_domain_level_max = (h1 >> 4) & 3;
    t.v2_mode = h0 & 0x80;
    topo_ = t;

    Controllers controllers;
    controllers[kCpuset] = make_cpuset_controller(t, std::make_unique<FakeCpusetHost>(this));
    host_.on_fork = [this](pid_t child, pid_t parent) {
      auto it = affinity_.find(parent);
      if (it != affinity_.end()) affinity_[child] = it->second;
    };
    init(std::move(controllers), {{"", 1u << kCpuset, static_cast<bool>(h1 & 0x80), ""}},
         {"cpuset.cpus", "cpuset.mems", "cpuset.cpu_exclusive", "cpuset.mem_exclusive", "cpuset.cpus",
          "cpuset.mems", "cpuset.mem_hardwall", "cpuset.sched_load_balance", "cpuset.sched_relax_domain_level",
          "cpuset.memory_migrate", "cpuset.memory_spread_page", "cpuset.memory_spread_slab",
          "cpuset.memory_pressure_enabled"});
  }
  ~CpusetWorld() override { destroy_engine(); }

 private:
  class FakeCpusetHost : public CpusetHost {
   public:
    explicit FakeCpusetHost(CpusetWorld* w) : w_(w) {}
    int may_set_affinity(pid_t tid) override {
      check_fake_pid(tid, "CpusetHost::may_set_affinity");
      return w_->refused_.count(tid) ? -EPERM : 0;
    }
    int set_affinity(pid_t tid, const Mask& cpus) override {
      check_fake_pid(tid, "CpusetHost::set_affinity");
      ++w_->host_.effects;
      if (!w_->host_.tasks.task(tid)) return -ESRCH;
      Mask m = cpus;
      m.resize(w_->topo_.nr_cpu_ids, false);
      w_->affinity_[tid] = m;
      return 0;
    }

   private:
    CpusetWorld* w_;
  };

  Mask mask(const Snapshot& s, const Cgroup& c, const char* file, unsigned nbits) {
    const std::string& t = text(s, c, file);
    Mask m;
    const int err = ref_parselist(t, nbits, &m);
    FUZZ_CHECK(err == 0, std::string(file) + " of " + key(c) + " reads '" + printable(t) + "'; " + what_);
    FUZZ_CHECK(t == ref_print(m) + "\n", std::string(file) + " of " + key(c) + " reads '" + printable(t) +
                                            "', not in the kernel's list form; " + what_);
    return m;
  }
  bool flag(const Snapshot& s, const Cgroup& c, const char* file) {
    const std::string& t = text(s, c, file);
    FUZZ_CHECK(t == "0\n" || t == "1\n", std::string(file) + " of " + key(c) + " reads '" + printable(t) + "'; " + what_);
    return t == "1\n";
  }
  const Cgroup& root() const { return engine_->hierarchies()[0]->root(); }

  void check_write(const Write& w) override {
    const std::string& name = w.file.name;
    const Snapshot& after = w.after;
    if (name == "cpuset.cpus" || name == "cpuset.mems") {
      const unsigned nbits = name == "cpuset.cpus" ? topo_.nr_cpu_ids : topo_.max_numnodes;
      if (w.cgroup.is_root()) {
        FUZZ_CHECK(w.err == -EACCES, "the top cpuset's lists are read-only; " + w.what);
        return;
      }
      const std::string buf(strstrip(w.input));
      Mask want(nbits, false);
      if (!buf.empty()) {
        const int err = ref_parselist(buf, nbits, &want);
        if (err) {
          FUZZ_CHECK(w.err == err, "bitmap_parselist gives " + errno_name(err) + "; " + w.what);
          return;
        }
        if (!subset(want, mask(w.before, root(), name.c_str(), nbits))) {
          FUZZ_CHECK(w.err == -EINVAL, "a list outside the top cpuset is EINVAL; " + w.what);
          return;
        }
      }
      if (want == mask(w.before, w.cgroup, name.c_str(), nbits)) {
        FUZZ_CHECK(w.err == 0 && w.before == after, "writing the same list changes nothing; " + w.what);
        return;
      }
      FUZZ_CHECK(w.err == 0 || w.err == -EBUSY || w.err == -EACCES || w.err == -ENOSPC || w.err == -EINVAL,
                 "not a validate_change errno; " + w.what);
      if (!w.err)
        FUZZ_CHECK(text(after, w.cgroup, name) == ref_print(want) + "\n",
                   "reads back '" + printable(text(after, w.cgroup, name)) + "', not '" + ref_print(want) + "'; " +
                       w.what);
    } else if (name == "cpuset.sched_relax_domain_level") {
      long long v;
      if (const int err = kstrtoll(w.input, 0, &v)) {
        FUZZ_CHECK(w.err == err, "kstrtoll gives " + errno_name(err) + "; " + w.what);
        return;
      }
      const bool in_range = v >= -1 && v <= topo_.sched_domain_level_max + 1;
      FUZZ_CHECK(w.err == (in_range ? 0 : -EINVAL), "the level's range; " + w.what);
      if (!w.err) FUZZ_CHECK(text(after, w.cgroup, name) == std::to_string(v) + "\n", "reads back; " + w.what);
    } else if (name.starts_with("cpuset.")) {  // the u64 flags
      unsigned long long v;
      if (const int err = kstrtoull(w.input, 0, &v)) {
        FUZZ_CHECK(w.err == err, "kstrtoull gives " + errno_name(err) + "; " + w.what);
        return;
      }
      const bool on = name == "cpuset.memory_pressure_enabled" ? v != 0 : static_cast<int>(static_cast<unsigned>(v)) != 0;
      if (name == "cpuset.cpu_exclusive" || name == "cpuset.mem_exclusive")
        FUZZ_CHECK(w.err == 0 || w.err == -EBUSY || w.err == -EACCES || w.err == -EINVAL,
                   "not a validate_change errno; " + w.what);
      else
        FUZZ_CHECK(w.err == 0, "a flag that changes no rule was refused; " + w.what);
      if (!w.err)
        FUZZ_CHECK(text(after, w.cgroup, name) == (on ? "1\n" : "0\n"),
                   "reads back '" + printable(text(after, w.cgroup, name)) + "'; " + w.what);
    }
  }

  void check_state(const Snapshot& s) override {
    const unsigned ncpu = topo_.nr_cpu_ids, nnode = topo_.max_numnodes;
    const Mask pmask = both(topo_.possible_cpus, topo_.online_cpus);
    struct Cs {
      Mask cpus, mems, eff_cpus, eff_mems;
      bool cpu_exclusive, mem_exclusive;
    };
    std::map<const Cgroup*, Cs> cs;
    for (Cgroup* c : cgroups_)
      cs[c] = {mask(s, *c, "cpuset.cpus", ncpu), mask(s, *c, "cpuset.mems", nnode),
               mask(s, *c, "cpuset.effective_cpus", ncpu), mask(s, *c, "cpuset.effective_mems", nnode),
               flag(s, *c, "cpuset.cpu_exclusive"), flag(s, *c, "cpuset.mem_exclusive")};
    const Cs& top = cs[&root()];
    if (!topo_.v2_mode) {
      FUZZ_CHECK(top.cpus == topo_.online_cpus, "the top cpuset's CPUs; " + what_);
      FUZZ_CHECK(top.mems == topo_.memory_nodes, "the top cpuset's nodes; " + what_);
      FUZZ_CHECK(top.eff_cpus == topo_.online_cpus, "the top cpuset's effective CPUs; " + what_);
      FUZZ_CHECK(top.eff_mems == topo_.memory_nodes, "the top cpuset's effective nodes; " + what_);
    }
    for (Cgroup* c : cgroups_) {
      const Cs& me = cs[c];
      if (!c->is_root() && !topo_.v2_mode) {
        const Cs& p = cs[c->parent()];
        FUZZ_CHECK(subset(me.cpus, p.cpus), "CPUs outside the parent's in " + key(*c) + "; " + what_);
        FUZZ_CHECK(subset(me.mems, p.mems), "nodes outside the parent's in " + key(*c) + "; " + what_);
        FUZZ_CHECK(!me.cpu_exclusive || p.cpu_exclusive,
                   "cpu_exclusive without the parent's in " + key(*c) + "; " + what_);
        FUZZ_CHECK(!me.mem_exclusive || p.mem_exclusive,
                   "mem_exclusive without the parent's in " + key(*c) + "; " + what_);
        FUZZ_CHECK(me.eff_cpus == both(me.cpus, p.eff_cpus),
                   "effective CPUs are not CPUs & the parent's in " + key(*c) + "; " + what_);
        FUZZ_CHECK(me.eff_mems == both(me.mems, p.eff_mems),
                   "effective nodes are not nodes & the parent's in " + key(*c) + "; " + what_);
      }
      // Exclusive siblings do not overlap.
      for (const auto& [name, sibling] : c->children()) {
        for (const auto& [name2, other] : c->children()) {
          if (name >= name2) continue;
          const Cs &x = cs[sibling.get()], &y = cs[other.get()];
          if (x.cpu_exclusive || y.cpu_exclusive)
            FUZZ_CHECK(!intersects(x.cpus, y.cpus), "exclusive siblings " + name + " and " + name2 +
                                                        " share CPUs in " + key(*c) + "; " + what_);
          if (x.mem_exclusive || y.mem_exclusive)
            FUZZ_CHECK(!intersects(x.mems, y.mems), "exclusive siblings " + name + " and " + name2 +
                                                        " share nodes in " + key(*c) + "; " + what_);
        }
      }
      // The affinity each member was given (guarantee_online_cpus).
      Mask want = topo_.possible_cpus;
      if (!c->is_root()) {
        const Cgroup* up = c;
        while (!up->is_root() && !intersects(cs[up].eff_cpus, pmask)) up = up->parent();
        want = both(pmask, cs[up].eff_cpus);
      }
      for (pid_t tid : s.members.at(key(*c))) {
        auto it = affinity_.find(tid);
        if (c->is_root() && it == affinity_.end()) continue;  // never moved: the host's own affinity
        FUZZ_CHECK(it != affinity_.end(),
                   "task " + std::to_string(tid) + " was never given an affinity in " + key(*c) + "; " + what_);
        FUZZ_CHECK(it->second == want, "task " + std::to_string(tid) + " has affinity " + ref_print(it->second) +
                                           ", not " + ref_print(want) + ", in " + key(*c) + "; " + what_);
      }
    }
  }

  void change_host(int kind, uint8_t arg) override {
    const std::vector<pid_t> live = host_.live_tids();
    const pid_t tid = live[arg % live.size()];
    if (!refused_.erase(tid)) refused_.insert(tid);
  }

  CpusetTopology topo_;
  std::map<pid_t, Mask> affinity_;  // what sched_setaffinity was asked, per task
  std::set<pid_t> refused_;         // tasks the emulator may not re-affine
};

}  // namespace

int CpusetFiles(const uint8_t* data, size_t size) { return run_world<CpusetWorld>(data, size); }

}  // namespace cgemu::fuzz
