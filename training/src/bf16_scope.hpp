// Autocast to bfloat16 for the forward passes in a scope (thread-local, as autocast is): the
// trainer's --bf16, and the bench that measures it.
#pragma once

#include <ATen/autocast_mode.h>

namespace mtfcdd {

class Bf16Scope {
 public:
  explicit Bf16Scope(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~Bf16Scope() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  Bf16Scope(const Bf16Scope&) = delete;
  Bf16Scope& operator=(const Bf16Scope&) = delete;

 private:
  bool on_;
};

}  // namespace mtfcdd
