#include "child_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace mtfcdd::bench {

nlohmann::json stdout_json(const ChildRun& run, const std::string& child) {
  try {
    return nlohmann::json::parse(run.stdout_text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("the " + child + " child printed no valid JSON (" + std::string(e.what()) +
                             "): " + run.stdout_text.substr(0, 500));
  }
}

ChildRun run_self(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return run_child(std::filesystem::read_symlink("/proc/self/exe").string(), args, env);
}

std::vector<std::string> wait_policy_env(bool spin) {
  if (spin) return {};
  return {"OMP_WAIT_POLICY=passive"};
}

ChildRun run_child(const std::string& exe, const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  // getenv takes the first match, so the extra entries go first.
  std::vector<std::string> env_copy = env;
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // the copy is not close-on-exec
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::system_error(rc, std::generic_category(), "cannot start " + exe);
  }

  ChildRun run;
  int read_errno = 0;
  char buf[1 << 14];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      run.stdout_text.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      read_errno = n < 0 ? errno : 0;
      break;
    }
  }
  close(fds[0]);  // a child still writing then gets SIGPIPE instead of blocking forever

  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0)
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "wait4");
  if (read_errno != 0) throw std::system_error(read_errno, std::generic_category(), "reading the child's output");
  const std::string what = all.size() > 1 ? all[1] : exe;
  if (WIFSIGNALED(status))
    throw std::runtime_error("child (" + what + ") killed by signal " + std::to_string(WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("child (" + what + ") failed with exit code " + std::to_string(WEXITSTATUS(status)));
  run.max_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
  return run;
}

}  // namespace mtfcdd::bench
