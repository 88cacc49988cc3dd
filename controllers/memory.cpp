#include "controllers/memory.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/cgroup.h"
#include "engine/css_set.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace cgemu {
namespace {

// Forks sample at most this often (a fork storm would otherwise re-read
// every charged process per fork).
constexpr auto kForkSampleInterval = std::chrono::milliseconds(100);
constexpr uint64_t kMaxSwappiness = 200;  // MAX_SWAPPINESS
constexpr int kOomScoreAdjMin = -1000;    // OOM_SCORE_ADJ_MIN

uint64_t mem_pages(const MemPages& p) { return p[kMemAnon] + p[kMemFile] + p[kMemShmem]; }
bool all_zero(const MemPages& p) { return p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0; }

// ---- the real host -----------------------------------------------------------

// Plain read(2)s: /proc files are read for every charged process at every
// sample.
std::optional<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return std::nullopt;
  return out;
}

std::map<std::string, uint64_t, std::less<>> read_key_values(const std::string& path) {
  std::map<std::string, uint64_t, std::less<>> out;
  std::ifstream f(path);
  std::string key;
  uint64_t value;
  while (f >> key >> value) out[key] = value;
  return out;
}

// "0-1,3" (the kernel's "%*pbl" node lists).
std::vector<int> parse_node_list(std::string_view s) {
  std::vector<int> out;
  std::string text(strstrip(s));
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const size_t dash = part.find('-');
    try {
      const int lo = std::stoi(part.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      for (int n = lo; n <= hi; ++n) out.push_back(n);
    } catch (const std::exception&) {
      return {};
    }
  }
  return out;
}

class ProcMemoryHost : public MemoryHost {
 public:
  uint64_t page_size() override { return page_size_; }

  std::optional<ProcMemInfo> process(pid_t tgid) override {
    const std::string base = "/proc/" + std::to_string(tgid);
    auto stat = read_file(base + "/stat");
    if (!stat) return std::nullopt;
    ProcMemInfo info;
    const size_t open = stat->find('('), close = stat->rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
    info.comm = stat->substr(open + 1, close - open - 1);
    std::istringstream fields(stat->substr(close + 1));
    std::vector<std::string> f;
    std::string w;
    while (fields >> w) f.push_back(w);
    // f[0] is field 3 (state); minflt is field 10, majflt 12, starttime 22.
    if (f.size() < 20) return std::nullopt;
    info.state = f[0].empty() ? '?' : f[0][0];
    info.minflt = std::strtoull(f[7].c_str(), nullptr, 10);
    info.majflt = std::strtoull(f[9].c_str(), nullptr, 10);
    info.start_time = std::strtoull(f[19].c_str(), nullptr, 10);

    // RssAnon/RssFile/RssShmem/VmSwap are absent when the task has no mm
    // (a zombie leader, a kernel thread): nothing is charged then.
    auto status = read_file(base + "/status");
    if (!status) return std::nullopt;
    const uint64_t ps = page_size_;
    auto field = [&](std::string_view key) -> const char* {
      const size_t at = status->find(key);
      return at == std::string::npos ? nullptr : status->c_str() + at + key.size();
    };
    auto kb_to_pages = [&](std::string_view key) {
      const char* v = field(key);
      return v ? std::strtoull(v, nullptr, 10) * 1024 / ps : 0;
    };
    info.pages[kMemAnon] = kb_to_pages("\nRssAnon:");
    info.pages[kMemFile] = kb_to_pages("\nRssFile:");
    info.pages[kMemShmem] = kb_to_pages("\nRssShmem:");
    info.pages[kMemSwap] = kb_to_pages("\nVmSwap:");
    if (const char* uid = field("\nUid:")) info.uid = static_cast<uid_t>(std::strtoul(uid, nullptr, 10));
    return info;
  }

  int oom_score_adj(pid_t tgid) override {
    auto adj = read_file("/proc/" + std::to_string(tgid) + "/oom_score_adj");
    return adj ? std::atoi(adj->c_str()) : 0;
  }

  int kill(pid_t tgid) override { return ::kill(tgid, SIGKILL) == 0 ? 0 : -errno; }

