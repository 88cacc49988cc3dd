#include "engine/cgroup.h"

#include <vector>

namespace cgemu {

Cgroup* Cgroup::child(std::string_view name) const {
  auto it = children_.find(name);
  return it == children_.end() ? nullptr : it->second.get();
}

std::string Cgroup::path() const {
  if (is_root()) return "/";
  std::vector<const Cgroup*> chain;
  for (const Cgroup* c = this; !c->is_root(); c = c->parent_) chain.push_back(c);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    out += '/';
    out += (*it)->name_;
  }
  return out;
}

}  // namespace cgemu
