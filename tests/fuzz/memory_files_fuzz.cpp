// The memory controller's files (controllers/memory.cpp) on the fake host of
// controller_world.h: memory sizes and limits, swappiness, oom_control,
// move_charge_at_immigrate, the resets, cgroup.event_control.
//
// Header: [h0]. h0 & 3: the page size (4096, 16384, 65536, 4096); bit 2:
// swap accounting (the memsw files); bit 3: the memory.oom_kill setting; bit
// 4: two memory nodes; bits 5-7: vm.swappiness (60, 0, 100, 200, 1, 60, 60,
// 60). Host changes: a process's resident or swapped pages change, it
// faults, its oom_score_adj changes. The writer's descriptors are a fixed
// table (3 and 11 are eventfds, 4-9, 12, 13 cgroup files, 10 /dev/null);
// SIGKILL and pidfd_getfd are refused for processes of uid 2000.
//
// Checks, besides controller_world.h's:
//   - sizes parse as page_counter_memparse does ("-1", or lib/cmdline.c's
//     memparse, a reference port here, consuming the whole stripped text):
//     anything else is EINVAL; the root takes no limit (but the soft one);
//     memory.limit_in_bytes <= memsw.limit_in_bytes or EINVAL, a limit below
//     the usage EBUSY (mem_cgroup_resize_max, as far as the emulator cannot
//     reclaim); a success reads back the size rounded down to pages;
//     kmem.limit_in_bytes is accepted and changes nothing;
//   - swappiness 0..200, move_charge_at_immigrate 0..3, oom_control 0 or 1
//     (not on the root), use_hierarchy 1 only, force_empty not on the root;
//     each reads back; a reset makes failcnt 0 and max_usage the usage;
//   - cgroup.event_control parses as memcg_write_event_control does, against
//     the descriptor table: its errno is the reference's; a registration
//     takes at most one descriptor; every descriptor taken is closed exactly
//     once, by rmdir or when the engine goes, and never signalled after;
//   - after every step: every size is a whole number of pages, a limit is at
//     most the memsw limit, usage <= max_usage, usage <= memsw usage, a
//     parent's usage covers each child's.
#include <cerrno>
#include <climits>
#include <set>
#include <string>
#include <vector>

#include "controller_world.h"
#include "reference_kstrtox.h"
#include "controllers/memory.h"
#include "engine/kernel_parse.h"