  HostMemInfo host() override {
    HostMemInfo h;
    h.vmstat = read_key_values("/proc/vmstat");
    std::ifstream meminfo("/proc/meminfo");
    std::string key, unit;
    uint64_t value, swap_total = 0, swap_free = 0;
    std::string line;
    while (std::getline(meminfo, line)) {
      std::istringstream ls(line);
      if (!(ls >> key >> value)) continue;
      if (key == "SwapTotal:") swap_total = value;
      if (key == "SwapFree:") swap_free = value;
    }
    h.swap_used_pages = swap_total > swap_free ? (swap_total - swap_free) * 1024 / page_size() : 0;
    if (auto size = read_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"))
      if (uint64_t bytes = std::strtoull(size->c_str(), nullptr, 10)) h.hpage_pmd_pages = bytes / page_size();
    for (int node : memory_nodes())
      h.node_vmstat[node] = read_key_values("/sys/devices/system/node/node" + std::to_string(node) + "/vmstat");
    return h;
  }

  unsigned swappiness() override {
    auto s = read_file("/proc/sys/vm/swappiness");
    return s ? static_cast<unsigned>(std::strtoul(s->c_str(), nullptr, 10)) : 60;
  }

  std::vector<int> memory_nodes() override {
    auto s = read_file("/sys/devices/system/node/has_memory");
    std::vector<int> nodes = s ? parse_node_list(*s) : std::vector<int>{};
    if (nodes.empty()) nodes.push_back(0);
    return nodes;
  }

  bool swap_accounting() override {
    // A v1 memory hierarchy on this host answers it directly.
    struct stat st;
    if (::stat("/sys/fs/cgroup/memory/memory.usage_in_bytes", &st) == 0)
      return ::stat("/sys/fs/cgroup/memory/memory.memsw.usage_in_bytes", &st) == 0;
    // Otherwise the kernel's rule: CONFIG_SWAP (/proc/swaps exists), unless
    // the command line turned it off (swapaccount=0, cgroup.memory=noswap).
    if (::stat("/proc/swaps", &st) != 0) return false;
    const std::string cmdline = read_file("/proc/cmdline").value_or("");
    std::istringstream words(cmdline);
    std::string word;
    while (words >> word) {
      if (word == "swapaccount=0") return false;
      if (word.rfind("cgroup.memory=", 0) == 0 && word.find("noswap") != std::string::npos) return false;
    }
    return true;
  }

  std::optional<std::string> fd_target(pid_t tid, int fd, int* err) override {
    const std::string path = "/proc/" + std::to_string(tid) + "/fd/" + std::to_string(static_cast<unsigned>(fd));
    char buf[PATH_MAX + 1];
    const ssize_t n = readlink(path.c_str(), buf, PATH_MAX);
    if (n < 0) {
      *err = (errno == ENOENT || errno == ESRCH) ? -EBADF : -errno;
      return std::nullopt;
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  int grab_fd(pid_t tid, int fd) override {
    // PIDFD_THREAD (O_EXCL, Linux 6.9) names the writing thread itself, whose
    // descriptor table may be its own; older kernels take the group leader.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid, O_EXCL));
    if (pidfd < 0) {
      pid_t tgid = tid;
      if (auto status = read_file("/proc/" + std::to_string(tid) + "/status")) {
        const size_t at = status->find("\nTgid:");
        if (at != std::string::npos) tgid = static_cast<pid_t>(std::strtol(status->c_str() + at + 6, nullptr, 10));
      }
      pidfd = static_cast<int>(syscall(SYS_pidfd_open, tgid, 0));
    }
    if (pidfd < 0) return -errno;
    const int got = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
    const int err = errno;
    ::close(pidfd);
    return got < 0 ? -err : got;
  }

  void signal(int fd) override {
    const uint64_t one = 1;
    if (::write(fd, &one, sizeof one) < 0) spdlog::debug("eventfd signal: {}", strerror(errno));
  }

  void close_fd(int fd) override { ::close(fd); }

 private:
  const uint64_t page_size_ = [] {
    const long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? static_cast<uint64_t>(ps) : uint64_t{4096};
  }();
};

}  // namespace

std::unique_ptr<MemoryHost> make_proc_memory_host() { return std::make_unique<ProcMemoryHost>(); }

// ---- settings -----------------------------------------------------------------

MemoryController::Settings MemoryController::parse_settings(const std::vector<std::string>& settings) {
  Settings out;
  for (const std::string& s : settings) {
    const size_t eq = s.find('=');
    const std::string key = s.substr(0, eq);
    const std::optional<std::string> value = eq == std::string::npos ? std::nullopt : std::optional(s.substr(eq + 1));
    auto flag = [&](const char* name) {
      if (!value || *value == "1") return true;
      if (*value == "0") return false;
      throw std::invalid_argument("memory." + std::string(name) + " takes 0 or 1, not '" + *value + "'");
    };
    if (key == "oom_kill") {
      out.oom_kill = flag("oom_kill");
    } else if (key == "memsw") {
      out.memsw = flag("memsw");
    } else {
      throw std::invalid_argument("unknown memory setting 'memory." + key + "' (known: memory.oom_kill, memory.memsw)");
    }
  }
  return out;
}

// ---- lifecycle ------------------------------------------------------------------

MemoryController::MemoryController(std::unique_ptr<MemoryHost> host, Settings settings)
    : host_(std::move(host)), settings_(settings) {
  page_size_ = host_->page_size();
  page_counter_max_ = static_cast<uint64_t>(LONG_MAX) / page_size_;  // PAGE_COUNTER_MAX
  memsw_files_ = settings_.memsw ? *settings_.memsw : host_->swap_accounting();
  host_swappiness_ = host_->swappiness();
  nodes_ = host_->memory_nodes();
  if (nodes_.empty()) nodes_.push_back(0);
}

// The engine destroys its cgroups (and their css) before its controllers.
MemoryController::~MemoryController() = default;

MemCss::~MemCss() {
  if (!host) return;
  for (const MemEventRegistration& reg : registrations)
    if (reg.fd >= 0) host->close_fd(reg.fd);
}

std::unique_ptr<Css> MemoryController::css_alloc(Cgroup& cgroup, Css* parent_css) {
  auto css = std::make_unique<MemCss>();
  css->host = host_.get();
  auto* parent = static_cast<MemCss*>(parent_css);
  css->memory.max = css->memsw.max = css->kmem.max = css->tcpmem.max = page_counter_max_;
  css->soft_limit = page_counter_max_;
  if (parent) {
    // mem_cgroup_css_alloc: swappiness and oom_kill_disable are inherited;
    // move_charge_at_immigrate is not.
    css->swappiness = parent->swappiness;
    css->oom_kill_disable = parent->oom_kill_disable;
    css->depth = parent->depth + 1;
  } else {
    css->swappiness = host_swappiness_;
    root_ = css.get();
    orphans_ = std::make_unique<MemCss>();
    orphans_->parent = root_;
    orphans_->depth = 1;
  }
  return css;
}

void MemoryController::css_offline(Css& dead_css) {
  auto& dead = static_cast<MemCss&>(dead_css);
  MemCss* parent = dead.mem_parent();
  if (!parent) return;
  if (parent == root_) parent = orphans_.get();
  // The charges of a removed cgroup stay in its parent (the kernel keeps the
  // dying memcg's pages in the parent's counters until they are freed).
  for (auto& [tgid, p] : procs_) {
    if (p.owner == &dead) p.owner = parent;
    for (Charge& c : p.charges)
      if (c.css == &dead) c.css = parent;
    // Merge neighbours that now name the same cgroup.
    std::vector<Charge> merged;
    for (Charge& c : p.charges) {
      if (!merged.empty() && merged.back().css == c.css) {
        for (int t = 0; t < kNrMemTypes; ++t) merged.back().pages[t] += c.pages[t];
      } else {
        merged.push_back(c);
      }
    }
    p.charges = std::move(merged);
  }
  for (int t = 0; t < kNrMemTypes; ++t) parent->local[t] += dead.local[t];
  dead.local = {};
  parent->precharge += dead.precharge;
  dead.precharge = 0;
  parent->inherited_events.add(dead.events);
  parent->inherited_events.add(dead.inherited_events);
  dead.events = {};
  dead.inherited_events = {};
  // memcg1_css_offline: every registration is removed, and its eventfd
  // signalled once ("the event is going away").
  for (MemEventRegistration& reg : dead.registrations) {
    if (reg.fd < 0) continue;
    host_->signal(reg.fd);
    host_->close_fd(reg.fd);
  }
  dead.registrations.clear();
  recompute();
}

// ---- the ledger -------------------------------------------------------------------

MemCss& MemoryController::css_of(const CssSet* cset) const { return *static_cast<MemCss*>(cset->css(*this)); }

MemoryController::Proc& MemoryController::ensure_proc(pid_t tgid, MemCss* owner, uint64_t start_time) {
  auto it = procs_.find(tgid);
  if (it != procs_.end()) {
    if (start_time == 0 || it->second.start_time == 0 || it->second.start_time == start_time) {
      if (it->second.start_time == 0) it->second.start_time = start_time;
      return it->second;
    }
    uncharge_all(it->second);  // the pid names another process now
    procs_.erase(it);
  }
  Proc& p = procs_[tgid];
  p.tgid = tgid;
  p.start_time = start_time;
  p.owner = owner;
  return p;
}

void MemoryController::add_charge(std::vector<Charge>& charges, MemCss* css, int type, uint64_t pages) {
  if (charges.empty() || charges.back().css != css) {
    // One entry per cgroup: an older entry of the same cgroup joins the
    // newest position.
    Charge entry{css, {}};
    for (auto it = charges.begin(); it != charges.end(); ++it) {
      if (it->css == css) {
        entry = *it;
        charges.erase(it);
        break;
      }
    }
    charges.push_back(entry);
  }
  charges.back().pages[type] += pages;
}

void MemoryController::update_proc(Proc& p, const ProcMemInfo& info, std::vector<MemCss*>* grew) {
  for (int t = 0; t < kNrMemTypes; ++t) {
    uint64_t charged = 0;
    for (const Charge& c : p.charges) charged += c.pages[t];
    const uint64_t now = info.pages[t];
    if (now > charged) {
      // Growth is charged where the leader is now.
      const uint64_t d = now - charged;
      add_charge(p.charges, p.owner, t, d);
      p.owner->local[t] += d;
      if (!p.owner->is_root()) {
        if (t != kMemSwap) p.owner->events.pgpgin += d;
        if (grew) grew->push_back(p.owner);
      }
    } else if (now < charged) {
      // A shrink uncharges the newest charges first.
      uint64_t d = charged - now;
      for (auto it = p.charges.rbegin(); it != p.charges.rend() && d; ++it) {
        const uint64_t x = std::min(it->pages[t], d);
        it->pages[t] -= x;
        it->css->local[t] -= x;
        if (!it->css->is_root() && t != kMemSwap) it->css->events.pgpgout += x;
        d -= x;
      }
    }
  }
  std::erase_if(p.charges, [](const Charge& c) { return all_zero(c.pages); });
  if (p.seen && !p.owner->is_root()) {
    const uint64_t dmin = info.minflt >= p.minflt ? info.minflt - p.minflt : 0;
    const uint64_t dmaj = info.majflt >= p.majflt ? info.majflt - p.majflt : 0;
    p.owner->events.pgfault += dmin + dmaj;
    p.owner->events.pgmajfault += dmaj;
  }
  p.seen = true;
  p.minflt = info.minflt;
  p.majflt = info.majflt;
  p.last = info.pages;
  p.uid = info.uid;
  p.comm = info.comm;
}

void MemoryController::uncharge_all(Proc& p) {
  for (const Charge& c : p.charges) {
    for (int t = 0; t < kNrMemTypes; ++t) {
      c.css->local[t] -= c.pages[t];
      if (!c.css->is_root() && t != kMemSwap) c.css->events.pgpgout += c.pages[t];
    }
  }
  p.charges.clear();
}

template <typename Fn>
void MemoryController::for_each_css(MemCss& css, Fn&& fn) {
  fn(css);
  for (auto& [name, child] : css.cgroup->children())
    if (auto* c = static_cast<MemCss*>(child->css(ssid()))) for_each_css(*c, fn);
}

bool MemoryController::in_subtree(const MemCss* css, const MemCss* top) const {
  for (; css; css = css->mem_parent())
    if (css == top) return true;
  return false;
}

void MemoryController::recompute() {
  if (root_ && bound()) recompute(*root_, 0);
}

void MemoryController::recompute(MemCss& css, uint64_t depth) {
  css.depth = depth;
  MemPages children{};
  uint64_t children_precharge = 0;
  css.hier_events = css.events;
  css.hier_events.add(css.inherited_events);
  for (auto& [name, child] : css.cgroup->children()) {
    auto* c = static_cast<MemCss*>(child->css(ssid()));
    if (!c) continue;
    recompute(*c, depth + 1);
    for (int t = 0; t < kNrMemTypes; ++t) children[t] += c->hier[t];
    children_precharge += c->hier_precharge;
    css.hier_events.add(c->hier_events);
  }
  if (css.is_root() && orphans_) {
    for (int t = 0; t < kNrMemTypes; ++t) children[t] += orphans_->local[t];
    css.hier_events.add(orphans_->events);
    css.hier_events.add(orphans_->inherited_events);
  }
  for (int t = 0; t < kNrMemTypes; ++t) css.hier[t] = css.local[t] + children[t];
  css.hier_precharge = css.precharge + children_precharge;
  if (css.is_root()) {
    // try_charge never charges the root itself: its counters see only the
    // children's charges.
    css.counter_mem = mem_pages(children) + children_precharge;
    css.counter_memsw = css.counter_mem + children[kMemSwap];
  } else {
    css.counter_mem = mem_pages(css.hier) + css.hier_precharge;
    css.counter_memsw = css.counter_mem + css.hier[kMemSwap];
  }
}

void MemoryController::update_watermarks() {
  if (!root_ || !bound()) return;
  for_each_css(*root_, [](MemCss& c) {
    c.memory.watermark = std::max(c.memory.watermark, c.counter_mem);
    c.memsw.watermark = std::max(c.memsw.watermark, c.counter_memsw);
  });
}

void MemoryController::sample() {
  if (!root_ || !bound()) return;
  last_sample_ = std::chrono::steady_clock::now();
  std::vector<MemCss*> grew;
  for (auto it = procs_.begin(); it != procs_.end();) {
    Proc& p = it->second;
    auto info = host_->process(p.tgid);
    if (!info || info->dying() || (p.start_time && info->start_time != p.start_time)) {
      uncharge_all(p);  // exited: its memory is freed
      it = procs_.erase(it);
      continue;
    }
    if (!p.start_time) p.start_time = info->start_time;
    update_proc(p, *info, &grew);
    const bool migrating = std::find(migrating_.begin(), migrating_.end(), p.tgid) != migrating_.end();
    const bool root_only = p.owner == root_ &&
                           std::all_of(p.charges.begin(), p.charges.end(), [&](const Charge& c) { return c.css == root_; });
    if (root_only && !migrating) {
      // Only the root knows it: nothing of it is shown anywhere (the root
      // reports global numbers), so it need not be followed.
      uncharge_all(p);
      it = procs_.erase(it);
      continue;
    }
    ++it;
  }
  recompute();
  update_watermarks();
  check_limits(grew);
  check_thresholds();
}

void MemoryController::maybe_sample() {
  if (std::chrono::steady_clock::now() - last_sample_ >= kForkSampleInterval) sample();
}

void MemoryController::refresh(Engine& engine) {
  engine.sync();
  sample();
}

// ---- limits, OOM and events ------------------------------------------------------------

void MemoryController::check_limits(const std::vector<MemCss*>& grew) {
  // failcnt: a charge that did not fit fails at the lowest counter over its
  // limit (page_counter_try_charge), memsw first; only the memory counter
  // counts failures (track_failcnt).
  std::vector<MemCss*> counted;
  for (MemCss* g : grew) {
    MemCss* failed = nullptr;
    bool memsw_failed = false;
    for (MemCss* c = g; c && !failed; c = c->mem_parent())
      if (c->counter_memsw > c->memsw.max) failed = c, memsw_failed = true;
    for (MemCss* c = g; c && !failed; c = c->mem_parent())
      if (c->counter_mem > c->memory.max) failed = c;
    if (!failed || memsw_failed) continue;
    if (std::find(counted.begin(), counted.end(), failed) != counted.end()) continue;
    counted.push_back(failed);
    ++failed->memory.failcnt;
  }

  // Over-limit cgroups are the OOM domains; deepest first.
  std::vector<MemCss*> domains, entering;
  for_each_css(*root_, [&](MemCss& c) {
    const bool over = !c.is_root() && (c.counter_mem > c.memory.max || c.counter_memsw > c.memsw.max);
    if (over && !c.over) entering.push_back(&c);
    if (!over) c.oom_warned = false;
    c.over = over;
    if (over) domains.push_back(&c);
  });
  std::stable_sort(domains.begin(), domains.end(), [](MemCss* a, MemCss* b) { return a->depth > b->depth; });
  // under_oom: set on the OOM domain and its whole subtree
  // (mem_cgroup_mark_under_oom).
  for_each_css(*root_, [](MemCss& c) { c.under_oom = false; });
  for (MemCss* d : domains) for_each_css(*d, [](MemCss& c) { c.under_oom = true; });

  // Pages of killed processes that are still exiting, per cgroup and its
  // ancestors: they are being freed and do not count against limits.
  std::map<const MemCss*, uint64_t> dying;
  for (auto& [tgid, p] : procs_) {
    if (!p.killed) continue;
    for (const Charge& ch : p.charges)
      for (MemCss* c = ch.css; c; c = c->mem_parent()) dying[c] += mem_pages(ch.pages) + ch.pages[kMemSwap];
  }
  // Each OOM episode notifies the domain's oom_control listeners once
  // (mem_cgroup_oom_notify): when it starts, and at each kill.
  for (MemCss* d : domains) {
    const bool killed = settings_.oom_kill && oom_kill(*d, dying);
    if (killed || std::find(entering.begin(), entering.end(), d) != entering.end()) notify_oom(*d);
  }
}

bool MemoryController::oom_kill(MemCss& domain, std::map<const MemCss*, uint64_t>& dying) {
  const uint64_t freeing = dying.count(&domain) ? dying[&domain] : 0;
  const uint64_t mem = domain.counter_mem > freeing ? domain.counter_mem - freeing : 0;
  const uint64_t memsw = domain.counter_memsw > freeing ? domain.counter_memsw - freeing : 0;
  if (mem <= domain.memory.max && memsw <= domain.memsw.max) return false;
  if (domain.oom_kill_disable) return false;  // tasks would wait for userspace
  // A victim of this domain is still exiting: wait for it (the OOM killer
  // aborts its selection on an exiting victim).
  for (auto& [tgid, p] : procs_)
    if (p.killed && in_subtree(p.owner, &domain)) return false;

  // oom_badness: resident pages plus swap, adjusted by oom_score_adj in
  // thousandths of the domain's limit; OOM_SCORE_ADJ_MIN is never killed.
  struct Candidate {
    long long points;
    int adj;
    Proc* proc;
  };
  std::vector<Candidate> candidates;
  const uint64_t totalpages = std::min(domain.memory.max, page_counter_max_);
  for (auto& [tgid, p] : procs_) {
    if (!in_subtree(p.owner, &domain) || p.unkillable) continue;
    const int adj = host_->oom_score_adj(tgid);
    if (adj == kOomScoreAdjMin) continue;
    long long points = static_cast<long long>(mem_pages(p.last) + p.last[kMemSwap]);
    points += static_cast<long long>(adj) * static_cast<long long>(totalpages / 1000);
    candidates.push_back({points, adj, &p});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.points > b.points; });
  const std::string path = domain.cgroup->path();
  const uint64_t kb = page_size_ / 1024;
  for (const Candidate& c : candidates) {
    Proc& victim = *c.proc;
    const int err = host_->kill(victim.tgid);
    if (err && err != -ESRCH) {
      // The emulator lacks the right to kill it (another user's process
      // under an unprivileged emulator): it is never chosen again.
      spdlog::warn("Memory cgroup out of memory: cannot kill process {} ({}) in {}: {}", victim.tgid, victim.comm,
                   path, strerror(-err));
      victim.unkillable = true;
      continue;
    }
    victim.killed = true;
    ++victim.owner->oom_kill;  // counted on the victim's own memcg (v1: not propagated)
    spdlog::warn(
        "Memory cgroup out of memory: Killed process {} ({}) anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:{} "
        "oom_score_adj:{}; {} usage {} bytes over its limit {} bytes",
        victim.tgid, victim.comm, victim.last[kMemAnon] * kb, victim.last[kMemFile] * kb,
        victim.last[kMemShmem] * kb, victim.uid, c.adj, path, domain.counter_mem * page_size_,
        domain.memory.max * page_size_);
    for (const Charge& ch : victim.charges)
      for (MemCss* m = ch.css; m; m = m->mem_parent()) dying[m] += mem_pages(ch.pages) + ch.pages[kMemSwap];
    return true;
  }
  if (!domain.oom_warned)
    spdlog::warn("Memory cgroup out of memory: {} is over its limit and has no killable process", path);
  domain.oom_warned = true;
  return false;
}

void MemoryController::notify_oom(MemCss& css) {
  for_each_css(css, [&](MemCss& c) {
    for (const MemEventRegistration& reg : c.registrations)
      if (reg.kind == MemEventRegistration::Kind::kOom && reg.fd >= 0) host_->signal(reg.fd);
  });
}

uint64_t MemoryController::root_usage(bool memsw) {
  // mem_cgroup_usage(root): NR_FILE_PAGES + NR_ANON_MAPPED, plus swap in use.
  const HostMemInfo h = host_->host();
  uint64_t pages = h.get("nr_file_pages") + h.get("nr_anon_pages");
  if (memsw) pages += h.swap_used_pages;
  return pages;
}

void MemoryController::check_thresholds() {
  for_each_css(*root_, [&](MemCss& c) {
    for (int k = 0; k < 2; ++k) {
      const auto kind = k ? MemEventRegistration::Kind::kMemswUsage : MemEventRegistration::Kind::kUsage;
      bool any = false;
      for (const auto& r : c.registrations) any |= r.kind == kind;
      if (!any) continue;
      const uint64_t usage = c.is_root() ? root_usage(k) : c.counter_usage(k);
      const uint64_t old = c.threshold_usage[k];
      // __mem_cgroup_threshold: every threshold crossed since the last check,
      // either way, is signalled.
      for (const auto& r : c.registrations)
        if (r.kind == kind && (r.threshold <= old) != (r.threshold <= usage) && r.fd >= 0) host_->signal(r.fd);
      c.threshold_usage[k] = usage;
    }
  });
}

void MemoryController::register_event(MemCss& css, MemEventRegistration reg) {
  using Kind = MemEventRegistration::Kind;
  if (reg.kind == Kind::kUsage || reg.kind == Kind::kMemswUsage) {
    const int k = reg.kind == Kind::kMemswUsage;
    bool first = true;
    for (const auto& r : css.registrations) first &= r.kind != reg.kind;
    if (first) css.threshold_usage[k] = css.is_root() ? root_usage(k) : css.counter_usage(k);
  }
  css.registrations.push_back(reg);
  // mem_cgroup_oom_register_event: already in OOM? Signal at once.
  if (reg.kind == Kind::kOom && css.under_oom && reg.fd >= 0) host_->signal(reg.fd);
}

// ---- migration --------------------------------------------------------------------------

MemCss* MemoryController::try_precharge(MemCss& to, uint64_t pages) {
  // try_charge: the root is never charged; memsw is charged before memory,
  // each all the way up, and the first counter without room refuses. Only
  // the memory counter counts the failure.
  for (MemCss* c = &to; c && !c->is_root(); c = c->mem_parent())
    if (c->counter_memsw + pages > c->memsw.max) return c;
  for (MemCss* c = &to; c && !c->is_root(); c = c->mem_parent()) {
    if (c->counter_mem + pages > c->memory.max) {
      ++c->memory.failcnt;
      return c;
    }
  }
  return nullptr;
}

int MemoryController::can_attach(TaskSet& tset) {
  pending_.reset();
  migrating_.clear();
  // Every moving thread group enters the ledger with its current placement,
  // so that what it has now stays charged where it is.
  for (const TaskMove& mv : tset.moves) {
    const pid_t tgid = mv.task->tgid;
    migrating_.push_back(tgid);
    if (procs_.count(tgid)) continue;
    // A leader outside the root memcg is always known already; one that is
    // not known is in the root unless it moves now.
    MemCss* owner = root_;
    uint64_t start_time = 0;
    for (const TaskMove& m2 : tset.moves) {
      if (m2.task->tid == tgid) {
        owner = &css_of(m2.src);
        start_time = m2.task->start_time;
      }
    }
    ensure_proc(tgid, owner, start_time);
  }
  sample();

  // memcg1_can_attach (kernels up to 6.12): only a set holding a thread-group
  // leader moves charges, as set on the destination at this moment.
  const TaskMove* leader = nullptr;
  for (const TaskMove& mv : tset.moves)
    if (mv.task->tid == mv.task->tgid) {
      leader = &mv;
      break;
    }
  if (!leader) return 0;
  MemCss& to = css_of(leader->dst);
  MemCss& from = css_of(leader->src);
  const uint64_t flags = to.move_charge_at_immigrate;
  if (!flags || &to == &from) return 0;
  auto it = procs_.find(leader->task->tgid);
  if (it == procs_.end()) return 0;  // gone meanwhile
  // The pages of its mm charged to the cgroup it leaves: anonymous pages and
  // their swap with bit 0 (MOVE_ANON), file and shmem pages with bit 1
  // (MOVE_FILE).
  MemPages pages{};
  for (const Charge& c : it->second.charges) {
    if (c.css != &from) continue;
    if (flags & 1) pages[kMemAnon] += c.pages[kMemAnon], pages[kMemSwap] += c.pages[kMemSwap];
    if (flags & 2) pages[kMemFile] += c.pages[kMemFile], pages[kMemShmem] += c.pages[kMemShmem];
  }
  const uint64_t total = pages[0] + pages[1] + pages[2] + pages[3];
  if (total == 0) return 0;
  if (MemCss* refused = try_precharge(to, total)) {
    spdlog::debug("memory: moving the charge of {} ({} pages) into {}: no room in {}", it->first, total,
                  to.cgroup->path(), refused->cgroup->path());
    migrating_.clear();
    return -ENOMEM;
  }
  // The precharge is visible to every counter up to the root until the move
  // ends (the kernel's mc.precharge), as are the watermarks it raises.
  to.precharge += total;
  pending_ = PendingMove{it->first, &from, &to, pages, total};
  recompute();
  update_watermarks();
  return 0;
}

void MemoryController::cancel_attach(TaskSet& tset) {
  // mem_cgroup_clear_mc: the precharge is cancelled.
  if (pending_) {
    pending_->to->precharge -= pending_->total;
    pending_.reset();
    recompute();
  }
  migrating_.clear();
}

void MemoryController::attach(TaskSet& tset) {
  for (const TaskMove& mv : tset.moves) {
    if (mv.task->tid != mv.task->tgid) continue;
    Proc& p = ensure_proc(mv.task->tgid, &css_of(mv.dst), 0);
    p.owner = &css_of(mv.dst);
  }
  if (pending_) {
    // memcg1_move_task: the precharged pages change cgroup, in place in the
    // ledger (they keep their age).
    PendingMove mc = *pending_;
    pending_.reset();
    mc.to->precharge -= mc.total;
    auto it = procs_.find(mc.tgid);
    if (it != procs_.end()) {
      auto& charges = it->second.charges;
      MemPages left = mc.pages;
      for (size_t i = 0; i < charges.size(); ++i) {
        if (charges[i].css != mc.from) continue;
        MemPages moved{};
        for (int t = 0; t < kNrMemTypes; ++t) {
          moved[t] = std::min(left[t], charges[i].pages[t]);
          left[t] -= moved[t];
          charges[i].pages[t] -= moved[t];
          mc.from->local[t] -= moved[t];
          mc.to->local[t] += moved[t];
        }
        // mem_cgroup_move_account counts a charge in the destination and an
        // uncharge in the source for each page.
        if (!mc.to->is_root()) mc.to->events.pgpgin += mem_pages(moved);
        if (!mc.from->is_root()) mc.from->events.pgpgout += mem_pages(moved);
        charges.insert(charges.begin() + static_cast<long>(i) + 1, Charge{mc.to, moved});
        ++i;
      }
      std::erase_if(charges, [](const Charge& c) { return all_zero(c.pages); });
      // One entry per cgroup, keeping the newest position.
      std::vector<Charge> merged;
      for (auto r = charges.rbegin(); r != charges.rend(); ++r) {
        auto same = std::find_if(merged.begin(), merged.end(), [&](const Charge& c) { return c.css == r->css; });
        if (same == merged.end()) {
          merged.push_back(*r);
        } else {
          for (int t = 0; t < kNrMemTypes; ++t) same->pages[t] += r->pages[t];
        }
      }
      charges.assign(merged.rbegin(), merged.rend());
    }
  }
  migrating_.clear();
  recompute();
  update_watermarks();
}

void MemoryController::fork(const Task& task) {
  if (!bound() || !root_ || task.tid != task.tgid || !task.cset) return;
  MemCss& owner = css_of(task.cset);
  if (&owner == root_) return;
  // A new process is charged where it was born.
  Proc& p = ensure_proc(task.tgid, &owner, task.start_time);
  p.owner = &owner;
  maybe_sample();
}

void MemoryController::exit(const Task& task) {
  // Its memory is uncharged when a sample finds it gone (every read samples).
}

std::vector<MemoryController::ChargeView> MemoryController::charges_of(pid_t tgid) const {
  std::vector<ChargeView> out;
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return out;
  for (const Charge& c : it->second.charges) out.push_back({c.css, c.pages});
  return out;
}

// ---- limit writes ---------------------------------------------------------------------------

int MemoryController::resize_limit(MemCss& css, uint64_t pages, bool memsw) {
  // mem_cgroup_resize_max: memory.max <= memsw.max always holds; a limit
  // below the usage fails once reclaim gives up (the emulator cannot
  // reclaim a process's memory).
  const bool invariant = memsw ? pages >= css.memory.max : pages <= css.memsw.max;
  if (!invariant) return -EINVAL;
  const uint64_t usage = css.counter_usage(memsw);
  if (usage > pages) return -EBUSY;
  (memsw ? css.memsw : css.memory).max = pages;
  return 0;
}

void MemoryController::reset_watermark(MemCss& css, PageCounter& counter) {
  // page_counter_reset_watermark: the watermark restarts at the usage.
  if (&counter == &css.memory) counter.watermark = css.counter_mem;
  else if (&counter == &css.memsw) counter.watermark = css.counter_memsw;
  else counter.watermark = 0;
}

// ---- memory.stat and memory.numa_stat ------------------------------------------------------

namespace {

// memcg1_stat_format's rows, in order, for one set of numbers.
struct StatRow {
  const char* name;
  uint64_t value;
};

struct StatValues {
  uint64_t cache, rss, rss_huge, shmem, mapped_file, dirty, writeback, ws_anon, ws_file, swap, swapcached;
  uint64_t pgpgin, pgpgout, pgfault, pgmajfault;
  uint64_t inactive_anon, active_anon, inactive_file, active_file, unevictable;

