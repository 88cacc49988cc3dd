// The v1 memory controller (mm/memcontrol-v1.c, mm/memcontrol.c,
// mm/page_counter.c): every memory.* file of spec §8 with the kernel's
// parsing, modes and errnos, and real numbers from the members' resident
// memory.
//
// How numbers are made (README "Memory numbers"): a process (thread group,
// one mm) is charged to the memory cgroup of its thread-group leader. Its
// resident pages are read from /proc/<pid>/status (RssAnon, RssFile,
// RssShmem, VmSwap: the mm counters statm sums, split by kind, world
// readable and O(1), without the page-table walk and mmap lock of
// smaps_rollup). Each process keeps a ledger of where its pages were charged:
// growth is charged to the cgroup the leader is in when it is seen, a shrink
// uncharges the newest charges first, an exit uncharges everything. So, as in
// the kernel, a move leaves the existing charge where it was made (spec §8.2)
// unless the destination has memory.move_charge_at_immigrate set (kernels up
// to 6.12, seed 004), in which case can_attach precharges the destination,
// refuses with ENOMEM when it has no room, and attach moves the charge.
//
// Numbers are sampled (every process of the ledger re-read) at every read or
// write of a memory file, at every move, and at forks (at most every
// kForkSampleIntervalMs); tick() is there for a periodic sample from the
// engine's watcher thread. Limits are checked at each sample: a cgroup over
// its limit counts a failcnt, shows under_oom, and with the emulator setting
// memory.oom_kill its largest member is killed with SIGKILL.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

class Engine;
class MemoryController;

// The memory controller's subsystem id (include/linux/cgroup_subsys.h).
inline constexpr int kMemorySsid = 4;

// Kinds of charged pages.
enum MemType : int { kMemAnon = 0, kMemFile = 1, kMemShmem = 2, kMemSwap = 3 };
inline constexpr int kNrMemTypes = 4;
using MemPages = std::array<uint64_t, kNrMemTypes>;

// One process as the host shows it.
struct ProcMemInfo {
  uint64_t start_time = 0;  // clock ticks after boot (/proc/<pid>/stat field 22)
  char state = 'R';
  MemPages pages{};  // resident anon, file, shmem pages and swap entries
  uint64_t minflt = 0, majflt = 0;
  uid_t uid = 0;
  std::string comm;
  bool dying() const { return state == 'Z' || state == 'X'; }
};

// The host's global numbers, for the root cgroup (which the kernel reports
// from global state too).
struct HostMemInfo {
  std::map<std::string, uint64_t, std::less<>> vmstat;  // /proc/vmstat
  uint64_t swap_used_pages = 0;                         // SwapTotal - SwapFree
  uint64_t hpage_pmd_pages = 512;                       // HPAGE_PMD_NR
  // /sys/devices/system/node/node<N>/vmstat for every node with memory.
  std::map<int, std::map<std::string, uint64_t, std::less<>>> node_vmstat;
  uint64_t get(std::string_view key) const {
    auto it = vmstat.find(key);
    return it == vmstat.end() ? 0 : it->second;
  }
};

// Where the controller learns about real processes and acts on them; the
// /proc implementation serves the daemon, tests use a fake.
class MemoryHost {
 public:
  virtual ~MemoryHost() = default;
  virtual uint64_t page_size() = 0;
  // The thread group's memory, or nullopt if there is no such process.
  virtual std::optional<ProcMemInfo> process(pid_t tgid) = 0;
  // /proc/<pid>/oom_score_adj (read only when choosing an OOM victim).
  virtual int oom_score_adj(pid_t tgid) = 0;
  // SIGKILL; 0 or -errno.
  virtual int kill(pid_t tgid) = 0;
  virtual HostMemInfo host() = 0;
  // vm.swappiness, the root's initial memory.swappiness.
  virtual unsigned swappiness() = 0;
  // Nodes with memory (N_MEMORY), for memory.numa_stat.
  virtual std::vector<int> memory_nodes() = 0;
  // Whether the kernel accounts swap (the memsw.* files exist).
  virtual bool swap_accounting() = 0;

