/* A library the probe tests load with ctypes, call and dlclose (ModuleUnmap ordering): nothing
 * else in the process maps it, so the dlclose really unmaps it. */
__attribute__((visibility("default"))) int fixture_twice(int x) { return 2 * x; }