  std::vector<StatRow> rows() const {
    return {{"cache", cache},
            {"rss", rss},
            {"rss_huge", rss_huge},
            {"shmem", shmem},
            {"mapped_file", mapped_file},
            {"dirty", dirty},
            {"writeback", writeback},
            {"workingset_refault_anon", ws_anon},
            {"workingset_refault_file", ws_file},
            {"swap", swap},
            {"swapcached", swapcached},
            {"pgpgin", pgpgin},
            {"pgpgout", pgpgout},
            {"pgfault", pgfault},
            {"pgmajfault", pgmajfault},
            {"inactive_anon", inactive_anon},
            {"active_anon", active_anon},
            {"inactive_file", inactive_file},
            {"active_file", active_file},
            {"unevictable", unevictable}};
  }
};

// What the ledger knows of a set of pages: every resident page is mapped;
// new pages start on the inactive lists; nothing is dirty, huge or locked as
// far as /proc/<pid>/status tells.
StatValues from_pages(const MemPages& p, const MemEvents& e, uint64_t ps) {
  StatValues v{};
  v.cache = (p[kMemFile] + p[kMemShmem]) * ps;
  v.rss = p[kMemAnon] * ps;
  v.shmem = p[kMemShmem] * ps;
  v.mapped_file = (p[kMemFile] + p[kMemShmem]) * ps;
  v.swap = p[kMemSwap] * ps;
  v.pgpgin = e.pgpgin;
  v.pgpgout = e.pgpgout;
  v.pgfault = e.pgfault;
  v.pgmajfault = e.pgmajfault;
  v.inactive_anon = (p[kMemAnon] + p[kMemShmem]) * ps;
  v.inactive_file = p[kMemFile] * ps;
  return v;
}

uint64_t sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

std::string MemoryController::stat_text(MemCss& css) {
  const uint64_t ps = page_size_;
  StatValues local{}, total{};
  if (!css.is_root()) {
    local = from_pages(css.local, css.events, ps);
    total = from_pages(css.hier, css.hier_events, ps);
  } else {
    // The root reports the host's global state, as the kernel's does; its
    // own share is what its children do not hold.
    const HostMemInfo h = host_->host();
    total.cache = h.get("nr_file_pages") * ps;
    total.rss = h.get("nr_anon_pages") * ps;
    total.rss_huge = h.get("nr_anon_transparent_hugepages") * h.hpage_pmd_pages * ps;
    total.shmem = h.get("nr_shmem") * ps;
    total.mapped_file = h.get("nr_mapped") * ps;
    total.dirty = h.get("nr_dirty") * ps;
    total.writeback = h.get("nr_writeback") * ps;
    total.ws_anon = h.get("workingset_refault_anon");
    total.ws_file = h.get("workingset_refault_file");
    total.swap = h.swap_used_pages * ps;
    total.swapcached = h.get("nr_swapcached") * ps;
    total.pgpgin = css.hier_events.pgpgin;
    total.pgpgout = css.hier_events.pgpgout;
    total.pgfault = h.get("pgfault");
    total.pgmajfault = h.get("pgmajfault");
    total.inactive_anon = h.get("nr_inactive_anon") * ps;
    total.active_anon = h.get("nr_active_anon") * ps;
    total.inactive_file = h.get("nr_inactive_file") * ps;
    total.active_file = h.get("nr_active_file") * ps;
    total.unevictable = h.get("nr_unevictable") * ps;
    MemPages children{};
    MemEvents child_events{};
    for (auto& [name, child] : css.cgroup->children()) {
      auto* c = static_cast<MemCss*>(child->css(ssid()));
      for (int t = 0; t < kNrMemTypes; ++t) children[t] += c->hier[t];
      child_events.add(c->hier_events);
    }
    const StatValues kids = from_pages(children, child_events, ps);
    local = total;
    auto own = [](uint64_t& field, uint64_t kid) { field = sub0(field, kid); };
    own(local.cache, kids.cache);
    own(local.rss, kids.rss);
    own(local.shmem, kids.shmem);
    own(local.mapped_file, kids.mapped_file);
    own(local.swap, kids.swap);
    own(local.pgfault, kids.pgfault);
    own(local.pgmajfault, kids.pgmajfault);
    own(local.inactive_anon, kids.inactive_anon);
    own(local.inactive_file, kids.inactive_file);
    local.pgpgin = local.pgpgout = 0;
  }
  std::string out;
  for (const StatRow& r : local.rows()) out += std::string(r.name) + " " + std::to_string(r.value) + "\n";
  uint64_t memory = page_counter_max_, memsw = page_counter_max_;
  for (MemCss* c = &css; c; c = c->mem_parent()) {
    memory = std::min(memory, c->memory.max);
    memsw = std::min(memsw, c->memsw.max);
  }
  out += "hierarchical_memory_limit " + std::to_string(memory * ps) + "\n";
  out += "hierarchical_memsw_limit " + std::to_string(memsw * ps) + "\n";
  for (const StatRow& r : total.rows()) out += "total_" + std::string(r.name) + " " + std::to_string(r.value) + "\n";
  return out;
}

std::string MemoryController::numa_stat_text(MemCss& css) {
  // memcg_numa_stat_show: LRU pages (total, file, anon, unevictable), per
  // node with memory; then the same hierarchically. The emulator does not
  // know where a process's pages are: they are shown on the first node.
  struct Lru {
    uint64_t file = 0, anon = 0, unevictable = 0;
    uint64_t total() const { return file + anon + unevictable; }
  };
  auto of_pages = [](const MemPages& p) { return Lru{p[kMemFile], p[kMemAnon] + p[kMemShmem], 0}; };
  std::map<int, Lru> local, hier;
  for (int n : nodes_) local[n] = hier[n] = Lru{};
  if (!css.is_root()) {
    local[nodes_.front()] = of_pages(css.local);
    hier[nodes_.front()] = of_pages(css.hier);
  } else {
    const HostMemInfo h = host_->host();
    for (int n : nodes_) {
      auto it = h.node_vmstat.find(n);
      if (it == h.node_vmstat.end()) continue;
      auto get = [&](const char* k) {
        auto v = it->second.find(k);
        return v == it->second.end() ? uint64_t{0} : v->second;
      };
      hier[n] = Lru{get("nr_inactive_file") + get("nr_active_file"), get("nr_inactive_anon") + get("nr_active_anon"),
                    get("nr_unevictable")};
    }
    MemPages children{};
    for (auto& [name, child] : css.cgroup->children()) {
      auto* c = static_cast<MemCss*>(child->css(ssid()));
      for (int t = 0; t < kNrMemTypes; ++t) children[t] += c->hier[t];
    }
    local = hier;
    const Lru kids = of_pages(children);
    Lru& first = local[nodes_.front()];
    first.file = sub0(first.file, kids.file);
    first.anon = sub0(first.anon, kids.anon);
  }
  std::string out;
  auto lines = [&](const std::map<int, Lru>& per_node, const char* prefix) {
    auto line = [&](const char* name, uint64_t (*pick)(const Lru&)) {
      uint64_t sum = 0;
      for (auto& [n, l] : per_node) sum += pick(l);
      out += std::string(prefix) + name + "=" + std::to_string(sum);
      for (auto& [n, l] : per_node) out += " N" + std::to_string(n) + "=" + std::to_string(pick(l));
      out += "\n";
    };
    line("total", [](const Lru& l) { return l.total(); });
    line("file", [](const Lru& l) { return l.file; });
    line("anon", [](const Lru& l) { return l.anon; });
    line("unevictable", [](const Lru& l) { return l.unevictable; });
  };
  lines(local, "");
  lines(hier, "hierarchical_");
  return out;
}

// ---- control files ------------------------------------------------------------------------------

namespace {

enum CounterType { kCtrMem, kCtrMemsw, kCtrKmem, kCtrTcp };
enum CounterAttr { kAttrUsage, kAttrLimit, kAttrMaxUsage, kAttrFailcnt, kAttrSoftLimit };

MemoryController& ctl(const FileCall& c) { return *static_cast<MemoryController*>(c.engine.controller(kMemorySsid)); }
MemCss& mcss(const FileCall& c) { return *static_cast<MemCss*>(c.cgroup.css(kMemorySsid)); }

PageCounter& counter_of(MemCss& css, CounterType type) {
  switch (type) {
    case kCtrMem: return css.memory;
    case kCtrMemsw: return css.memsw;
    case kCtrKmem: return css.kmem;
    case kCtrTcp: return css.tcpmem;
  }
  return css.memory;
}

int out_u64(std::string& out, uint64_t v) {
  out = std::to_string(v) + "\n";
  return 0;
}

// mem_cgroup_read_u64.
template <CounterType Type, CounterAttr Attr>
int read_counter(const FileCall& c, std::string& out) {
  MemoryController& m = ctl(c);
  MemCss& css = mcss(c);
  m.refresh(c.engine);
  const uint64_t ps = m.page_size();
  switch (Attr) {
    case kAttrUsage:
      if (Type == kCtrMem || Type == kCtrMemsw) {
        const bool memsw = Type == kCtrMemsw;
        return out_u64(out, (css.is_root() ? m.root_usage(memsw) : css.counter_usage(memsw)) * ps);
      }
      return out_u64(out, 0);  // the emulator sees no kernel or socket memory
    case kAttrLimit:
      return out_u64(out, counter_of(css, Type).max * ps);
    case kAttrMaxUsage:
      return out_u64(out, counter_of(css, Type).watermark * ps);
    case kAttrFailcnt:
      return out_u64(out, counter_of(css, Type).failcnt);
    case kAttrSoftLimit:
      return out_u64(out, css.soft_limit * ps);
  }
  return -EINVAL;
}

// page_counter_memparse(buf, "-1").
int page_counter_memparse(std::string_view buf, const MemoryController& m, uint64_t* pages) {
  if (buf == "-1") {
    *pages = m.page_counter_max();
    return 0;
  }
  size_t used = 0;
  const unsigned long long bytes = memparse(buf, &used);
  if (used != buf.size()) return -EINVAL;
  *pages = std::min<uint64_t>(bytes / m.page_size(), m.page_counter_max());
  return 0;
}

void warn_once(bool& flag, const char* message) {
  if (flag) return;
  flag = true;
  spdlog::warn("{}", message);
}
bool g_warned_kmem = false, g_warned_hierarchy = false, g_warned_move_charge = false;

// mem_cgroup_write.
template <CounterType Type, CounterAttr Attr>
int write_limit(const FileCall& c, std::string_view in) {
  MemoryController& m = ctl(c);
  MemCss& css = mcss(c);
  uint64_t pages;
  if (int err = page_counter_memparse(strstrip(in), m, &pages)) return err;
  if (Attr == kAttrSoftLimit) {
    css.soft_limit = pages;  // stored and shown (6.18); soft limits reclaim nothing here
    return 0;
  }
  if (css.is_root()) return -EINVAL;  // "Can't set limit on root"
  switch (Type) {
    case kCtrMem:
    case kCtrMemsw:
      m.refresh(c.engine);
      return m.resize_limit(css, pages, Type == kCtrMemsw);
    case kCtrKmem:
      warn_once(g_warned_kmem,
                "kmem.limit_in_bytes is deprecated and will be removed. Writing any value to this file has no effect.");
      return 0;
    case kCtrTcp:
      css.tcpmem.max = pages;  // memcg_update_tcp_max: no socket memory is seen, so it always fits
      return 0;
  }
  return -EINVAL;
}

// mem_cgroup_reset: any content.
template <CounterType Type, CounterAttr Attr>
int write_reset(const FileCall& c, std::string_view) {
  MemoryController& m = ctl(c);
  MemCss& css = mcss(c);
  PageCounter& counter = counter_of(css, Type);
  if (Attr == kAttrMaxUsage) {
    m.refresh(c.engine);
    m.reset_watermark(css, counter);
  } else {
    counter.failcnt = 0;
  }
  return 0;
}

int write_u64(std::string_view in, uint64_t* v) {
  unsigned long long value;
  if (int err = kstrtoull(in, 0, &value)) return err;
  *v = value;
  return 0;
}

int read_stat(const FileCall& c, std::string& out) {
  MemoryController& m = ctl(c);
  m.refresh(c.engine);
  out = m.stat_text(mcss(c));
  return 0;
}

int read_numa_stat(const FileCall& c, std::string& out) {
  MemoryController& m = ctl(c);
  m.refresh(c.engine);
  out = m.numa_stat_text(mcss(c));
  return 0;
}

// mem_cgroup_force_empty_write: reclaims what it can and succeeds; the
// emulator cannot reclaim a process's resident memory.
int write_force_empty(const FileCall& c, std::string_view) {
  MemCss& css = mcss(c);
  if (css.is_root()) return -EINVAL;
  ctl(c).refresh(c.engine);
  return 0;
}

int read_use_hierarchy(const FileCall&, std::string& out) { return out_u64(out, 1); }
int write_use_hierarchy(const FileCall&, std::string_view in) {
  uint64_t v;
  if (int err = write_u64(in, &v)) return err;
  if (v == 1) return 0;
  warn_once(g_warned_hierarchy, "Non-hierarchical mode is deprecated.");
  return -EINVAL;
}

int read_swappiness(const FileCall& c, std::string& out) { return out_u64(out, mcss(c).swappiness); }
int write_swappiness(const FileCall& c, std::string_view in) {
  uint64_t v;
  if (int err = write_u64(in, &v)) return err;
  if (v > kMaxSwappiness) return -EINVAL;
  // On the root the kernel sets vm.swappiness; the emulator keeps its own.
  mcss(c).swappiness = v;
  return 0;
}

int read_move_charge(const FileCall& c, std::string& out) { return out_u64(out, mcss(c).move_charge_at_immigrate); }
// mem_cgroup_move_charge_write as in kernels up to 6.12 (MOVE_ANON|MOVE_FILE).
int write_move_charge(const FileCall& c, std::string_view in) {
  uint64_t v;
  if (int err = write_u64(in, &v)) return err;
  warn_once(g_warned_move_charge,
            "Cgroup memory moving (move_charge_at_immigrate) is deprecated. The emulator follows kernels up to 6.12.");
  if (v & ~uint64_t{3}) return -EINVAL;
  mcss(c).move_charge_at_immigrate = v;
  return 0;
}

int read_oom_control(const FileCall& c, std::string& out) {
  MemoryController& m = ctl(c);
  m.refresh(c.engine);
  MemCss& css = mcss(c);
  out = "oom_kill_disable " + std::to_string(css.oom_kill_disable ? 1 : 0) + "\nunder_oom " +
        std::to_string(css.under_oom ? 1 : 0) + "\noom_kill " + std::to_string(css.oom_kill) + "\n";
  return 0;
}
int write_oom_control(const FileCall& c, std::string_view in) {
  uint64_t v;
  if (int err = write_u64(in, &v)) return err;
  MemCss& css = mcss(c);
  if (css.is_root() || v > 1) return -EINVAL;
  css.oom_kill_disable = v == 1;
  if (!v) ctl(c).refresh(c.engine);  // memcg1_oom_recover: waiters retry now
  return 0;
}

// The setting of oom_control is oom_kill_disable alone, which its write takes.
int save_oom_control(const FileCall& c, std::string& out) {
  MemCss& css = mcss(c);
  if (css.is_root()) return -EINVAL;
  out = css.oom_kill_disable ? "1" : "0";
  return 0;
}

// Read by mode, but reading gives EINVAL (mem_cgroup_dummy_seq_show).
int read_pressure_level(const FileCall&, std::string&) { return -EINVAL; }
int read_empty(const FileCall&, std::string& out) {
  out.clear();
  return 0;
}

// ---- cgroup.event_control (memcg_write_event_control) ----

// vmpressure_register_event's argument: "level[,mode]", at most 19 bytes
// considered (MAX_VMPRESSURE_ARGS_LEN); later tokens are ignored.
int parse_pressure_args(std::string_view args) {
  args = args.substr(0, std::string_view("critical").size() + std::string_view("hierarchy").size() + 2);
  const size_t comma = args.find(',');
  const std::string_view level = args.substr(0, comma);
  if (level != "low" && level != "medium" && level != "critical") return -EINVAL;
  if (comma == std::string_view::npos) return 0;
  std::string_view rest = args.substr(comma + 1);
  const std::string_view mode = rest.substr(0, rest.find(','));
  if (mode != "default" && mode != "hierarchy" && mode != "local") return -EINVAL;
  return 0;
}

int write_event_control(const FileCall& c, std::string_view in) {
  using Kind = MemEventRegistration::Kind;
  MemoryController& m = ctl(c);
  MemCss& css = mcss(c);
  const std::string_view buf = strstrip(in);

  // "<event_fd> <control_fd>[ <args>]": simple_strtoul(…, 10) each, which
  // accepts an empty number (0).
  size_t used = 0;
  const auto efd = static_cast<unsigned>(simple_strtoull(buf, 10, &used));
  if (used >= buf.size() || buf[used] != ' ') return -EINVAL;
  const std::string_view after_efd = buf.substr(used + 1);
  const auto cfd = static_cast<unsigned>(simple_strtoull(after_efd, 10, &used));
  if (used < after_efd.size() && after_efd[used] != ' ') return -EINVAL;
  const std::string_view args = used < after_efd.size() ? after_efd.substr(used + 1) : std::string_view();

  // The descriptors are the writer's (fdget in the writing thread).
  int err = 0;
  auto event_target = m.host().fd_target(c.caller_tid, static_cast<int>(efd), &err);
  if (!event_target) return err;
  if (*event_target != "anon_inode:[eventfd]") return -EINVAL;  // eventfd_ctx_fileget
  auto control_target = m.host().fd_target(c.caller_tid, static_cast<int>(cfd), &err);
  if (!control_target) return err;

  const std::string_view path = *control_target;
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::string_view dir = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  // file_permission(cfile, MAY_READ): the write-only files of a cgroup
  // directory (as created) are readable by root only.
  static constexpr std::string_view kWriteOnly[] = {"memory.force_empty", "cgroup.event_control", "devices.allow",
                                                    "devices.deny"};
  if (c.opener.uid != 0 && std::find(std::begin(kWriteOnly), std::end(kWriteOnly), name) != std::end(kWriteOnly))
    return -EACCES;
  Kind kind;
  if (name == "memory.usage_in_bytes") kind = Kind::kUsage;
  else if (name == "memory.oom_control") kind = Kind::kOom;
  else if (name == "memory.pressure_level") kind = Kind::kPressure;
  else if (name == "memory.memsw.usage_in_bytes" && m.has_memsw()) kind = Kind::kMemswUsage;
  else return -EINVAL;
  // The control file must be in this cgroup's directory. The emulator sees
  // the path the writer's descriptor names: a child's directory must end
  // with the cgroup's path in its hierarchy.
  if (!css.is_root()) {
    const std::string rel = c.cgroup.path();
    if (dir.size() <= rel.size() || !dir.ends_with(rel)) return -EINVAL;
  }

  MemEventRegistration reg{kind, -1, 0};
  switch (kind) {
    case Kind::kUsage:
    case Kind::kMemswUsage:
      if (int e = page_counter_memparse(args, m, &reg.threshold)) return e;
      break;
    case Kind::kPressure:
      if (int e = parse_pressure_args(args)) return e;
      break;
    case Kind::kOom:
      break;
  }
  m.refresh(c.engine);
  reg.fd = m.host().grab_fd(c.caller_tid, static_cast<int>(efd));
  if (reg.fd < 0) {
    spdlog::warn("cgroup.event_control: cannot take the writer's eventfd {} ({}): this registration will never be "
                 "signalled",
                 efd, strerror(-reg.fd));
    reg.fd = -1;
  }
  m.register_event(css, reg);
  return 0;
}

constexpr ControlFile kMemoryFiles[] = {
    {.name = "usage_in_bytes", .read = read_counter<kCtrMem, kAttrUsage>},
    {.name = "max_usage_in_bytes", .flags = kCftNotSaved,
     .read = read_counter<kCtrMem, kAttrMaxUsage>,
     .write = write_reset<kCtrMem, kAttrMaxUsage>},
    {.name = "limit_in_bytes", .read = read_counter<kCtrMem, kAttrLimit>, .write = write_limit<kCtrMem, kAttrLimit>},
    {.name = "soft_limit_in_bytes",
     .read = read_counter<kCtrMem, kAttrSoftLimit>,
     .write = write_limit<kCtrMem, kAttrSoftLimit>},
    {.name = "failcnt", .flags = kCftNotSaved, .read = read_counter<kCtrMem, kAttrFailcnt>, .write = write_reset<kCtrMem, kAttrFailcnt>},
    {.name = "stat", .read = read_stat},
    {.name = "force_empty", .write = write_force_empty},
    {.name = "use_hierarchy", .read = read_use_hierarchy, .write = write_use_hierarchy},
    // 6.18: 0200 (6.12 had CFTYPE_WORLD_WRITABLE).
    {.name = "cgroup.event_control", .flags = kCftNoPrefix, .write = write_event_control},
    {.name = "swappiness", .read = read_swappiness, .write = write_swappiness},
    {.name = "move_charge_at_immigrate", .read = read_move_charge, .write = write_move_charge},
    {.name = "oom_control", .read = read_oom_control, .write = write_oom_control, .save = save_oom_control},
    {.name = "pressure_level", .read = read_pressure_level},
    {.name = "numa_stat", .read = read_numa_stat},
    {.name = "kmem.limit_in_bytes",
     .read = read_counter<kCtrKmem, kAttrLimit>,
     .write = write_limit<kCtrKmem, kAttrLimit>},
    {.name = "kmem.usage_in_bytes", .read = read_counter<kCtrKmem, kAttrUsage>},
    {.name = "kmem.failcnt", .flags = kCftNotSaved, .read = read_counter<kCtrKmem, kAttrFailcnt>, .write = write_reset<kCtrKmem, kAttrFailcnt>},
    {.name = "kmem.max_usage_in_bytes", .flags = kCftNotSaved,
     .read = read_counter<kCtrKmem, kAttrMaxUsage>,
     .write = write_reset<kCtrKmem, kAttrMaxUsage>},
    {.name = "kmem.slabinfo", .read = read_empty},
    {.name = "kmem.tcp.limit_in_bytes",
     .read = read_counter<kCtrTcp, kAttrLimit>,
     .write = write_limit<kCtrTcp, kAttrLimit>},
    {.name = "kmem.tcp.usage_in_bytes", .read = read_counter<kCtrTcp, kAttrUsage>},
    {.name = "kmem.tcp.failcnt", .flags = kCftNotSaved, .read = read_counter<kCtrTcp, kAttrFailcnt>, .write = write_reset<kCtrTcp, kAttrFailcnt>},
    {.name = "kmem.tcp.max_usage_in_bytes", .flags = kCftNotSaved,
     .read = read_counter<kCtrTcp, kAttrMaxUsage>,
     .write = write_reset<kCtrTcp, kAttrMaxUsage>},
    // memsw_files: only with swap accounting; they stay last.
    {.name = "memsw.usage_in_bytes", .read = read_counter<kCtrMemsw, kAttrUsage>},
    {.name = "memsw.max_usage_in_bytes", .flags = kCftNotSaved,
     .read = read_counter<kCtrMemsw, kAttrMaxUsage>,
     .write = write_reset<kCtrMemsw, kAttrMaxUsage>},
    {.name = "memsw.limit_in_bytes",
     .read = read_counter<kCtrMemsw, kAttrLimit>,
     .write = write_limit<kCtrMemsw, kAttrLimit>},
    {.name = "memsw.failcnt", .flags = kCftNotSaved,
     .read = read_counter<kCtrMemsw, kAttrFailcnt>,
     .write = write_reset<kCtrMemsw, kAttrFailcnt>},
};
constexpr size_t kNrMemswFiles = 4;

}  // namespace

std::span<const ControlFile> MemoryController::legacy_files() const {
  std::span<const ControlFile> all(kMemoryFiles);
  return memsw_files_ ? all : all.first(all.size() - kNrMemswFiles);
}

std::unique_ptr<Controller> make_memory(const std::vector<std::string>& settings) {
  return std::make_unique<MemoryController>(make_proc_memory_host(), MemoryController::parse_settings(settings));
}

}  // namespace cgemu
