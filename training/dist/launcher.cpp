#include "launcher.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "dist_env.hpp"

namespace mtfcdd {
namespace {

std::atomic<int> g_signals{0};
extern "C" void on_launcher_signal(int) { ++g_signals; }

// In the forked child: a rank outlives no launcher, even one killed with SIGKILL (the rank then gets SIGINT
// and stops as on Ctrl-C), so no orphaned rank keeps training or holding a GPU.
[[noreturn]] void exec_rank(const std::vector<std::string>& argv, int rank, int nproc, int port, pid_t launcher) {
  // SIGINT as the rank expects it, even under a shell that started the launcher with it ignored (`cmd &`).
  std::signal(SIGINT, SIG_DFL);
  sigset_t interrupt;
  sigemptyset(&interrupt);
  sigaddset(&interrupt, SIGINT);
  ::sigprocmask(SIG_UNBLOCK, &interrupt, nullptr);
  if (::prctl(PR_SET_PDEATHSIG, SIGINT) != 0 || ::getppid() != launcher) std::_Exit(128 + SIGINT);
  for (const auto& [k, v] : local_rank_env(rank, nproc, port)) ::setenv(k.c_str(), v.c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv("/proc/self/exe", args.data());
  std::perror("mtfcdd-train: exec");
  std::_Exit(127);
}

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

int launch_local(const std::vector<std::string>& argv, int nproc, int port, double grace_seconds) {
  if (nproc < 1) throw std::invalid_argument("--nproc must be positive");
  std::fflush(nullptr);
  std::vector<pid_t> pids(nproc, -1);
  const pid_t launcher = ::getpid();
  for (int r = 0; r < nproc; ++r) {
    pids[r] = ::fork();
    if (pids[r] < 0) throw std::runtime_error("fork() failed for rank " + std::to_string(r));
    if (pids[r] == 0) exec_rank(argv, r, nproc, port, launcher);
  }
  auto* old_int = std::signal(SIGINT, on_launcher_signal);
  auto* old_term = std::signal(SIGTERM, on_launcher_signal);
  using Clock = std::chrono::steady_clock;
  int alive = nproc, first_failure = 0, forwarded = 0;
  Clock::time_point failed_at;
  while (alive > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      --alive;
      for (int r = 0; r < nproc; ++r) {
        if (pids[r] != pid) continue;
        pids[r] = -1;
        if (exit_code_of(status) != 0 && first_failure == 0) {
          first_failure = exit_code_of(status);
          failed_at = Clock::now();
          std::fprintf(stderr, "mtfcdd-train --nproc: rank %d %s; the other ranks get %.0f s to stop\n", r,
                       how_it_ended(status).c_str(), grace_seconds);
        }
      }
      continue;
    }
    const int signals = g_signals.load();
    if (signals > forwarded) {
      forwarded = signals;
      for (pid_t p : pids)
        if (p > 0) ::kill(p, signals == 1 ? SIGINT : SIGKILL);
    }
    if (first_failure != 0 &&
        std::chrono::duration<double>(Clock::now() - failed_at).count() > grace_seconds) {
      for (int r = 0; r < nproc; ++r)
        if (pids[r] > 0) {
          std::fprintf(stderr, "mtfcdd-train --nproc: rank %d did not stop; killing it\n", r);
          ::kill(pids[r], SIGKILL);
        }
      failed_at = Clock::now() + std::chrono::hours(1);  // killed once; now only reap
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  return first_failure;
}

}  // namespace mtfcdd