  // cgroup.event_control: what descriptor fd of thread tid is (the target
  // of /proc/<tid>/fd/<fd>): nullopt with *err = -EBADF if it is not open,
  // another -errno if it cannot be inspected.
  virtual std::optional<std::string> fd_target(pid_t tid, int fd, int* err) = 0;
  // A descriptor of our own for the writer's eventfd (pidfd_getfd), or -errno.
  virtual int grab_fd(pid_t tid, int fd) = 0;
  // eventfd_signal: adds 1 to the eventfd's counter.
  virtual void signal(int fd) = 0;
  virtual void close_fd(int fd) = 0;
};

// The real host: /proc, /sys, kill(2), pidfd_getfd(2).
std::unique_ptr<MemoryHost> make_proc_memory_host();

struct PageCounter {
  uint64_t max = 0;  // pages
  uint64_t watermark = 0;
  uint64_t failcnt = 0;
};

// Memory cgroup event counters (pages, except the fault counts).
struct MemEvents {
  uint64_t pgpgin = 0, pgpgout = 0, pgfault = 0, pgmajfault = 0;
  void add(const MemEvents& o) {
    pgpgin += o.pgpgin;
    pgpgout += o.pgpgout;
    pgfault += o.pgfault;
    pgmajfault += o.pgmajfault;
  }
};

// A cgroup.event_control registration (struct mem_cgroup_event).
struct MemEventRegistration {
  enum class Kind { kUsage, kMemswUsage, kOom, kPressure };
  Kind kind;
  int fd;              // our descriptor for the eventfd; -1 if it could not be taken
  uint64_t threshold;  // pages (usage thresholds)
};

// struct mem_cgroup, as far as the emulator keeps it.
class MemCss : public Css {
 public:
  // Closes the descriptors of its registrations (a cgroup removed while
  // files kept it, or the engine going away).
  ~MemCss() override;
  MemoryHost* host = nullptr;
  MemCss* mem_parent() const { return static_cast<MemCss*>(parent); }
  bool is_root() const { return parent == nullptr; }

  PageCounter memory, memsw, kmem, tcpmem;
  uint64_t soft_limit = 0;  // pages
  uint64_t swappiness = 60;
  bool oom_kill_disable = false;
  uint64_t move_charge_at_immigrate = 0;
  uint64_t oom_kill = 0;  // memory_events[MEMCG_OOM_KILL] (v1: not propagated)
  bool under_oom = false;

  // Pages charged here by the ledger, and pages precharged by a move in
  // progress; with the hierarchical sums computed at each sample.
  MemPages local{};
  uint64_t precharge = 0;
  MemEvents events;            // counted here
  MemEvents inherited_events;  // of removed children (kept in the totals)
  MemPages hier{};
  uint64_t hier_precharge = 0;
  MemEvents hier_events;

  std::vector<MemEventRegistration> registrations;
  // Threshold bookkeeping (the kernel's current_threshold): the usage
  // (pages) the thresholds were last compared with, for memory and memsw.
  uint64_t threshold_usage[2] = {0, 0};

  // Page-counter usage (pages), computed at each sample: what limits,
  // failcnt and max_usage see. The root's counters hold only its children's
  // charges, as in the kernel.
  uint64_t counter_mem = 0, counter_memsw = 0;
  uint64_t counter_usage(bool memsw_counter) const { return memsw_counter ? counter_memsw : counter_mem; }
  uint64_t depth = 0;
  bool over = false;        // over a limit at the last sample
  bool oom_warned = false;  // "no killable process" logged for this episode
};

class MemoryController : public Controller {
 public:
  struct Settings {
    bool oom_kill = false;           // memory.oom_kill: enforce limits with SIGKILL
    std::optional<bool> memsw;       // memory.memsw=0|1: force the memsw.* files
  };
  // Parses "key[=value]" settings; throws std::invalid_argument.
  static Settings parse_settings(const std::vector<std::string>& settings);

  MemoryController(std::unique_ptr<MemoryHost> host, Settings settings);
  ~MemoryController() override;

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  void css_offline(Css& css) override;
  std::span<const ControlFile> legacy_files() const override;
  int can_attach(TaskSet& tset) override;
  void cancel_attach(TaskSet& tset) override;
  void attach(TaskSet& tset) override;
  void fork(const Task& task) override;
  void exit(const Task& task) override;

  // A periodic sample (the hook the engine's watcher thread would call
  // between requests, under the engine mutex).
  void tick() override { sample(); }

