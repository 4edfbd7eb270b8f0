// Compiled into every program of a sanitizer build (MTFCDD_SANITIZE, MTFCDD_TSAN), so that the
// tests, the host and anything they start run with these defaults whatever the environment says.
//
// intercept_tls_get_addr=0: up to LLVM 16 the runtime's __tls_get_addr interceptor takes a dynamic
// TLS block whose address is sizeof(Glibc_2_19_tls_header) past a page boundary for a pre-2.25
// glibc header and records a bogus range; LeakSanitizer's tracer then dies at exit ("Tracer caught
// signal 11"). oneDNN's and OpenMP's blocks, loaded with the plugin by dlopen, land there at
// random. Leak checking stays on; only dynamic TLS is no longer scanned for pointers.
extern "C" const char* __asan_default_options() { return "intercept_tls_get_addr=0"; }

// ThreadSanitizer (MTFCDD_TSAN): a race is a failure, reported with both stacks.
// ignore_noninstrumented_modules: OpenCV, TBB, oneDNN and GDAL are not instrumented, and their
// threads hand buffers over with synchronisation TSan cannot see (OpenCV's parallel_for_ runs on
// TBB workers: a buffer a worker mallocs and the caller frees reads as a race). The runtime then
// ignores the malloc/free and lock calls those libraries make; every access our code makes, and
// every lock it takes, is still checked. No suppressions.
extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1";
}
