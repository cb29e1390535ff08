/* Plain C implementation behind mymodule.Config: validates urls and builds canonical request lines. */
#include "config_core.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_size_t g_live_handles;

typedef struct url_parts {
    bool https;
    const char* host;
    size_t host_len;
    unsigned port; /* 0 when the url names none */
    const char* path;
    size_t path_len; /* 0 when the url ends after the host or port */
} url_parts;

__attribute__((format(printf, 4, 5))) static config_status fail(config_status status, char* why,
                                                                size_t why_size, const char* format, ...) {
    if (why && why_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(why, why_size, format, args);
        va_end(args);
    }
    return status;
}

/* Character classes are spelled out instead of using <ctype.h>, whose answers depend on the locale. */
static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
static bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_host_char(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '.' || c == '-';
}
static bool is_path_char(unsigned char c) {
    return c > 0x20 && c < 0x7f && c != '?' && c != '#';
}

static bool starts_with(const char* text, size_t len, const char* prefix) {
    size_t prefix_len = strlen(prefix);
    return len >= prefix_len && memcmp(text, prefix, prefix_len) == 0;
}

static config_status parse_url(const char* url, size_t len, url_parts* out, char* why, size_t why_size) {
    if (len > CONFIG_URL_MAX) {
        return fail(CONFIG_ERR_URL, why, why_size, "longer than %d bytes", CONFIG_URL_MAX);
    }
    size_t pos;
    if (starts_with(url, len, "https://")) {
        out->https = true;
        pos = 8;
    } else if (starts_with(url, len, "http://")) {
        out->https = false;
        pos = 7;
    } else {
        return fail(CONFIG_ERR_URL, why, why_size, "must start with http:// or https://");
    }

    size_t host_start = pos;
    while (pos < len && url[pos] != ':' && url[pos] != '/') {
        if (!is_host_char((unsigned char)url[pos])) {
            return fail(CONFIG_ERR_URL, why, why_size, "unsupported character at offset %zu", pos);
        }
        ++pos;
    }
    out->host = url + host_start;
    out->host_len = pos - host_start;
    if (out->host_len == 0) {
        return fail(CONFIG_ERR_URL, why, why_size, "no host");
    }
    if (out->host_len > CONFIG_HOST_MAX) {
        return fail(CONFIG_ERR_URL, why, why_size, "host longer than %d bytes", CONFIG_HOST_MAX);
    }

    out->port = 0;
    if (pos < len && url[pos] == ':') {
        ++pos;
        unsigned long port = 0;
        size_t digits = 0;
        while (pos < len && is_digit((unsigned char)url[pos]) && digits < 6) {
            port = port * 10 + (unsigned long)(url[pos] - '0');
            ++pos;
            ++digits;
        }
        if (digits == 0 || digits > 5 || port == 0 || port > 65535 || (pos < len && url[pos] != '/')) {
            return fail(CONFIG_ERR_URL, why, why_size, "port must be a number from 1 to 65535");
        }
        out->port = (unsigned)port;
    }

    out->path = url + pos;
    out->path_len = len - pos;
    for (size_t i = pos; i < len; ++i) {
        if (!is_path_char((unsigned char)url[i])) {
            return fail(CONFIG_ERR_URL, why, why_size, "unsupported character at offset %zu", i);
        }
    }
    return CONFIG_OK;
}

config_status config_check_timeout(long timeout) {
    return timeout >= CONFIG_TIMEOUT_MIN && timeout <= CONFIG_TIMEOUT_MAX ? CONFIG_OK : CONFIG_ERR_TIMEOUT;
}

config_status config_check_url(const char* url, size_t url_len, char* why, size_t why_size) {
    url_parts parts;
    return parse_url(url, url_len, &parts, why, why_size);
}

uint32_t config_signature(const char* text, size_t len) {
    uint32_t hash = 0x811c9dc5u;
    for (size_t i = 0; i < len; ++i) {
        hash ^= (unsigned char)text[i];
        hash *= 0x01000193u;
    }
    return hash;
}

config_status config_build_request(const config_params* params, config_request* out, char* why,
                                   size_t why_size) {
    if (config_check_timeout(params->timeout) != CONFIG_OK) {
        return fail(CONFIG_ERR_TIMEOUT, why, why_size, "timeout must be between %d and %d seconds, got %ld",
                    CONFIG_TIMEOUT_MIN, CONFIG_TIMEOUT_MAX, params->timeout);
    }
    url_parts parts;
    config_status status = parse_url(params->url, params->url_len, &parts, why, why_size);
    if (status != CONFIG_OK) {
        return status;
    }
    if (parts.https && !params->ssl) {
        return fail(CONFIG_ERR_SSL_MISMATCH, why, why_size, "url uses https:// but ssl is disabled");
    }

    /* ssl decides the scheme: an http:// url is upgraded rather than sent in the clear. */
    out->https = params->ssl;
    for (size_t i = 0; i < parts.host_len; ++i) {
        unsigned char c = (unsigned char)parts.host[i];
        out->host[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out->host[parts.host_len] = '\0';
    out->port = parts.port != 0 ? parts.port : (out->https ? 443u : 80u);
    out->timeout_ms = params->timeout * 1000L;

    const char* path = parts.path_len > 0 ? parts.path : "/";
    int path_len = parts.path_len > 0 ? (int)parts.path_len : 1;
    int n = snprintf(out->line, sizeof out->line, "GET %s://%s:%u%.*s timeout_ms=%ld tls=%s",
                     out->https ? "https" : "http", out->host, out->port, path_len, path, out->timeout_ms,
                     out->https ? "on" : "off");
    /* Cannot happen within CONFIG_URL_MAX, but a truncated line must never pass as a valid one. */
    if (n < 0 || (size_t)n + sizeof " sig=12345678" > sizeof out->line) {
        return fail(CONFIG_ERR_URL, why, why_size, "request line longer than %d bytes", CONFIG_LINE_MAX);
    }
    out->signature = config_signature(out->line, (size_t)n);
    snprintf(out->line + n, sizeof out->line - (size_t)n, " sig=%08x", (unsigned)out->signature);
    return CONFIG_OK;
}

struct config_handle {
    config_params params;
    char url[]; /* params.url points here: the handle owns its copy */
};

config_handle* config_handle_create(const config_params* params) {
    config_handle* handle = malloc(sizeof *handle + params->url_len + 1);
    if (!handle) {
        return NULL;
    }
    memcpy(handle->url, params->url, params->url_len);
    handle->url[params->url_len] = '\0';
    handle->params = *params;
    handle->params.url = handle->url;
    atomic_fetch_add(&g_live_handles, 1);
    return handle;
}

void config_handle_destroy(config_handle* handle) {
    if (handle) {
        atomic_fetch_sub(&g_live_handles, 1);
        free(handle);
    }
}

const config_params* config_handle_params(const config_handle* handle) {
    return &handle->params;
}

size_t config_handle_live_count(void) {
    return atomic_load(&g_live_handles);
}
