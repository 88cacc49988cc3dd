// The interface every controller implements, after the kernel's
// struct cgroup_subsys: per-cgroup state (css), control files, and the
// migration, fork and exit callbacks the engine calls.
#pragma once

#include <sys/types.h>

#include <memory>
#include <span>
#include <vector>

#include "engine/control_file.h"

namespace cgemu {

class Cgroup;
struct CssSet;
struct Task;

// A controller's state for one cgroup (cgroup_subsys_state).
class Css {
 public:
  virtual ~Css() = default;
  // Set by the engine once allocated.
  Cgroup* cgroup = nullptr;
  Css* parent = nullptr;  // nullptr at a hierarchy root
};

// The tasks of one migration, each with the css_set it leaves and the one it
// joins. Controllers find their own state with css(ssid) on either side.
struct TaskMove {
  const Task* task;
  const CssSet* src;
  const CssSet* dst;
};

struct TaskSet {
  int hierarchy_index;
  std::vector<TaskMove> moves;
};

class Controller {
 public:
  virtual ~Controller() = default;

  // Where the engine bound it (the kernel's ss->id and ss->root): its css
  // in any css_set is css_set.css(hierarchy_index(), ssid()).
  int ssid() const { return ssid_; }
  int hierarchy_index() const { return hierarchy_index_; }
  bool bound() const { return hierarchy_index_ >= 0; }

  // State for a new cgroup; parent is nullptr for a hierarchy root. May throw
  // std::bad_alloc, which fails the mkdir with ENOMEM.
  virtual std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) { return nullptr; }
  // The cgroup was removed (rmdir); its css lives on while open files use it.
  virtual void css_offline(Css& css) {}
  // The v1 control files, named without the "<legacy_name>." prefix.
  virtual std::span<const ControlFile> legacy_files() const { return {}; }

  // Migration, in the kernel's order: can_attach of every controller of the
  // hierarchy (0 or -errno); on a failure, cancel_attach of those that had
  // passed; otherwise the tasks move and attach runs (it cannot fail).
  virtual int can_attach(TaskSet& tset) { return 0; }
  virtual void cancel_attach(TaskSet& tset) {}
  virtual void attach(TaskSet& tset) {}

  // A tracked task was created in task.cset (fork), or exited from it.
  // Tasks in every root are not tracked and not reported; nor is anything
  // to a controller that no hierarchy of this mount binds.
  virtual void fork(const Task& task) {}
  virtual void exit(const Task& task) {}

  // Called between requests, a few times a second, with the engine's mutex
  // held: for work that no request triggers (sampling, limit enforcement).
  virtual void tick() {}

 private:
  friend class Engine;
  int ssid_ = -1;
  int hierarchy_index_ = -1;
};

}  // namespace cgemu
