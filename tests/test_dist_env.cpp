#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <map>

#include "dist_env.hpp"
#include "test_util.hpp"

using namespace mtfcdd;

namespace {
std::function<const char*(const char*)> env_of(const std::map<std::string, std::string>& m) {
  return [m](const char* k) -> const char* {
    const auto it = m.find(k);
    return it == m.end() ? nullptr : it->second.c_str();
  };
}
// Binds a plain socket (no SO_REUSEADDR, as any other program's) to 127.0.0.1:`port`; its errno, 0
// when it could.
int bind_error(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const int error = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  ::close(fd);
  return error;
}

c10d::TCPStoreOptions store_options(int port, bool server) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(port);
  o.isServer = server;
  o.numWorkers = 2;
  o.waitWorkers = false;
  o.timeout = std::chrono::seconds(30);
  return o;
}

}  // namespace

TEST(DistEnv, NoVariablesIsOneProcess) {
  const DistConfig c = dist_config(env_of({}), {});
  EXPECT_EQ(c.world_size, 1);
  EXPECT_EQ(c.rank, 0);
  EXPECT_FALSE(c.distributed());
}

TEST(DistEnv, TorchrunVariablesAndFlagsThatWin) {
  const auto env = env_of({{"MASTER_ADDR", "10.0.0.5"}, {"MASTER_PORT", "29600"}, {"WORLD_SIZE", "4"}, {"RANK", "3"},
                           {"LOCAL_RANK", "1"}});
  DistConfig c = dist_config(env, {});
  EXPECT_EQ(c.endpoint(), "10.0.0.5:29600");
  EXPECT_EQ(c.world_size, 4);
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.local_rank, 1);
  DistFlags f;
  f.rank = 2;
  f.master_port = 1234;
  c = dist_config(env, f);
  EXPECT_EQ(c.rank, 2);
  EXPECT_EQ(c.master_port, 1234);
}

TEST(DistEnv, BadValuesNameTheVariable) {
  EXPECT_EQ(test::message_of([] { dist_config(env_of({{"WORLD_SIZE", "2"}, {"RANK", "2"}}), {}); }),
            "RANK = 2 must be below WORLD_SIZE = 2");
  EXPECT_EQ(test::message_of([] { dist_config(env_of({{"WORLD_SIZE", "2x"}, {"RANK", "0"}}), {}); }),
            "WORLD_SIZE must be an integer, not '2x'");
  EXPECT_EQ(test::message_of([] { dist_config(env_of({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}), {}); }),
            "MASTER_PORT must be in 1..65535, not 70000");
  EXPECT_EQ(test::message_of([] { dist_config(env_of({{"WORLD_SIZE", "2"}}), {}); }),
            "WORLD_SIZE = 2 but no RANK (or --rank) says which process this is");
  DistFlags f;
  f.rank = 5;
  EXPECT_EQ(test::message_of([&] { dist_config(env_of({{"WORLD_SIZE", "3"}}), f); }), "--rank = 5 must be below WORLD_SIZE = 3");
}

TEST(DistEnv, ShardsAreContiguousAndCoverEverything) {
  // 10 items over 3 ranks: 3, 3, 4.
  EXPECT_EQ(shard_range(10, 0, 3), std::make_pair(size_t{0}, size_t{3}));
  EXPECT_EQ(shard_range(10, 1, 3), std::make_pair(size_t{3}, size_t{6}));
  EXPECT_EQ(shard_range(10, 2, 3), std::make_pair(size_t{6}, size_t{10}));
  EXPECT_EQ(shard_range(8, 1, 2), std::make_pair(size_t{4}, size_t{8}));
  EXPECT_EQ(shard_range(5, 0, 1), std::make_pair(size_t{0}, size_t{5}));
}

TEST(DistEnv, LauncherEnvironment) {
  const auto env = local_rank_env(1, 2, 29501);
  const std::map<std::string, std::string> m(env.begin(), env.end());
  EXPECT_EQ(m.at("MASTER_ADDR"), "127.0.0.1");
  EXPECT_EQ(m.at("MASTER_PORT"), "29501");
  EXPECT_EQ(m.at("WORLD_SIZE"), "2");
  EXPECT_EQ(m.at("RANK"), "1");
  EXPECT_EQ(m.at("LOCAL_RANK"), "1");
}

// With several ranks a bare "cuda" is the rank's own GPU on its machine (LOCAL_RANK), so that the
// ranks of one machine do not all train on GPU 0; anything else stays as given.
TEST(DistEnv, BareCudaIsTheLocalRanksGpu) {
  const DistConfig two = dist_config(env_of({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}}), {});
  EXPECT_EQ(rank_device("cuda", two), "cuda:1");
  EXPECT_EQ(rank_device("cuda:0", two), "cuda:0");
  EXPECT_EQ(rank_device("cpu", two), "cpu");
  DistFlags f;
  f.local_rank = 2;
  EXPECT_EQ(rank_device("cuda", dist_config(env_of({{"WORLD_SIZE", "4"}, {"RANK", "3"}}), f)), "cuda:2");
  // Without LOCAL_RANK, the rank (one machine); one process keeps "cuda" as given.
  EXPECT_EQ(rank_device("cuda", dist_config(env_of({{"WORLD_SIZE", "2"}, {"RANK", "1"}}), {})), "cuda:1");
  EXPECT_EQ(rank_device("cuda", dist_config(env_of({}), {})), "cuda");
}

// A --nproc run's port is held from the moment it is chosen: no other program can bind it, yet
// rank 0's store listens on it and the other ranks reach it.
TEST(DistEnv, AReservedPortIsRefusedToOthersButServesTheStore) {
  const ReservedPort reserved;
  const int port = reserved.port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(bind_error(port), EADDRINUSE);
  c10d::TCPStore rank0("127.0.0.1", store_options(port, true));
  c10d::TCPStore rank1("127.0.0.1", store_options(port, false));
  rank0.set("from rank 0", std::vector<uint8_t>{4, 2});
  EXPECT_EQ(rank1.get("from rank 0"), (std::vector<uint8_t>{4, 2}));
  EXPECT_EQ(bind_error(port), EADDRINUSE);
  const ReservedPort other;
  EXPECT_NE(other.port(), port);
}
