// Runs release agents (spec §6) without ever making the filesystem wait:
// requests are queued and a thread of its own starts each agent.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace cgemu {

class ReleaseAgentLauncher {
 public:
  ReleaseAgentLauncher();
  ~ReleaseAgentLauncher();
  ReleaseAgentLauncher(const ReleaseAgentLauncher&) = delete;
  ReleaseAgentLauncher& operator=(const ReleaseAgentLauncher&) = delete;

  // Queues one run of `agent cgroup_path`; an empty agent runs nothing.
  void launch(std::string agent, std::string cgroup_path);

 private:
  struct Run {
    std::string agent;
    std::string path;
  };
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Run> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// Starts `agent path` as the kernel's call_usermodehelper does: argv
// [agent, path], environment HOME=/ and PATH=/sbin:/bin:/usr/sbin:/usr/bin,
// cwd /, umask 022, a new session, stdin/stdout/stderr on /dev/null, no
// other descriptors. Returns once the agent's intermediate parent has been
// reaped; the agent itself is re-parented and never waited for. Failures
// are silent, as the kernel's are.
void spawn_release_agent(const std::string& agent, const std::string& path);

}  // namespace cgemu
