// Where this process stands in a data-parallel run, read as torchrun, Kubernetes' PyTorchJob and
// SLURM scripts pass it: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK; flags override.
// No torch here.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mtfcdd {

struct DistConfig {
  int world_size = 1;
  int rank = 0;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_seconds = 60;  // rendezvous, each collective, and a peer's silence before it is named dead
  bool distributed() const { return world_size > 1; }
  std::string endpoint() const { return master_addr + ":" + std::to_string(master_port); }
};

// Values given on the command line; each one present wins over its variable.
struct DistFlags {
  std::optional<int> world_size, rank, local_rank, master_port;
  std::optional<std::string> master_addr;
  std::optional<double> timeout_seconds;
};

// `env` returns a variable's value or nullptr (std::getenv in use, a map in tests). Without
// WORLD_SIZE (or with 1) the run is one process. Throws std::invalid_argument naming the variable
// (or flag) that is not a number, out of range (RANK >= WORLD_SIZE, a port outside 1..65535), or
// missing when another says the run is distributed.
DistConfig dist_config(const std::function<const char*(const char*)>& env, const DistFlags& flags);

// The device this rank computes on: with several ranks a bare "cuda" is this machine's GPU number
// local_rank (torchrun's one GPU per local rank: without it every rank of a machine would share
// GPU 0); "cpu", "cuda:N", and anything in a run of one process, as given.
std::string rank_device(const std::string& spec, const DistConfig& c);

// Rank `rank`'s part of n items, [first, last): contiguous, sizes differing by at most one, in
// rank order, so that the shards put together are the items in order.
std::pair<size_t, size_t> shard_range(size_t n, int rank, int world_size);

// The environment a child of the one-machine launcher gets: rank r of n, the master on loopback.
std::vector<std::pair<std::string, std::string>> local_rank_env(int rank, int nproc, int port);

// A TCP port on 127.0.0.1 for --nproc runs that name none, held until the object goes: bound with
// SO_REUSEADDR and not listening, so that no other bind() or outgoing connection on this machine
// is given it meanwhile, while rank 0's store (c10d's TCPStore also sets SO_REUSEADDR) can listen
// on it. A port only looked up and released could be taken by another process before rank 0
// listens. Throws std::runtime_error when no port can be bound.
class ReservedPort {
 public:
  ReservedPort();
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
};

}  // namespace mtfcdd
