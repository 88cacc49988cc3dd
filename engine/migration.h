// One migration into one cgroup, in the kernel's stages (seeds 000 and 002,
// kernel/cgroup/cgroup.c): add every task with its source css_set, prepare
// every destination css_set (all allocation happens here), then execute:
// can_attach of each controller in ssid order with cancel_attach on a
// refusal, commit, attach. Until commit nothing visible has changed, so a
// refusal or an allocation failure leaves no trace; the destructor undoes
// the preparation either way (cgroup_migrate_finish).
#pragma once

#include <vector>

#include "engine/engine.h"

namespace cgemu {

class Migration {
 public:
  Migration(Engine& engine, Cgroup& dst);
  ~Migration();
  Migration(const Migration&) = delete;
  Migration& operator=(const Migration&) = delete;

  // Adds one task; dying tasks are skipped as the kernel skips PF_EXITING.
  int add_task(const TaskInfo& task);
  // distinct: no task was added twice (else duplicates, as a listing of
  // /proc racing with thread exits can give, are dropped here).
  int prepare_dst(bool distinct = false);
  int execute();

 private:
  struct Source {
    CssSet* src;
    CssSet* dst = nullptr;
    std::vector<Task*> tasks;
  };

  Engine& engine_;
  Cgroup& dst_;
  size_t hierarchy_index_;
  std::vector<Source> sources_;
};

}  // namespace cgemu
