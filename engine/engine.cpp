#include "engine/engine.h"

#include <cerrno>
#include <functional>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "engine/migration.h"

namespace cgemu {

size_t Engine::CgroupsHash::operator()(const std::vector<Cgroup*>& v) const noexcept {
  size_t h = 0;
  for (Cgroup* c : v) h = h * 31 + std::hash<Cgroup*>()(c);
  return h;
}

Engine::Engine(TaskSource& tasks, Controllers controllers, const std::vector<HierarchyConfig>& configs)
    : tasks_(tasks), controllers_(std::move(controllers)) {
  std::vector<Cgroup*> roots;
  for (const HierarchyConfig& config : configs) {
    auto h = std::make_unique<Hierarchy>();
    h->id_ = static_cast<int>(hierarchies_.size()) + 1;
    h->index_ = hierarchies_.size();
    h->name_ = config.name;
    h->subsys_mask_ = config.subsys_mask;
    h->release_agent = config.release_agent;
    h->root_ = std::make_shared<Cgroup>();
    Cgroup& root = *h->root_;
    root.hierarchy_ = h.get();
    root.clone_children = config.clone_children;
    for (int ssid = 0; ssid < kMaxSubsys; ++ssid) {
      if (!h->has_subsys(ssid) || !controllers_[ssid]) continue;
      controllers_[ssid]->ssid_ = ssid;
      controllers_[ssid]->hierarchy_index_ = static_cast<int>(h->index_);
    }
    alloc_css(root);
    roots.push_back(&root);
    hierarchies_.push_back(std::move(h));
  }
  auto init = std::make_unique<CssSet>();
  init->cgroups = roots;
  init_cset_ = init.get();
  for (Cgroup* root : roots) root->csets_.insert(init_cset_);
  css_sets_.emplace(roots, std::move(init));
}

Engine::~Engine() = default;

void Engine::set_task_events(TaskEvents* events) {
  events_ = events;
  // Events from now on keep the index; the scan comes after the source
  // began to listen, so nothing falls between the two.
  if (events_) host_threads_.reset(tasks_);
}

int Engine::mkdir(Cgroup& parent, std::string_view name, std::shared_ptr<Cgroup>* created) {
  // A newline would make /proc/<pid>/cgroup unparsable.
  if (name.find('\n') != std::string_view::npos) return -EINVAL;
  if (parent.dead_) return -ENOENT;
  if (parent.child(name)) return -EEXIST;
  try {
    auto cgroup = std::make_shared<Cgroup>();
    cgroup->name_ = name;
    cgroup->parent_ = &parent;
    cgroup->hierarchy_ = parent.hierarchy_;
    cgroup->notify_on_release = parent.notify_on_release;
    cgroup->clone_children = parent.clone_children;
    alloc_css(*cgroup);
    parent.children_.emplace(std::string(name), cgroup);
    ++parent.hierarchy_->nr_cgroups_;
    ++changes_;
    if (created) *created = std::move(cgroup);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  return 0;
}

void Engine::alloc_css(Cgroup& cgroup) {
  for (int ssid = 0; ssid < kMaxSubsys; ++ssid) {
    if (!cgroup.hierarchy_->has_subsys(ssid) || !controllers_[ssid]) continue;
    Css* parent = cgroup.parent_ ? cgroup.parent_->css(ssid) : nullptr;
    cgroup.css_[ssid] = controllers_[ssid]->css_alloc(cgroup, parent);
    if (Css* css = cgroup.css_[ssid].get()) {
      css->cgroup = &cgroup;
      css->parent = parent;
    }
  }
}

int Engine::rmdir(Cgroup& cgroup) {
  if (cgroup.is_root()) return -EBUSY;
  if (cgroup.dead_) return -ENOENT;
  sync();
  reap_dead(cgroup);
  if (cgroup.nr_populated_csets_ > 0 || !cgroup.children_.empty()) return -EBUSY;

  Cgroup& parent = *cgroup.parent_;
  auto node = parent.children_.extract(cgroup.name_);
  cgroup.dead_ = true;
  for (int ssid = 0; ssid < kMaxSubsys; ++ssid)
    if (Css* css = cgroup.css(ssid)) controllers_[ssid]->css_offline(*css);
  cgroup.dead_parent_ = parent.is_root() ? parent.hierarchy_->root_ : parent.parent_->children_.at(parent.name_);
  --cgroup.hierarchy_->nr_cgroups_;
  ++changes_;
  check_for_release(parent);
  return 0;
}

int Engine::rename(Cgroup& cgroup, Cgroup& new_parent, std::string_view new_name) {
  if (new_name.find('\n') != std::string_view::npos) return -EINVAL;
  if (cgroup.is_root()) return -EBUSY;
  if (cgroup.dead_ || new_parent.dead_) return -ENOENT;
  if (new_parent.hierarchy_ != cgroup.hierarchy_) return -EXDEV;
  if (cgroup.parent_ != &new_parent) return -EIO;
  if (new_name == cgroup.name_) return 0;
  if (new_parent.child(new_name)) return -EEXIST;
  auto node = new_parent.children_.extract(cgroup.name_);
  node.key() = std::string(new_name);
  cgroup.name_ = node.key();
  new_parent.children_.insert(std::move(node));
  ++changes_;
  return 0;
}

int Engine::find_migration_target(pid_t pid, pid_t writer_tid, bool threadgroup, TaskInfo* target,
                                  bool need_credentials) {
  auto lookup = [&](pid_t tid) {
    return need_credentials ? tasks_.task(tid) : tasks_.task_without_credentials(tid);
  };
  auto task = lookup(pid ? pid : writer_tid);
  if (!task) return -ESRCH;
  if (threadgroup && task->tgid != task->tid) {
    task = lookup(task->tgid);
    if (!task) return -ESRCH;
  }
  // Per-CPU kernel threads and kthreadd must stay where they are.
  if (task->no_cgroup_migration || (task->flags & kPfNoSetaffinity)) return -EINVAL;
  *target = *task;
  return 0;
}

int Engine::attach(Cgroup& dst, const TaskInfo& target, bool threadgroup) {
  if (dst.dead_) return -ENODEV;
  sync();
  int err = 0;
  Migration migration(*this, dst);
  bool distinct = true;  // the events' record is a set, a single task is one
  if (threadgroup && target.num_threads > 1) {
    // The threads the events told of, if they are as many as the kernel
    // counted (with the leader among them); else a listing of /proc, which
    // also puts the events' record right.
    std::vector<pid_t> listed;
    const bool known = events_ && host_threads_.matches(target.tgid, target.num_threads);
    if (!known) {
      listed = tasks_.threads(target.tgid);
      distinct = false;
      if (events_) host_threads_.replace(target.tgid, listed);
    }
    auto add_thread = [&](pid_t tid) -> int {
      std::optional<TaskInfo> thread;
      if (tid == target.tid) {
        thread = target;
      } else if (events_) {
        // The listing says the thread is there; events say when it leaves,
        // and in what order its pid could come back, so its start time is
        // left for later (0 is "unknown") and no /proc read is spent per
        // thread.
        thread = TaskInfo{};
        thread->tid = tid;
        thread->tgid = target.tgid;
      } else {
        thread = tasks_.thread(target.tgid, tid);
      }
      if (!thread) return 0;  // exited meanwhile
      return migration.add_task(*thread);
    };
    if (known) {
      for (pid_t tid : *host_threads_.threads(target.tgid))
        if ((err = add_thread(tid))) return err;
    } else {
      for (pid_t tid : listed)
        if ((err = add_thread(tid))) return err;
    }
  } else if ((err = migration.add_task(target))) {
    return err;
  }
  if ((err = migration.prepare_dst(distinct))) return err;
  // Threads created while the group moves follow it: their creation events
  // are applied before anything is answered next, and a new thread joins
  // its leader's css_set, by then the destination. This stands in for the
  // kernel's threadgroup lock.
  return migration.execute();
}

std::vector<Engine::Member> Engine::members(Cgroup& cgroup) {
  std::vector<Member> out;
  sync();
  if (cgroup.is_root()) {
    // Untracked host tasks are in every root: list the host, minus the
    // tracked tasks that sit elsewhere in this hierarchy.
    reap_all_dead();
    std::vector<Member> host;
    tasks_.for_each_live_task([&](pid_t tid, pid_t tgid) { host.push_back({tid, tgid}); });
    // Tasks born during the walk may have been seen before their fork
    // events were applied: apply them before placing what was seen. A
    // task that was born and has exited meanwhile has no record left to
    // place it: it is not listed. A source that can miss such short lives
    // altogether (a scan that never saw them) has them looked up again.
    sync();
    std::unordered_set<pid_t> exited;
    for (const TaskEvent& e : pending_events_)
      if (e.kind == TaskEvent::Kind::kExit) exited.insert(e.tid);
    const bool recheck = events_ && events_->misses_unseen_exits();
    const size_t h = cgroup.hierarchy_->index_;
    for (const Member& m : host) {
      auto it = registry_.find(m.tid);
      if (it != registry_.end()) {
        if (it->second->cset->cgroups[h] == &cgroup) out.push_back(m);
      } else if (!exited.count(m.tid) && (!recheck || tasks_.thread_exists(m.tgid, m.tid))) {
        out.push_back(m);
      }
    }
    return out;
  }
  reap_dead(cgroup);
  for (CssSet* cset : cgroup.csets_)
    for (Task* t = cset->tasks; t; t = t->next) out.push_back({t->tid, t->tgid});
  return out;
}

bool Engine::populated(Cgroup& cgroup) {
  if (cgroup.is_root()) return true;
  sync();
  std::function<void(Cgroup&)> reap_subtree = [&](Cgroup& c) {
    reap_dead(c);
    for (auto& [name, child] : c.children_) reap_subtree(*child);
  };
  reap_subtree(cgroup);
  return cgroup.nr_populated_csets_ + cgroup.nr_populated_children_ > 0;
}

Cgroup& Engine::cgroup_of(pid_t tid, const Hierarchy& h) {
  sync();
  auto it = registry_.find(tid);
  return it == registry_.end() ? h.root() : *it->second->cset->cgroups[h.index_];
}

const Task* Engine::tracked_task(pid_t tid) const {
  auto it = registry_.find(tid);
  return it == registry_.end() ? nullptr : it->second.get();
}

CssSet* Engine::find_css_set(const CssSet& src, Cgroup& dst) {
  std::vector<Cgroup*> key = src.cgroups;
  key[dst.hierarchy_->index_] = &dst;
  if (auto it = css_sets_.find(key); it != css_sets_.end()) return it->second.get();

  auto owned = std::make_unique<CssSet>();
  owned->cgroups = key;
  CssSet* cset = owned.get();
  css_sets_.emplace(key, std::move(owned));
  size_t linked = 0;
  try {
    for (; linked < key.size(); ++linked) key[linked]->csets_.insert(cset);
  } catch (...) {
    for (size_t i = 0; i < linked; ++i) key[i]->csets_.erase(cset);
    css_sets_.erase(key);
    throw;
  }
  return cset;
}

void Engine::put_css_set(CssSet* cset) {
  if (cset == init_cset_ || cset->nr_tasks > 0 || cset->pins > 0) return;
  for (Cgroup* c : cset->cgroups) c->csets_.erase(cset);
  std::vector<Cgroup*> key = cset->cgroups;
  css_sets_.erase(key);
}

void Engine::move_task(Task& task, CssSet* from, CssSet* to) {
  ++changes_;
  if (from != init_cset_) from->unlink(task);
  if (to != init_cset_) to->link(task);
  task.cset = to;
  // The destination first, so that a cgroup both css_sets share never
  // looks empty in between (css_set_move_task).
  if (to != init_cset_ && to->nr_tasks == 1) css_set_update_populated(*to, true);
  if (from != init_cset_ && from->nr_tasks == 0) css_set_update_populated(*from, false);
}

void Engine::css_set_update_populated(CssSet& cset, bool populated) {
  for (Cgroup* c : cset.cgroups) {
    c->nr_populated_csets_ += populated ? 1 : -1;
    const bool flipped = c->nr_populated_csets_ + c->nr_populated_children_ == (populated ? 1u : 0u);
    if (flipped) cgroup_update_populated(*c, populated);
  }
}

// Called when cgroup's own populated state flipped: propagate to ancestors
// and run the release check where a subtree became empty.
void Engine::cgroup_update_populated(Cgroup& cgroup, bool populated) {
  Cgroup* c = &cgroup;
  while (true) {
    if (!populated) check_for_release(*c);
    Cgroup* parent = c->parent_;
    if (!parent || c->dead_) break;
    parent->nr_populated_children_ += populated ? 1 : -1;
    const size_t total = parent->nr_populated_csets_ + parent->nr_populated_children_;
    if (total != (populated ? 1u : 0u)) break;
    c = parent;
  }
}

void Engine::check_for_release(Cgroup& cgroup) {
  if (cgroup.is_root() || cgroup.dead_ || !cgroup.notify_on_release) return;
  if (cgroup.nr_populated_csets_ + cgroup.nr_populated_children_ > 0 || !cgroup.children_.empty()) return;
  if (on_release) on_release(cgroup);
}

Task* Engine::tracked(pid_t tid, uint64_t start_time) {
  auto it = registry_.find(tid);
  if (it == registry_.end()) return nullptr;
  // A start time of 0 on either side is "unknown": learnt late, or not
  // looked up.
  if (start_time == 0) return it->second.get();
  if (it->second->start_time == 0) it->second->start_time = start_time;
  if (it->second->start_time != start_time) {
    on_exit(*it->second);  // the pid now names another task: the old one is gone
    return nullptr;
  }
  return it->second.get();
}

void Engine::forget(Task& task) {
  CssSet* cset = task.cset;
  move_task(task, cset, init_cset_);
  registry_.erase(task.tid);
  put_css_set(cset);
}

// Below this many threads a process's members are each probed for exits.
constexpr long kCountedThreads = 64;

void Engine::reap_dead(Cgroup& cgroup) {
  std::vector<Task*> dead;
  if (!events_) {
    for (CssSet* cset : cgroup.csets_)
      for (Task* t = cset->tasks; t; t = t->next)
        if (!tasks_.alive(t->tid, t->start_time)) dead.push_back(t);
  } else {
    // Exit events trail what others already see: the kernel reports an
    // exit after exit_notify, so a thread is gone (and its process may
    // have been reaped) before its exit event is queued, for as long as
    // the exiting thread is preempted. A leader member is read (a zombie
    // is not listed); for the other threads, the leader's stat says
    // whether the process is there and how many threads it has. Each
    // thread is probed (signal 0), but in a process of many threads whose
    // events account for exactly as many, members the events know are
    // taken as alive: a probe per thread of a 10000-thread process costs
    // milliseconds, and only an exit racing with a thread's creation, both
    // unreported yet, could pass unseen until its event comes.
    enum class Process { kGone, kAllThreadsKnown, kProbeEachThread };
    std::unordered_map<pid_t, Process> processes;
    for (CssSet* cset : cgroup.csets_) {
      for (Task* t = cset->tasks; t; t = t->next) {
        bool exists;
        if (t->tid == t->tgid) {
          exists = tasks_.thread_exists(t->tgid, t->tid);
        } else {
          auto [it, fresh] = processes.try_emplace(t->tgid, Process::kGone);
          if (fresh) {
            auto leader = tasks_.thread(t->tgid, t->tgid);
            if (leader)
              it->second = leader->num_threads >= kCountedThreads && host_threads_.matches(t->tgid, leader->num_threads)
                               ? Process::kAllThreadsKnown
                               : Process::kProbeEachThread;
          }
          exists = (it->second == Process::kAllThreadsKnown && host_threads_.threads(t->tgid)->count(t->tid)) ||
                   (it->second != Process::kGone && tasks_.thread_exists(t->tgid, t->tid));
        }
        if (!exists) dead.push_back(t);
      }
    }
  }
  for (Task* t : dead) on_exit(*t);
}

void Engine::reap_all_dead() {
  if (events_) return;  // every exit is reported
  check_all_alive();
}

void Engine::tick() {
  for (auto& controller : controllers_)
    if (controller && controller->bound()) controller->tick();
}

void Engine::sweep() {
  if (events_ && events_->misses_unseen_exits()) check_all_alive();
}

void Engine::check_all_alive() {
  std::vector<Task*> dead;
  for (auto& [tid, task] : registry_)
    if (task->start_time ? !tasks_.alive(tid, task->start_time) : !tasks_.thread(task->tgid, tid))
      dead.push_back(task.get());
  for (Task* t : dead) on_exit(*t);
}

void Engine::sync() {
  if (!events_) return;
  pending_events_.clear();
  events_->drain(pending_events_);
  for (const TaskEvent& event : pending_events_) apply(event);
}

void Engine::apply(const TaskEvent& event) {
  switch (event.kind) {
    case TaskEvent::Kind::kFork:
      host_threads_.add(event.tid, event.tgid);
      on_fork(event);
      break;
    case TaskEvent::Kind::kExit:
      host_threads_.remove(event.tid);
      if (auto it = registry_.find(event.tid); it != registry_.end()) on_exit(*it->second);
      break;
    case TaskEvent::Kind::kLost:
      spdlog::warn("task events were lost: exits are re-checked, children created meanwhile may be in the root");
      host_threads_.reset(tasks_);
      check_all_alive();
      break;
  }
}

// v1 inheritance: a new process joins the css_set of the thread that forked
// it, a new thread that of its group's leader (the creating thread is not
// reported for threads).
void Engine::on_fork(const TaskEvent& event) {
  if (auto it = registry_.find(event.tid); it != registry_.end()) {
    // Already placed by a migration that saw the task before its event
    // was applied; or a record whose exit was lost.
    Task& known = *it->second;
    const uint64_t now = event.start_time ? event.start_time : start_time_of(event.tgid, event.tid);
    if (known.start_time == 0) known.start_time = now;
    if (now == 0 || known.start_time == now) return;  // the same task, or gone (its exit follows)
    on_exit(known);
  }
  const pid_t creator = event.tid == event.tgid ? event.parent_tid : event.tgid;
  auto parent = registry_.find(creator);
  if (creator == 0 || parent == registry_.end()) return;  // in every root
  CssSet* cset = parent->second->cset;
  auto record = std::make_unique<Task>();
  record->tid = event.tid;
  record->tgid = event.tgid;
  // The task may be gone already (its exit event follows); its record still
  // places the children it forked meanwhile.
  record->start_time = event.start_time ? event.start_time : start_time_of(event.tgid, event.tid);
  record->cset = init_cset_;
  Task& task = *registry_.emplace(event.tid, std::move(record)).first->second;
  move_task(task, init_cset_, cset);
  for (auto& controller : controllers_)
    if (controller && controller->bound()) controller->fork(task);
}

void Engine::on_exit(Task& task) {
  for (auto& controller : controllers_)
    if (controller && controller->bound()) controller->exit(task);
  forget(task);
}

uint64_t Engine::start_time_of(pid_t tgid, pid_t tid) {
  auto info = tasks_.thread(tgid, tid);
  return info ? info->start_time : 0;
}

}  // namespace cgemu
