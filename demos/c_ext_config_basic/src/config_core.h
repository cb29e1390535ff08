/* Plain C core of mymodule.Config (no Python.h): URL validation, request building, native handles. */
#ifndef MYMODULE_CONFIG_CORE_H
#define MYMODULE_CONFIG_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CONFIG_TIMEOUT_MIN = 1,    /* seconds */
    CONFIG_TIMEOUT_MAX = 3600, /* seconds */
    CONFIG_URL_MAX = 2048,     /* bytes */
    CONFIG_HOST_MAX = 253,     /* bytes, the DNS limit */
    CONFIG_WHY_MAX = 128,      /* size of an error-explanation buffer */
    CONFIG_LINE_MAX = CONFIG_URL_MAX + 128
};

typedef enum config_status {
    CONFIG_OK = 0,
    CONFIG_ERR_TIMEOUT,      /* timeout outside [CONFIG_TIMEOUT_MIN, CONFIG_TIMEOUT_MAX] */
    CONFIG_ERR_URL,          /* url malformed; the why buffer says where */
    CONFIG_ERR_SSL_MISMATCH, /* an https:// url with ssl disabled */
    CONFIG_ERR_NO_MEMORY
} config_status;

/* What a Config holds. url need not be NUL-terminated: its length travels with it, so a Python str
 * with an embedded NUL is rejected as an unsupported character instead of being silently cut. */
typedef struct config_params {
    long timeout;
    const char* url;
    size_t url_len;
    bool ssl;
} config_params;

/* The request description process() produces; line is the canonical text form. */
typedef struct config_request {
    bool https;
    char host[CONFIG_HOST_MAX + 1];
    unsigned port;
    long timeout_ms;
    uint32_t signature;
    char line[CONFIG_LINE_MAX];
} config_request;

config_status config_check_timeout(long timeout);

/* Validates url; on failure writes a one-line reason (without the url itself) into why. */
config_status config_check_url(const char* url, size_t url_len, char* why, size_t why_size);

/* Builds the canonical request line "GET <scheme>://<host>:<port><path> timeout_ms=<n> tls=<on|off>
 * sig=<8 hex digits>", where sig is the FNV-1a 32-bit hash of everything before " sig=".
 * ssl=true upgrades an http:// url to https; an https:// url with ssl=false is refused. */
config_status config_build_request(const config_params* params, config_request* out, char* why,
                                   size_t why_size);

/* FNV-1a, 32 bit: a small, well-known hash anyone can recompute to check a request line. */
uint32_t config_signature(const char* text, size_t len);

/* An opaque, immutable native snapshot of a Config, owned by whoever created it. */
typedef struct config_handle config_handle;

config_handle* config_handle_create(const config_params* params); /* NULL when out of memory */
void config_handle_destroy(config_handle* handle);
const config_params* config_handle_params(const config_handle* handle);
size_t config_handle_live_count(void); /* handles created and not yet destroyed */

#ifdef __cplusplus
}
#endif

#endif /* MYMODULE_CONFIG_CORE_H */
