#include "heap_tuning.hpp"

#include <climits>
#include <malloc.h>

namespace mtfcdd {

void keep_freed_memory_in_heap() {
  mallopt(M_MMAP_MAX, 0);               // large blocks come from the heap, not from mmap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // and the heap's free top is kept, not returned
}

}  // namespace mtfcdd
