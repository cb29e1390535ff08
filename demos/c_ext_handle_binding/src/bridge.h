/* The extern "C" bridge of libhandle_pool.so: the only ABI Python (ctypes) sees. No Python.h, no C++ types.
 */
#ifndef HANDLE_POOL_BRIDGE_H
#define HANDLE_POOL_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HP_API __attribute__((visibility("default")))

/* An opaque resource handle: a number the pool checks on every call, never an address. */
typedef uint64_t hp_handle;

/* Every function returns one of these; C++ exceptions never cross this boundary. On failure,
 * hp_last_error() describes it for the calling thread. */
typedef enum hp_status {
    HP_OK = 0,
    HP_ERR_INVALID_ARGUMENT = 1, /* a value the resource refuses (timeout out of range, bad url, NULL out) */
    HP_ERR_INVALID_HANDLE = 2,   /* a number the pool never issued */
    HP_ERR_STALE_HANDLE = 3,     /* a handle whose resource was released */
    HP_ERR_WRONG_KIND = 4,       /* a Counter handle passed where a Config is needed, or the reverse */
    HP_ERR_OVERFLOW = 5,         /* the counter would wrap around */
    HP_ERR_NO_MEMORY = 6,
    HP_ERR_BUFFER_TOO_SMALL = 7, /* *length says how many bytes (with the NUL) are needed */
    HP_ERR_INTERNAL = 8          /* any other C++ exception */
} hp_status;

HP_API int hp_config_create(int timeout_seconds, const char* url, int ssl, hp_handle* out);
HP_API int hp_config_timeout(hp_handle config, int* out);
HP_API int hp_config_set_timeout(hp_handle config, int timeout_seconds);
/* Writes a NUL-terminated description into buffer; *length receives its size including the NUL. */
HP_API int hp_config_describe(hp_handle config, char* buffer, size_t capacity, size_t* length);

HP_API int hp_counter_create(int64_t start, int64_t step, hp_handle* out);
HP_API int hp_counter_increment(hp_handle counter, int64_t* value);
HP_API int hp_counter_value(hp_handle counter, int64_t* value);

/* Releases a resource of either kind; the handle and all its copies become stale. */
HP_API int hp_release(hp_handle handle);
HP_API size_t hp_live_count(void);

/* The message of the calling thread's most recent failure ("" if none); valid until its next call. */
HP_API const char* hp_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HANDLE_POOL_BRIDGE_H */
