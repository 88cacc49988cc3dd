// css_sets and tasks: every task with the same membership in every
// hierarchy shares one css_set (the design of the task-containers seed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "engine/cgroup.h"

namespace cgemu {

struct CssSet;

// A host task the engine tracks. Only tasks outside the root of some
// hierarchy are tracked; every other host task is implicitly in the init
// css_set, which keeps memory proportional to what users placed.
struct Task {
  pid_t tid = 0;
  pid_t tgid = 0;
  // With (tid), names the task for its whole life. 0 means "not learnt
  // yet" (a thread moved with its group, or created, whose /proc entry was
  // not read): treat it as matching any start time.
  uint64_t start_time = 0;
  CssSet* cset = nullptr;
  // Links in cset->tasks (the kernel's cg_list).
  Task* prev = nullptr;
  Task* next = nullptr;
};

struct CssSet {
  // One cgroup per hierarchy, indexed by Hierarchy::index().
  std::vector<Cgroup*> cgroups;
  Task* tasks = nullptr;  // head of the tracked members' list
  size_t nr_tasks = 0;
  // Held by migrations in progress, so that a css_set they point at is not
  // freed underneath them.
  int pins = 0;

  Cgroup& cgroup(size_t hierarchy_index) const { return *cgroups[hierarchy_index]; }
  Css* css(size_t hierarchy_index, int ssid) const { return cgroups[hierarchy_index]->css(ssid); }
  // A controller's state for this membership.
  Css* css(const Controller& c) const { return cgroups[c.hierarchy_index()]->css(c.ssid()); }

  void link(Task& t) {
    t.cset = this;
    t.prev = nullptr;
    t.next = tasks;
    if (tasks) tasks->prev = &t;
    tasks = &t;
    ++nr_tasks;
  }
  void unlink(Task& t) {
    if (t.prev) t.prev->next = t.next; else tasks = t.next;
    if (t.next) t.next->prev = t.prev;
    t.prev = t.next = nullptr;
    --nr_tasks;
  }
};

}  // namespace cgemu
