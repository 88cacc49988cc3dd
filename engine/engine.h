// The engine: hierarchies, cgroups, css_sets, tasks and migration, after the
// kernel's cgroup core. It knows nothing of FUSE or of any interface's file
// formats; the v1 filesystem (and later a v2 one) sits on top of it.
//
// Callers hold mutex() around every call (the kernel's cgroup_mutex).
#pragma once

#include <sys/types.h>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/cgroup.h"
#include "engine/controller.h"
#include "engine/css_set.h"
#include "engine/host_threads.h"
#include "engine/task_events.h"
#include "engine/task_source.h"

namespace cgemu {

using Controllers = std::array<std::unique_ptr<Controller>, kMaxSubsys>;

class Engine {
 public:
  // controllers is indexed by ssid; a null entry is a controller with no
  // callbacks. Hierarchies are given once and live as long as the engine.
  Engine(TaskSource& tasks, Controllers controllers, const std::vector<HierarchyConfig>& hierarchies);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  std::mutex& mutex() { return mutex_; }

  // Where fork and exit events come from. Without a source (unit tests),
  // children are not followed and liveness is checked against the task
  // source on every read.
  void set_task_events(TaskEvents* events);
  // Applies every fork and exit that happened so far. Every method that
  // answers about membership calls it first; the thread that watches for
  // events calls it between requests.
  void sync();
  // Looks for exits the event source cannot report (see
  // TaskEvents::misses_unseen_exits); the watcher calls it between requests.
  void sweep();
  // Calls every bound controller's tick(); the watcher calls it between
  // requests.
  void tick();
  TaskSource& task_source() { return tasks_; }
  const std::vector<std::unique_ptr<Hierarchy>>& hierarchies() const { return hierarchies_; }
  Controller* controller(int ssid) const { return controllers_[ssid].get(); }

  // Directory operations; each returns 0 or -errno with the kernel's errnos.
  int mkdir(Cgroup& parent, std::string_view name, std::shared_ptr<Cgroup>* created);
  int rmdir(Cgroup& cgroup);
  int rename(Cgroup& cgroup, Cgroup& new_parent, std::string_view new_name);

  // The task a write of `pid` designates (cgroup_procs_write_start): 0 is
  // the writing thread; with threadgroup, the thread group's leader.
  // -ESRCH if there is no such task, -EINVAL for tasks that cannot migrate.
  // The target's uids are read only with need_credentials.
  int find_migration_target(pid_t pid, pid_t writer_tid, bool threadgroup, TaskInfo* target,
                            bool need_credentials = true);
  // Moves the target (with threadgroup, every live thread of its group) into
  // dst, all or nothing (cgroup_attach_task). 0 or -errno.
  int attach(Cgroup& dst, const TaskInfo& target, bool threadgroup);

  struct Member {
    pid_t tid;
    pid_t tgid;
  };
  // The live tasks of a cgroup itself (not of its descendants), unordered.
  std::vector<Member> members(Cgroup& cgroup);
  // A live task in the cgroup or below it (cgroup_is_populated).
  bool populated(Cgroup& cgroup);
  // The cgroup of hierarchy h that holds task tid.
  Cgroup& cgroup_of(pid_t tid, const Hierarchy& h);

  // Where the tracked tasks are, to be saved (crash recovery) and given
  // back to restore_placements by a later engine: a task, the start time
  // of its thread group's leader (which names the process), and its
  // cgroup in each hierarchy. start_time may be 0 ("not learnt").
  struct Placement {
    pid_t tid;
    pid_t tgid;
    uint64_t start_time;
    uint64_t group_start_time;
    std::vector<Cgroup*> cgroups;  // by hierarchy index
  };
  std::vector<Placement> placements();
  struct RestoreCounts {
    size_t restored = 0;   // tasks placed as saved
    size_t inherited = 0;  // tasks born after the save, placed as their parent
    size_t exited = 0;     // saved tasks gone (or their pids reused)
    size_t refused = 0;    // tasks a controller refused (can_attach)
  };
  // Places the saved tasks that still live, as saved, through migrations
  // (so controllers attach them); tasks born since saved_at (on the clock
  // of TaskInfo::start_time) follow their parent, as a fork would have
  // placed them had the engine been running. Tasks must be in every root.
  RestoreCounts restore_placements(const std::vector<Placement>& saved, uint64_t saved_at);
  // Counts every change to the tree or to where tasks are, so that a saver
  // can tell whether anything changed since it last looked.
  uint64_t changes() const { return changes_; }

  // Called when a cgroup with notify_on_release becomes releasable
  // (cgroup1_check_for_release); it must not block.
  std::function<void(Cgroup&)> on_release;

  // For tests and benchmarks.
  size_t nr_css_sets() const { return css_sets_.size(); }
  size_t nr_tracked_tasks() const { return registry_.size(); }
  const CssSet& init_css_set() const { return *init_cset_; }
  const Task* tracked_task(pid_t tid) const;

 private:
  friend class Migration;

  struct CgroupsHash {
    size_t operator()(const std::vector<Cgroup*>& v) const noexcept;
  };

  // Each bound controller's state for a new cgroup. May throw std::bad_alloc.
  void alloc_css(Cgroup& cgroup);
  // The css_set with src's membership but dst in dst's hierarchy; created if
  // needed (find_css_set). May throw std::bad_alloc.
  CssSet* find_css_set(const CssSet& src, Cgroup& dst);
  // Frees a css_set nobody uses any more.
  void put_css_set(CssSet* cset);
  // Forgets tracked tasks that have exited (or whose pid now names another task).
  void reap_dead(Cgroup& cgroup);
  void reap_all_dead();
  void check_all_alive();
  void forget(Task& task);
  // A tracked record for (tid, start_time), dropping a stale one.
  Task* tracked(pid_t tid, uint64_t start_time);
  // Moves a task between css_sets (css_set_move_task); either may be the
  // init css_set, whose members are not linked.
  void move_task(Task& task, CssSet* from, CssSet* to);
  void css_set_update_populated(CssSet& cset, bool populated);
  void cgroup_update_populated(Cgroup& cgroup, bool populated);
  void check_for_release(Cgroup& cgroup);
  void apply(const TaskEvent& event);
  void on_fork(const TaskEvent& event);
  void on_exit(Task& task);
  uint64_t start_time_of(pid_t tgid, pid_t tid);

  std::mutex mutex_;
  TaskSource& tasks_;
  Controllers controllers_;
  std::vector<std::unique_ptr<Hierarchy>> hierarchies_;
  std::unordered_map<std::vector<Cgroup*>, std::unique_ptr<CssSet>, CgroupsHash> css_sets_;
  CssSet* init_cset_ = nullptr;
  std::unordered_map<pid_t, std::unique_ptr<Task>> registry_;
  TaskEvents* events_ = nullptr;
  std::vector<TaskEvent> pending_events_;
  HostThreads host_threads_;  // kept from events, while there is a source
  uint64_t changes_ = 0;
};

}  // namespace cgemu
