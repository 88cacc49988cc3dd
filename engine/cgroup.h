// Hierarchies and the cgroup tree.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "engine/controller.h"

namespace cgemu {

inline constexpr int kMaxSubsys = 16;

class Cgroup;
struct CssSet;

struct HierarchyConfig {
  std::string name;          // name=; may be empty when controllers are bound
  uint32_t subsys_mask = 0;  // bit = ssid
  bool clone_children = false;
  std::string release_agent;
};

class Hierarchy {
 public:
  int id() const { return id_; }        // as in /proc/<pid>/cgroup
  size_t index() const { return index_; }  // slot in CssSet::cgroups
  const std::string& name() const { return name_; }
  uint32_t subsys_mask() const { return subsys_mask_; }
  bool has_subsys(int ssid) const { return subsys_mask_ & (1u << ssid); }
  Cgroup& root() const { return *root_; }
  size_t nr_cgroups() const { return nr_cgroups_; }

  std::string release_agent;

 private:
  friend class Engine;
  int id_ = 0;
  size_t index_ = 0;
  std::string name_;
  uint32_t subsys_mask_ = 0;
  std::shared_ptr<Cgroup> root_;
  size_t nr_cgroups_ = 1;
};

class Cgroup {
 public:
  using Children = std::map<std::string, std::shared_ptr<Cgroup>, std::less<>>;

  const std::string& name() const { return name_; }
  Cgroup* parent() const { return parent_; }
  Hierarchy& hierarchy() const { return *hierarchy_; }
  bool is_root() const { return parent_ == nullptr; }
  // Removed by rmdir; open files of a dead cgroup answer ENODEV.
  bool dead() const { return dead_; }
  const Children& children() const { return children_; }
  Cgroup* child(std::string_view name) const;
  // Path from the hierarchy root: "/" for the root, "/a/b" below it.
  std::string path() const;
  Css* css(int ssid) const { return css_[ssid].get(); }

  bool notify_on_release = false;
  bool clone_children = false;

 private:
  friend class Engine;
  friend class Migration;
  std::string name_;
  Cgroup* parent_ = nullptr;
  Hierarchy* hierarchy_ = nullptr;
  bool dead_ = false;
  Children children_;
  std::array<std::unique_ptr<Css>, kMaxSubsys> css_;
  // The css_sets that place tasks here (the kernel's cgrp->cset_links).
  std::unordered_set<CssSet*> csets_;
  // Populated bookkeeping (the kernel's nr_populated_csets and
  // nr_populated_{domain,threaded}_children): how many of csets_ have tasks,
  // and how many children are populated.
  size_t nr_populated_csets_ = 0;
  size_t nr_populated_children_ = 0;
  // A removed cgroup keeps its parent alive while open files still use it.
  std::shared_ptr<Cgroup> dead_parent_;
};

}  // namespace cgemu
