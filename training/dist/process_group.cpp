#include "process_group.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace mtfcdd {
namespace {

using std::chrono::milliseconds;
constexpr auto kBeat = milliseconds(1000);

milliseconds timeout_of(const DistConfig& c) { return milliseconds(static_cast<int64_t>(c.timeout_seconds * 1000)); }

c10::intrusive_ptr<c10d::TCPStore> connect_store(const DistConfig& c, bool server, bool count_as_worker,
                                                 milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(c.master_port);
  o.isServer = server;
  o.numWorkers = static_cast<size_t>(c.world_size);
  o.waitWorkers = count_as_worker;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(c.master_addr, o);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::shared_ptr<::gloo::transport::Device> gloo_device(const DistConfig& c) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (c.master_addr == "127.0.0.1" || c.master_addr == "localhost")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::ProcessGroup> make_group(const c10::intrusive_ptr<c10d::Store>& store, const DistConfig& c,
                                                  const torch::Device& device) {
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = timeout_of(c);
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, c.rank, c.world_size, o);
#else
    throw std::runtime_error("--device cuda with several ranks needs NCCL, which this LibTorch lacks");
#endif
  }
  auto o = c10d::ProcessGroupGloo::Options::create(timeout_of(c));
  o->devices.push_back(gloo_device(c));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, c.rank, c.world_size, o);
}

}  // namespace

C10dGroup::C10dGroup(const DistConfig& cfg, const torch::Device& device) : cfg_(cfg) {
  // Gloo writes to peers with writev, which raises SIGPIPE on a dead peer's socket: ignored, the
  // write fails with EPIPE and the collective names the peer instead of this rank dying silently.
  std::signal(SIGPIPE, SIG_IGN);
  const std::string where = "the master " + cfg.endpoint() + " (MASTER_ADDR:MASTER_PORT)";
  c10::intrusive_ptr<c10d::TCPStore> tcp;
  try {
    tcp = connect_store(cfg, cfg.rank == 0, true, timeout_of(cfg));
  } catch (const std::exception& e) {
    throw std::runtime_error(cfg.rank == 0 ? "rank 0 cannot listen at " + where + " or not all " +
                                                 std::to_string(cfg.world_size) + " ranks joined within " +
                                                 std::to_string(static_cast<int>(cfg.timeout_seconds)) + " s: " +
                                                 first_line(e.what())
                                           : "rank " + std::to_string(cfg.rank) + " cannot reach " + where +
                                                 " within " + std::to_string(static_cast<int>(cfg.timeout_seconds)) +
                                                 " s: " + first_line(e.what()));
  }
  store_ = tcp;
  try {
    pg_ = make_group(c10::make_intrusive<c10d::PrefixStore>("pg", store_), cfg, device);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(cfg.rank) + ": creating the process group failed: " +
                             first_line(e.what()));
  }
  heartbeat_ = std::thread([this] { beat(); });
}

C10dGroup::~C10dGroup() {
  beating_ = false;
  if (heartbeat_.joinable()) heartbeat_.join();
}

void C10dGroup::beat() {
  try {
    auto store = connect_store(cfg_, false, false, timeout_of(cfg_));
    const std::string key = "heartbeat/" + std::to_string(cfg_.rank);
    for (int64_t n = 0; beating_; ++n) {
      store->set(key, std::vector<uint8_t>(reinterpret_cast<uint8_t*>(&n), reinterpret_cast<uint8_t*>(&n) + sizeof n));
      for (int i = 0; i < 10 && beating_; ++i) std::this_thread::sleep_for(kBeat / 10);
    }
  } catch (const std::exception&) {
    // The store (rank 0) is gone; the next collective fails and names it.
  }
}

