/* Calls lt_t_add through this object's GOT: built twice, with a PLT (JUMP_SLOT) and with
   -fno-plt (GLOB_DAT), for the GOT-patching tests. */
long lt_t_add(long a, long b);

#ifndef CALLER_NAME
#error CALLER_NAME must be defined
#endif

__attribute__((visibility("default"))) long CALLER_NAME(long a, long b) { return lt_t_add(a, b) + 0; }
