/* A shared library that is not a vision plugin: it lacks vp_get_api. */
__attribute__((visibility("default"))) int something_else(void) { return 42; }