  // Re-reads every charged process, updates the charges, watermarks,
  // failcnt, under_oom and thresholds, and enforces limits if asked to.
  void sample();

  MemoryHost& host() { return *host_; }
  const Settings& settings() const { return settings_; }
  uint64_t page_size() const { return page_size_; }
  uint64_t page_counter_max() const { return page_counter_max_; }
  MemCss* root_css() const { return root_; }
  bool has_memsw() const { return memsw_files_; }
  const std::vector<int>& nodes() const { return nodes_; }

  // For tests: the processes the ledger holds, and their charges.
  struct ChargeView {
    const MemCss* css;
    MemPages pages;
  };
  std::vector<ChargeView> charges_of(pid_t tgid) const;
  size_t nr_processes() const { return procs_.size(); }
  bool move_pending() const { return pending_.has_value(); }

  // Used by the file handlers (memory.cpp).
  MemCss& css_of(const CssSet* cset) const;
  int resize_limit(MemCss& css, uint64_t pages, bool memsw);
  void reset_watermark(MemCss& css, PageCounter& counter);
  uint64_t root_usage(bool memsw);
  void register_event(MemCss& css, MemEventRegistration reg);
  std::string stat_text(MemCss& css);
  std::string numa_stat_text(MemCss& css);
  void refresh(Engine& engine);

 private:
  struct Charge {
    MemCss* css;
    MemPages pages;
  };
  struct Proc {
    pid_t tgid = 0;
    uint64_t start_time = 0;  // 0 until first seen
    MemCss* owner = nullptr;  // the leader's memory cgroup
    std::vector<Charge> charges;  // oldest first
    bool seen = false;
    uint64_t minflt = 0, majflt = 0;
    MemPages last{};
    uid_t uid = 0;
    std::string comm;
    bool killed = false;      // SIGKILL sent; its memory is being freed
    bool unkillable = false;  // kill(2) refused (EPERM)
  };
  // A charge move prepared by can_attach (the kernel's `mc`).
  struct PendingMove {
    pid_t tgid;
    MemCss* from;
    MemCss* to;
    MemPages pages;
    uint64_t total;
  };

  Proc& ensure_proc(pid_t tgid, MemCss* owner, uint64_t start_time);
  void update_proc(Proc& p, const ProcMemInfo& info, std::vector<MemCss*>* grew);
  void uncharge_all(Proc& p);
  static void add_charge(std::vector<Charge>& charges, MemCss* css, int type, uint64_t pages);
  void recompute();
  void recompute(MemCss& css, uint64_t depth);
  template <typename Fn>
  void for_each_css(MemCss& css, Fn&& fn);
  bool in_subtree(const MemCss* css, const MemCss* top) const;
  void update_watermarks();
  void check_limits(const std::vector<MemCss*>& grew);
  // Kills the largest process of an OOM domain; true if it did.
  bool oom_kill(MemCss& domain, std::map<const MemCss*, uint64_t>& dying);
  void notify_oom(MemCss& css);
  void check_thresholds();
  // The kernel's try_charge for a precharge: nullptr if it fits, else the
  // cgroup whose counter refused (its memory failcnt counted).
  MemCss* try_precharge(MemCss& to, uint64_t pages);
  void maybe_sample();

  std::unique_ptr<MemoryHost> host_;
  Settings settings_;
  uint64_t page_size_;
  uint64_t page_counter_max_;
  bool memsw_files_;
  unsigned host_swappiness_;
  std::vector<int> nodes_;
  MemCss* root_ = nullptr;
  // Charges of removed children of the root: still in the root's counters
  // (the kernel keeps a dying memcg's pages under its parent until freed).
  std::unique_ptr<MemCss> orphans_;
  std::map<pid_t, Proc> procs_;
  // Thread groups of the migration in progress: not pruned from the ledger
  // between can_attach and attach.
  std::vector<pid_t> migrating_;
  std::optional<PendingMove> pending_;
  std::chrono::steady_clock::time_point last_sample_{};
  bool warned_event_delivery_ = false;
};

// The factory of controllers/subsystems.cpp.
std::unique_ptr<Controller> make_memory(const std::vector<std::string>& settings);

}  // namespace cgemu
