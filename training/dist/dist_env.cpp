#include "dist_env.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace mtfcdd {
namespace {

std::optional<long long> integer_of(const std::string& name, const char* v) {
  if (v == nullptr) return std::nullopt;
  const std::string s = v;
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (s.empty() || pos != s.size()) throw std::invalid_argument(name + " must be an integer, not '" + s.substr(0, 64) + "'");
  return n;
}

int in_range(const std::string& name, long long v, long long lo, long long hi) {
  if (v < lo || v > hi)
    throw std::invalid_argument(name + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", not " +
                                std::to_string(v));
  return static_cast<int>(v);
}

// The flag's value when given, else the variable's (named for messages as where it came from).
int pick(const std::optional<int>& flag, const std::string& flag_name, const std::string& var,
         const std::function<const char*(const char*)>& env, long long lo, long long hi, int fallback,
         std::string* source) {
  if (flag) {
    *source = flag_name;
    return in_range(flag_name, *flag, lo, hi);
  }
  *source = var;
  const auto v = integer_of(var, env(var.c_str()));
  return v ? in_range(var, *v, lo, hi) : fallback;
}

}  // namespace

DistConfig dist_config(const std::function<const char*(const char*)>& env, const DistFlags& flags) {
  DistConfig c;
  std::string world_src, rank_src, src;
  c.world_size = pick(flags.world_size, "--world-size", "WORLD_SIZE", env, 1, 65536, 1, &world_src);
  const bool rank_given = flags.rank || env("RANK") != nullptr;
  c.rank = pick(flags.rank, "--rank", "RANK", env, 0, 65535, 0, &rank_src);
  if (c.rank >= c.world_size)
    throw std::invalid_argument(rank_src + " = " + std::to_string(c.rank) + " must be below " + world_src + " = " +
                                std::to_string(c.world_size));
  c.local_rank = pick(flags.local_rank, "--local-rank", "LOCAL_RANK", env, 0, 65535, c.rank, &src);
  c.master_port = pick(flags.master_port, "--master-port", "MASTER_PORT", env, 1, 65535, c.master_port, &src);
  if (flags.master_addr)
    c.master_addr = *flags.master_addr;
  else if (const char* a = env("MASTER_ADDR"))
    c.master_addr = a;
  if (c.master_addr.empty()) throw std::invalid_argument("MASTER_ADDR is empty");
  if (flags.timeout_seconds) {
    if (!(*flags.timeout_seconds >= 1 && *flags.timeout_seconds <= 86400))
      throw std::invalid_argument("--dist-timeout must be in 1..86400 seconds");
    c.timeout_seconds = *flags.timeout_seconds;
  }
  if (c.world_size > 1 && !rank_given)
    throw std::invalid_argument(world_src + " = " + std::to_string(c.world_size) +
                                " but no RANK (or --rank) says which process this is");
  return c;
}

std::string rank_device(const std::string& spec, const DistConfig& c) {
  return spec == "cuda" && c.distributed() ? "cuda:" + std::to_string(c.local_rank) : spec;
}

std::pair<size_t, size_t> shard_range(size_t n, int rank, int world_size) {
  const size_t w = static_cast<size_t>(world_size), r = static_cast<size_t>(rank);
  return {n * r / w, n * (r + 1) / w};
}

std::vector<std::pair<std::string, std::string>> local_rank_env(int rank, int nproc, int port) {
  return {{"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)},
          {"WORLD_SIZE", std::to_string(nproc)},
          {"RANK", std::to_string(rank)},
          {"LOCAL_RANK", std::to_string(rank)}};
}

ReservedPort::ReservedPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (fd_ < 0) throw std::runtime_error(std::string("socket(): ") + std::strerror(errno));
  const int on = 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("no free TCP port on 127.0.0.1: " + why);
  }
  port_ = ntohs(a.sin_port);
}

ReservedPort::~ReservedPort() { ::close(fd_); }

}  // namespace mtfcdd
