// What every engine-level test does: make a cgroup, move a task as a write
// to tasks (threadgroup false) or cgroup.procs (true) would.
#pragma once

#include <gtest/gtest.h>

#include "engine/engine.h"

namespace cgemu::testing {

inline Cgroup& make_cgroup(Engine& engine, Cgroup& parent, const char* name) {
  std::shared_ptr<Cgroup> c;
  EXPECT_EQ(engine.mkdir(parent, name, &c), 0);
  return *c;
}

inline int move_task(Engine& engine, Cgroup& dst, pid_t pid, bool threadgroup) {
  TaskInfo target;
  if (int err = engine.find_migration_target(pid, 0, threadgroup, &target)) return err;
  return engine.attach(dst, target, threadgroup);
}

}  // namespace cgemu::testing
