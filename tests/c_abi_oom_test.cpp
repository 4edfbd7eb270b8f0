// The C ABI when memory runs out: every call returns a status and last_error() a message, and no
// exception unwinds into the C caller, not even one raised while the error is being stored.
// Allocation fails on request through a replaced operator new; c_api.cpp is compiled in.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "vision_plugin.h"

namespace {

bool g_fail_allocations = false;
int g_failures = 0;

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "CHECK failed: %s\n", what);
  ++g_failures;
}

// Runs `call` with every allocation failing.
template <class F>
VpStatus starved(F&& call) {
  g_fail_allocations = true;
  const VpStatus s = call();
  g_fail_allocations = false;
  return s;
}

}  // namespace

void* operator new(std::size_t n) {
  if (g_fail_allocations) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

int main() {
  const VpApi* api = vp_get_api(VP_ABI_VERSION);
  VpDetector* det = reinterpret_cast<VpDetector*>(1);
  // A message longer than a string holds in place: storing it allocates, and fails.
  check(starved([&] { return api->create(nullptr, nullptr, &det); }) == VP_ERR_INVALID_ARGUMENT,
        "create(NULL config) is VP_ERR_INVALID_ARGUMENT");
  check(det == nullptr, "create's *out is NULL");
  check(std::strcmp(api->last_error(nullptr), "out of memory") == 0, "the message says out of memory");
  // Creating the detector allocates, and fails.
  check(starved([&] { return api->create("{\"model\": \"x\"}", nullptr, &det); }) == VP_ERR_INTERNAL,
        "create out of memory is VP_ERR_INTERNAL");
  check(std::strcmp(api->last_error(nullptr), "out of memory") == 0, "the message says out of memory");
  // Once memory is back, messages are whole again.
  check(api->create(nullptr, nullptr, &det) == VP_ERR_INVALID_ARGUMENT, "create(NULL config) again");
  check(std::strcmp(api->last_error(nullptr), "create: config_json is NULL") == 0, "the whole message again");
  if (g_failures) std::fprintf(stderr, "%d checks failed\n", g_failures);
  else std::printf("c_abi_oom_test: all checks passed\n");
  return g_failures ? 1 : 0;
}
