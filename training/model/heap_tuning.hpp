// How a training process keeps freed memory.
#pragma once

namespace mtfcdd {

// glibc hands every freed block above its mmap threshold (a training batch's activations and
// gradients are tens of MB each) back to the kernel, and the next step faults the same amount
// back in page by page: on the 2-core machine half of a training run's CPU time was the kernel's.
// After this call freed memory stays in the heap for the next step instead. Process-wide; for
// training processes of our own, the trainer and the step bench (a library loaded into someone
// else's host must not do this).
void keep_freed_memory_in_heap();

}  // namespace mtfcdd
