// The v1 core files of every hierarchy (kernel/cgroup/cgroup-v1.c:
// cgroup1_base_files): tasks, cgroup.procs, notify_on_release,
// cgroup.clone_children, and at the root release_agent and
// cgroup.sane_behavior.
#pragma once

#include <span>

#include "engine/control_file.h"

namespace cgemu {

std::span<const ControlFile> v1_core_files();

}  // namespace cgemu
