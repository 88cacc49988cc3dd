#include "engine/migration.h"

#include <algorithm>
#include <cerrno>
#include <new>

namespace cgemu {

Migration::Migration(Engine& engine, Cgroup& dst)
    : engine_(engine), dst_(dst), hierarchy_index_(dst.hierarchy().index()) {}

int Migration::add_task(const TaskInfo& info) {
  if (info.dying()) return 0;
  try {
    Task* task = engine_.tracked(info.tid, info.start_time);
    if (!task) {
      // A record for an untracked task starts in the init css_set, which is
      // where the task already is; the destructor drops it unless it moved.
      auto record = std::make_unique<Task>();
      record->tid = info.tid;
      record->tgid = info.tgid;
      record->start_time = info.start_time;
      record->cset = engine_.init_cset_;
      task = record.get();
      engine_.registry_.emplace(info.tid, std::move(record));
    }
    auto it = std::find_if(sources_.begin(), sources_.end(), [&](const Source& s) { return s.src == task->cset; });
    if (it == sources_.end()) {
      sources_.push_back({task->cset, nullptr, {}});
      it = sources_.end() - 1;
      ++it->src->pins;
    }
    it->tasks.push_back(task);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  return 0;
}

int Migration::prepare_dst(bool distinct) {
  try {
    for (Source& s : sources_) {
      // A thread listed twice (it raced with the listing) moves once.
      if (!distinct) {
        std::sort(s.tasks.begin(), s.tasks.end());
        s.tasks.erase(std::unique(s.tasks.begin(), s.tasks.end()), s.tasks.end());
      }
      s.dst = engine_.find_css_set(*s.src, dst_);
      ++s.dst->pins;
    }
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  return 0;
}

int Migration::execute() {
  TaskSet tset{static_cast<int>(hierarchy_index_), {}};
  try {
    size_t nr_moves = 0;
    for (const Source& s : sources_) nr_moves += s.dst != s.src ? s.tasks.size() : 0;
    tset.moves.reserve(nr_moves);
    for (const Source& s : sources_)
      if (s.dst != s.src)
        for (const Task* t : s.tasks) tset.moves.push_back({t, s.src, s.dst});
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  if (tset.moves.empty()) return 0;  // everything is already there

  const Hierarchy& h = dst_.hierarchy();
  for (int ssid = 0; ssid < kMaxSubsys; ++ssid) {
    Controller* c = engine_.controller(ssid);
    if (!h.has_subsys(ssid) || !c) continue;
    if (int err = c->can_attach(tset)) {
      for (int done = 0; done < ssid; ++done)
        if (h.has_subsys(done) && engine_.controller(done)) engine_.controller(done)->cancel_attach(tset);
      return err;
    }
  }

  for (Source& s : sources_)
    if (s.dst != s.src)
      for (Task* t : s.tasks) engine_.move_task(*t, s.src, s.dst);

  for (int ssid = 0; ssid < kMaxSubsys; ++ssid)
    if (h.has_subsys(ssid) && engine_.controller(ssid)) engine_.controller(ssid)->attach(tset);
  return 0;
}

Migration::~Migration() {
  // Records in the init css_set are of tasks that did not move or moved
  // back to every root: untracked again.
  std::vector<pid_t> untracked;
  for (Source& s : sources_)
    for (Task* t : s.tasks)
      if (t->cset == engine_.init_cset_) untracked.push_back(t->tid);
  for (pid_t tid : untracked) engine_.registry_.erase(tid);
  std::vector<CssSet*> pinned;
  for (Source& s : sources_) {
    --s.src->pins;
    pinned.push_back(s.src);
    if (s.dst) {
      --s.dst->pins;
      pinned.push_back(s.dst);
    }
  }
  std::sort(pinned.begin(), pinned.end());
  pinned.erase(std::unique(pinned.begin(), pinned.end()), pinned.end());
  for (CssSet* cset : pinned) engine_.put_css_set(cset);
}

}  // namespace cgemu