std::string C10dGroup::silent_ranks() {
  try {
    auto store = connect_store(cfg_, false, false, milliseconds(5000));
    const auto read = [&] {
      std::vector<std::vector<uint8_t>> v;
      for (int r = 0; r < cfg_.world_size; ++r) {
        const std::string key = "heartbeat/" + std::to_string(r);
        v.push_back(store->check({key}) ? store->get(key) : std::vector<uint8_t>());
      }
      return v;
    };
    const auto before = read();
    std::this_thread::sleep_for(3 * kBeat);
    const auto after = read();
    std::string out;
    for (int r = 0; r < cfg_.world_size; ++r)
      if (r != cfg_.rank && before[r] == after[r]) out += (out.empty() ? "rank " : ", rank ") + std::to_string(r);
    return out.empty() ? "no rank has stopped beating (a network fault?)" : out + " stopped (died or hung)";
  } catch (const std::exception&) {
    return "rank 0 stopped (died or hung): the store it hosts at " + cfg_.endpoint() + " no longer answers";
  }
}

void C10dGroup::fail(const std::string& during, const std::string& error) {
  beating_ = false;
  std::fflush(stdout);  // what this rank printed before comes first in a shared log
  std::fprintf(stderr, "mtfcdd-train rank %d: %s failed: %s; %s\n", cfg_.rank, during.c_str(),
               first_line(error).c_str(), silent_ranks().c_str());
  std::fflush(nullptr);
  std::_Exit(3);
}

void C10dGroup::allreduce_sum(torch::Tensor& t) {
  std::vector<torch::Tensor> v{t.is_contiguous() ? t : t.contiguous()};
  try {
    pg_->allreduce(v)->wait();
  } catch (const std::exception& e) {
    fail("allreduce", e.what());
  }
  if (!v[0].is_same(t)) t.copy_(v[0]);
}

void C10dGroup::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  std::vector<torch::Tensor> flat;
  for (auto& t : tensors) flat.push_back(t.reshape(-1).to(torch::kFloat));
  std::vector<torch::Tensor> buffer{torch::cat(flat)};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  try {
    pg_->broadcast(buffer, o)->wait();
  } catch (const std::exception& e) {
    fail("broadcast", e.what());
  }
  int64_t at = 0;
  for (auto& t : tensors) {
    t.copy_(buffer[0].slice(0, at, at + t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

void C10dGroup::barrier() {
  try {
    pg_->barrier()->wait();
  } catch (const std::exception& e) {
    fail("barrier", e.what());
  }
}

void C10dGroup::put(const std::string& key, const std::string& bytes) {
  try {
    store_->set(key, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {
    fail("storing " + key, e.what());
  }
}

std::string C10dGroup::fetch(const std::string& key, int from) {
  // Polled, not a blocking get: `from` may work longer than the timeout (an export) as long as it
  // beats; once it stops, this stops too.
  try {
    const std::string beat_key = "heartbeat/" + std::to_string(from);
    std::vector<uint8_t> last_beat;
    auto last_change = std::chrono::steady_clock::now();
    while (!store_->check({key})) {
      std::this_thread::sleep_for(kBeat / 5);
      const auto b = store_->check({beat_key}) ? store_->get(beat_key) : std::vector<uint8_t>();
      if (b != last_beat) {
        last_beat = b;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > timeout_of(cfg_)) {
        fail("waiting for " + key + " from rank " + std::to_string(from), "no heartbeat within the timeout");
      }
    }
    const auto v = store_->get(key);
    return std::string(v.begin(), v.end());
  } catch (const std::exception& e) {
    fail("fetching " + key, e.what());
  }
}

void C10dGroup::finish() {
  // Rank 0 hosts the store: it leaves last, once every other rank has said it is done with it.
  try {
    if (cfg_.rank != 0) {
      store_->add("finished", 1);
    } else {
      const auto deadline = std::chrono::steady_clock::now() + timeout_of(cfg_);
      while (store_->add("finished", 0) < cfg_.world_size - 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(kBeat / 10);
    }
  } catch (const std::exception&) {
    // A peer leaving at the very end is no failure of the run.
  }
  beating_ = false;
  if (heartbeat_.joinable()) heartbeat_.join();
}

}  // namespace mtfcdd
