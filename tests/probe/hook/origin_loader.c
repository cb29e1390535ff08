/* A library with an $ORIGIN-relative RPATH that dlopen()s by bare name: the load-watch test
   checks that wrapping dlopen does not break this search. */
#include <dlfcn.h>

__attribute__((visibility("default"))) void* lt_origin_open(const char* name) { return dlopen(name, RTLD_NOW); }
__attribute__((visibility("default"))) int lt_origin_close(void* handle) { return dlclose(handle); }
