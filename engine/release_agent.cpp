#include "engine/release_agent.h"

#include <fcntl.h>
#include <linux/limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace cgemu {

ReleaseAgentLauncher::ReleaseAgentLauncher() : thread_([this] { loop(); }) {}

ReleaseAgentLauncher::~ReleaseAgentLauncher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void ReleaseAgentLauncher::launch(std::string agent, std::string cgroup_path) {
  if (agent.empty() || cgroup_path.size() >= PATH_MAX) return;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(agent), std::move(cgroup_path)});
  }
  wake_.notify_one();
}

void ReleaseAgentLauncher::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, with nothing left to run
    Run run = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    spawn_release_agent(run.agent, run.path);
    lock.lock();
  }
}

void spawn_release_agent(const std::string& agent, const std::string& path) {
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  char* argv[] = {const_cast<char*>(agent.c_str()), const_cast<char*>(path.c_str()), nullptr};
  char home[] = "HOME=/";
  char search_path[] = "PATH=/sbin:/bin:/usr/sbin:/usr/bin";
  char* envp[] = {home, search_path, nullptr};

  pid_t middle = fork();
  if (middle < 0) return;
  if (middle == 0) {
    // The intermediate process exits at once, so that the agent is
    // re-parented and the emulator never has to wait for it.
    if (fork() != 0) _exit(0);
    setsid();
    if (chdir("/") != 0) _exit(127);
    umask(022);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      dup2(null_fd, 2);
    }
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execve(agent.c_str(), argv, envp);  // a relative path resolves from /
    _exit(127);
  }
  while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace cgemu