namespace cgemu::fuzz {
namespace {

// ---- the reference: lib/vsprintf.c simple_strtoull, lib/cmdline.c memparse ----

// simple_strtoull(s, &end, base) on a C string: the value (wrapping) and
// the number of characters used.
unsigned long long ref_simple_strtoull(const char* s, unsigned base, size_t* used) {
  const char* digits = ref_fixup_radix(s, &base);
  unsigned long long res;
  const unsigned rv = ref_parse_integer(digits, base, &res);  // wraps on overflow, as the kernel's
  *used = static_cast<size_t>(digits - s) + (rv & ~kOverflow);
  return res;
}

unsigned long long ref_memparse(const char* s, size_t* used) {
  unsigned long long ret = ref_simple_strtoull(s, 0, used);
  switch (s[*used]) {
    case 'E': case 'e': ret <<= 10; [[fallthrough]];
    case 'P': case 'p': ret <<= 10; [[fallthrough]];
    case 'T': case 't': ret <<= 10; [[fallthrough]];
    case 'G': case 'g': ret <<= 10; [[fallthrough]];
    case 'M': case 'm': ret <<= 10; [[fallthrough]];
    case 'K': case 'k': ret <<= 10; ++*used; break;
    default: break;
  }
  return ret;
}

const char* const kEventfd = "anon_inode:[eventfd]";
const std::map<int, std::string> kFds = {
    {3, kEventfd},
    {4, "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
    {5, "/sys/fs/cgroup/memory/a/memory.usage_in_bytes"},
    {6, "/sys/fs/cgroup/memory/a/memory.oom_control"},
    {7, "/sys/fs/cgroup/memory/a/b/memory.pressure_level"},
    {8, "/sys/fs/cgroup/memory/a/memory.memsw.usage_in_bytes"},
    {9, "/sys/fs/cgroup/memory/c/cgroup.event_control"},
    {10, "/dev/null"},
    {11, kEventfd},
    {12, "/sys/fs/cgroup/memory/c/memory.oom_control"},
    {13, "/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes"},
};

class MemoryWorld : public ControllerWorld {
 public:
  MemoryWorld(Input& in, std::string what) : ControllerWorld(std::move(what)) {
    const uint8_t h0 = in.next();
    static constexpr uint64_t kPageSizes[] = {4096, 16384, 65536, 4096};
    page_size_ = kPageSizes[h0 & 3];
    memsw_ = h0 & 4;
    if (h0 & 16) nodes_.push_back(1);
    static constexpr unsigned kSwappiness[] = {60, 0, 100, 200, 1, 60, 60, 60};
    swappiness_ = kSwappiness[h0 >> 5];
    MemoryController::Settings settings;
    settings.oom_kill = h0 & 8;
    Controllers controllers;
    controllers[kMemorySsid] = std::make_unique<MemoryController>(std::make_unique<FakeMemoryHost>(this), settings);
    init(std::move(controllers), {{"", 1u << kMemorySsid, false, ""}},
         {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
          "memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes", "memory.swappiness",
          "memory.move_charge_at_immigrate", "memory.oom_control", "cgroup.event_control", "memory.use_hierarchy",
          "memory.force_empty", "memory.max_usage_in_bytes", "memory.failcnt", "memory.memsw.max_usage_in_bytes",
          "memory.memsw.failcnt", "memory.kmem.failcnt", "memory.kmem.max_usage_in_bytes",
          "memory.kmem.tcp.failcnt", "memory.kmem.tcp.max_usage_in_bytes", "memory.limit_in_bytes",
          "cgroup.event_control"});
  }
  ~MemoryWorld() override { destroy_engine(); }

 private:
  class FakeMemoryHost : public MemoryHost {
   public:
    explicit FakeMemoryHost(MemoryWorld* w) : w_(w) {}
    uint64_t page_size() override { return w_->page_size_; }
    std::optional<ProcMemInfo> process(pid_t tgid) override {
      check_fake_pid(tgid, "MemoryHost::process");
      auto t = w_->host_.tasks.task(tgid);
      if (!t || t->tgid != tgid) return std::nullopt;
      ProcMemInfo info;
      info.start_time = t->start_time;
      info.state = t->state;
      if (!t->dying()) info.pages = w_->pages_[tgid];  // a zombie has no mm
      info.minflt = w_->faults_[tgid].first;
      info.majflt = w_->faults_[tgid].second;
      info.uid = t->ruid;
      info.comm = "p" + std::to_string(tgid);
      return info;
    }
    int oom_score_adj(pid_t tgid) override {
      check_fake_pid(tgid, "MemoryHost::oom_score_adj");
      return w_->adj_[tgid];
    }
    int kill(pid_t tgid) override {
      check_fake_pid(tgid, "MemoryHost::kill");
      ++w_->host_.effects;
      auto t = w_->host_.tasks.task(tgid);
      if (!t) return -ESRCH;
      if (t->ruid == 2000) return -EPERM;
      w_->host_.kills.push_back(tgid);
      return 0;
    }
    HostMemInfo host() override {
      HostMemInfo h;
      h.vmstat = {{"nr_file_pages", 1000}, {"nr_anon_pages", 500}, {"pgfault", 77}, {"pgpgin", 5}};
      h.swap_used_pages = 30;
      for (int node : w_->nodes_) h.node_vmstat[node] = {{"nr_inactive_anon", 400}, {"nr_active_file", 100}};
      return h;
    }
    unsigned swappiness() override { return w_->swappiness_; }
    std::vector<int> memory_nodes() override { return w_->nodes_; }
    bool swap_accounting() override { return w_->memsw_; }
    std::optional<std::string> fd_target(pid_t tid, int fd, int* err) override {
      check_fake_pid(tid, "MemoryHost::fd_target");
      auto it = kFds.find(fd);
      if (!w_->host_.tasks.task(tid) || it == kFds.end()) {
        *err = -EBADF;
        return std::nullopt;
      }
      return it->second;
    }
    int grab_fd(pid_t tid, int fd) override {
      check_fake_pid(tid, "MemoryHost::grab_fd");
      ++w_->host_.effects;
      auto t = w_->host_.tasks.task(tid);
      if (!t) return -ESRCH;
      if (t->ruid == 2000) return -EPERM;
      const int ours = w_->next_fd_++;
      w_->open_fds_.insert(ours);
      return ours;
    }
    void signal(int fd) override {
      ++w_->host_.effects;
      FUZZ_CHECK(w_->open_fds_.count(fd), "descriptor " + std::to_string(fd) + " signalled after it was closed; " +
                                              w_->what_);
    }
    void close_fd(int fd) override {
      ++w_->host_.effects;
      FUZZ_CHECK(w_->open_fds_.erase(fd) == 1,
                 "descriptor " + std::to_string(fd) + " closed twice or never taken; " + w_->what_);
    }

   private:
    MemoryWorld* w_;
  };

  uint64_t page_counter_max() const { return static_cast<uint64_t>(LONG_MAX) / page_size_; }

  uint64_t bytes(const Snapshot& s, const Cgroup& c, const std::string& file) {
    const std::string t = text(s, c, file);
    unsigned long long v = 0;
    FUZZ_CHECK(kstrtoull(t, 10, &v) == 0, file + " of " + key(c) + " reads '" + printable(t) + "'; " + what_);
    return v;
  }

  // page_counter_memparse(strstrip(input), "-1"): pages, or nullopt for EINVAL.
  std::optional<uint64_t> ref_pages(std::string_view input) {
    const std::string buf(strstrip(input));
    if (buf == "-1") return page_counter_max();
    size_t used = 0;
    const unsigned long long b = ref_memparse(buf.c_str(), &used);
    if (used != buf.size()) return std::nullopt;
    return std::min<uint64_t>(b / page_size_, page_counter_max());
  }

  // memcg_write_event_control against the descriptor table, up to the
  // registration: 0 or -errno.
  int ref_event_control(const Write& w) {
    const std::string buf(strstrip(w.input));
    size_t used;
    const auto efd = static_cast<unsigned>(ref_simple_strtoull(buf.c_str(), 10, &used));
    if (buf.c_str()[used] != ' ') return -EINVAL;
    const char* rest = buf.c_str() + used + 1;
    const auto cfd = static_cast<unsigned>(ref_simple_strtoull(rest, 10, &used));
    std::string args;
    if (rest[used] == ' ')
      args = rest + used + 1;
    else if (rest[used] != '\0')
      return -EINVAL;
    auto target = [&](unsigned fd) -> const std::string* {
      if (!host_.tasks.task(w.opener.pid)) return nullptr;
      auto it = kFds.find(static_cast<int>(fd));
      return it == kFds.end() ? nullptr : &it->second;
    };
    const std::string* event = target(efd);
    if (!event) return -EBADF;
    if (*event != kEventfd) return -EINVAL;
    const std::string* control = target(cfd);
    if (!control) return -EBADF;
    const std::string name = control->substr(control->rfind('/') + 1);
    const std::string dir = control->substr(0, control->rfind('/'));
    if (w.opener.uid != 0 && (name == "memory.force_empty" || name == "cgroup.event_control")) return -EACCES;
    const bool usage = name == "memory.usage_in_bytes" || (name == "memory.memsw.usage_in_bytes" && memsw_);
    if (!usage && name != "memory.oom_control" && name != "memory.pressure_level") return -EINVAL;
    // The emulator's stand-in for "the file is this cgroup's": its directory
    // ends with the cgroup's path (any directory for the root).
    if (!w.cgroup.is_root() && !(dir.size() > w.cgroup.path().size() && dir.ends_with(w.cgroup.path())))
      return -EINVAL;
    if (usage) return ref_pages_unstripped(args) ? 0 : -EINVAL;
    if (name == "memory.pressure_level") {
      // vmpressure_register_event: strscpy of 19 characters, then
      // "level[,mode]" split with strsep.
      const std::string spec = args.substr(0, 19);
      const size_t comma = spec.find(',');
      const std::string level = spec.substr(0, comma);
      if (level != "low" && level != "medium" && level != "critical") return -EINVAL;
      if (comma == std::string::npos) return 0;
      const std::string after = spec.substr(comma + 1);
      const std::string mode = after.substr(0, after.find(','));
      if (mode != "default" && mode != "hierarchy" && mode != "local") return -EINVAL;
    }
    return 0;
  }
  // page_counter_memparse on the text as given (the threshold argument).
  bool ref_pages_unstripped(const std::string& args) {
    if (args == "-1") return true;
    size_t used = 0;
    ref_memparse(args.c_str(), &used);
    return used == args.size();
  }

  void check_write(const Write& w) override {
    const std::string& name = w.file.name;
    const Cgroup& c = w.cgroup;
    const Snapshot& before = w.before;
    auto reads = [&](const std::string& file, const std::string& want) {
      const std::string got = text(w.after, c, file);
      FUZZ_CHECK(got == want, file + " reads '" + printable(got) + "', not '" + printable(want) + "'; " + w.what);
    };
    auto expect = [&](int want) {
      FUZZ_CHECK(w.err == want, "the kernel gives " + errno_name(want) + "; " + w.what);
      return w.err == 0;
    };
    static const std::set<std::string> kLimits = {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                                                  "memory.soft_limit_in_bytes", "memory.kmem.limit_in_bytes",
                                                  "memory.kmem.tcp.limit_in_bytes"};
    if (kLimits.count(name)) {
      const std::optional<uint64_t> pages = ref_pages(w.input);
      if (!pages) {
        expect(-EINVAL);
        return;
      }
      if (name == "memory.soft_limit_in_bytes" || name == "memory.kmem.tcp.limit_in_bytes") {
        if (name != "memory.soft_limit_in_bytes" && c.is_root()) {
          expect(-EINVAL);
          return;
        }
        if (expect(0)) reads(name, std::to_string(*pages * page_size_) + "\n");
        return;
      }
      if (c.is_root()) {
        expect(-EINVAL);
        return;
      }
      if (name == "memory.kmem.limit_in_bytes") {
        if (expect(0)) FUZZ_CHECK(w.before == w.after, "kmem.limit_in_bytes changed " +
                                                           first_difference(w.before, w.after) + "; " + w.what);
        return;
      }
      const bool memsw = name == "memory.memsw.limit_in_bytes";
      const uint64_t mem_max = bytes(before, c, "memory.limit_in_bytes") / page_size_;
      const uint64_t memsw_max =
          memsw_ ? bytes(before, c, "memory.memsw.limit_in_bytes") / page_size_ : page_counter_max();
      const uint64_t usage =
          bytes(before, c, memsw ? "memory.memsw.usage_in_bytes" : "memory.usage_in_bytes") / page_size_;
      if (memsw ? *pages < mem_max : *pages > memsw_max)
        expect(-EINVAL);
      else if (usage > *pages)
        expect(-EBUSY);
      else if (expect(0))
        reads(name, std::to_string(*pages * page_size_) + "\n");
      return;
    }
    if (name == "cgroup.event_control") {
      const int want = ref_event_control(w);
      FUZZ_CHECK(w.err == want, "memcg_write_event_control gives " + errno_name(want) + "; " + w.what);
      return;
    }
    if (name == "memory.force_empty") {
      expect(c.is_root() ? -EINVAL : 0);
      return;
    }
    static const std::set<std::string> kResets = {
        "memory.max_usage_in_bytes",      "memory.failcnt",      "memory.memsw.max_usage_in_bytes",
        "memory.memsw.failcnt",           "memory.kmem.failcnt", "memory.kmem.max_usage_in_bytes",
        "memory.kmem.tcp.failcnt",        "memory.kmem.tcp.max_usage_in_bytes"};
    if (kResets.count(name)) {
      if (!expect(0)) return;
      if (name.ends_with("failcnt")) {
        reads(name, "0\n");
      } else if (name.starts_with("memory.kmem.")) {
        reads(name, "0\n");
      } else if (!c.is_root()) {  // the root's usage is the host's, its counter only its children's
        const std::string usage = name == "memory.max_usage_in_bytes" ? "memory.usage_in_bytes"
                                                                      : "memory.memsw.usage_in_bytes";
        reads(name, text(w.after, c, usage));
      }
      return;
    }
    unsigned long long v;
    if (const int err = kstrtoull(w.input, 0, &v)) {
      expect(err);
      return;
    }
    if (name == "memory.swappiness") {
      if (expect(v > 200 ? -EINVAL : 0)) reads(name, std::to_string(v) + "\n");
    } else if (name == "memory.move_charge_at_immigrate") {
      if (expect(v & ~3ULL ? -EINVAL : 0)) reads(name, std::to_string(v) + "\n");
    } else if (name == "memory.oom_control") {
      if (expect(c.is_root() || v > 1 ? -EINVAL : 0))
        FUZZ_CHECK(text(w.after, c, name).starts_with("oom_kill_disable " + std::to_string(v) + "\n"),
                   "reads back; " + w.what);
    } else if (name == "memory.use_hierarchy") {
      expect(v == 1 ? 0 : -EINVAL);
    }
  }

  void check_state(const Snapshot& s) override {
    const Cgroup& root = engine_->hierarchies()[0]->root();
    for (const auto& [k, v] : s.files) {
      if (!k.ends_with("_in_bytes") || v.starts_with("E")) continue;
      unsigned long long n = 0;
      FUZZ_CHECK(kstrtoull(v, 10, &n) == 0 && n % page_size_ == 0,
                 k + " reads '" + printable(v) + "', not whole pages; " + what_);
    }
    for (Cgroup* c : cgroups_) {
      const std::string where = key(*c) + "; " + what_;
      const std::string oom = text(s, *c, "memory.oom_control");
      FUZZ_CHECK(oom.starts_with("oom_kill_disable 0\nunder_oom ") || oom.starts_with("oom_kill_disable 1\nunder_oom "),
                 "memory.oom_control reads '" + printable(oom) + "' in " + where);
      unsigned long long v;
      FUZZ_CHECK(kstrtoull(text(s, *c, "memory.swappiness"), 10, &v) == 0 && v <= 200, "swappiness in " + where);
      FUZZ_CHECK(kstrtoull(text(s, *c, "memory.move_charge_at_immigrate"), 10, &v) == 0 && v <= 3,
                 "move_charge_at_immigrate in " + where);
      const uint64_t limit = bytes(s, *c, "memory.limit_in_bytes");
      FUZZ_CHECK(limit <= page_counter_max() * page_size_, "limit above PAGE_COUNTER_MAX in " + where);
      if (memsw_) FUZZ_CHECK(limit <= bytes(s, *c, "memory.memsw.limit_in_bytes"), "limit above memsw's in " + where);
      if (c == &root) continue;  // the root shows the host's usage
      const uint64_t usage = bytes(s, *c, "memory.usage_in_bytes");
      FUZZ_CHECK(usage <= bytes(s, *c, "memory.max_usage_in_bytes"), "usage above max_usage in " + where);
      if (memsw_) {
        const uint64_t memsw = bytes(s, *c, "memory.memsw.usage_in_bytes");
        FUZZ_CHECK(usage <= memsw, "usage above memsw usage in " + where);
        FUZZ_CHECK(memsw <= bytes(s, *c, "memory.memsw.max_usage_in_bytes"), "memsw usage above its max in " + where);
      }
      if (c->parent() != &root)
        FUZZ_CHECK(usage <= bytes(s, *c->parent(), "memory.usage_in_bytes"), "usage above the parent's in " + where);
    }
  }

  void change_host(int kind, uint8_t arg) override {
    const std::vector<pid_t> live = host_.live_tids();
    const pid_t tgid = host_.tasks.task(live[arg % live.size()])->tgid;
    switch (kind) {
      case 0: {
        static constexpr uint64_t kPages[] = {0, 1, 10, 100, 1000, 100000, 1u << 20, 1ULL << 30};
        pages_[tgid][arg & 3] = kPages[(arg >> 2) & 7];
        break;
      }
      case 1:
        faults_[tgid].first += arg + 1;
        faults_[tgid].second += arg >> 2;
        break;
      default: {
        static constexpr int kAdj[] = {0, -1000, 500, 1000};
        adj_[tgid] = kAdj[arg & 3];
        break;
      }
    }
  }

  int expected_read_error(const std::string& file) override {
    return file == "memory.pressure_level" ? -EINVAL : 0;  // mem_cgroup_dummy_seq_show
  }
  // try_charge counts the failure of a refused charge move.
  bool refusal_may_change(const std::string& file) override { return file == "memory.failcnt"; }

  void check_finished() override {
    FUZZ_CHECK(open_fds_.empty(),
               std::to_string(open_fds_.size()) + " eventfd descriptors left open with the engine gone; " + what_);
  }

  uint64_t page_size_ = 4096;
  bool memsw_ = false;
  unsigned swappiness_ = 60;
  std::vector<int> nodes_ = {0};
  std::map<pid_t, MemPages> pages_;
  std::map<pid_t, std::pair<uint64_t, uint64_t>> faults_;
  std::map<pid_t, int> adj_;
  std::set<int> open_fds_;
  int next_fd_ = 1000;
};

}  // namespace

int MemoryFiles(const uint8_t* data, size_t size) { return run_world<MemoryWorld>(data, size); }

}  // namespace cgemu::fuzz
