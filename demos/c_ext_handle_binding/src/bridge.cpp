// extern "C" bridge over handle_demo::HandlePool: turns every C++ exception into an hp_status code.
#include "bridge.h"

#include "handle_pool.h"

#include <cstdio>
#include <cstring>
#include <new>

namespace {

using handle_demo::HandleErrc;
using handle_demo::HandleError;
using handle_demo::HandlePool;

// A fixed buffer, so recording an error can never itself throw (bad_alloc while reporting bad_alloc).
thread_local char t_lastError[512];

HandlePool& pool() {
    static HandlePool instance;
    return instance;
}

int fail(hp_status status, const char* message) noexcept {
    std::snprintf(t_lastError, sizeof t_lastError, "%s", message);
    return status;
}

hp_status statusFor(HandleErrc code) noexcept {
    switch (code) {
    case HandleErrc::InvalidArgument:
        return HP_ERR_INVALID_ARGUMENT;
    case HandleErrc::InvalidHandle:
        return HP_ERR_INVALID_HANDLE;
    case HandleErrc::StaleHandle:
        return HP_ERR_STALE_HANDLE;
    case HandleErrc::WrongKind:
        return HP_ERR_WRONG_KIND;
    case HandleErrc::Overflow:
        return HP_ERR_OVERFLOW;
    case HandleErrc::Exhausted:
        return HP_ERR_NO_MEMORY;
    }
    return HP_ERR_INTERNAL;
}

// Runs body and converts whatever it throws into a status: an exception unwinding into ctypes'
// libffi frames (and on into CPython) would abort the process, so nothing may escape.
template <typename Body> int guarded(Body&& body) noexcept {
    try {
        body();
        t_lastError[0] = '\0';
        return HP_OK;
    } catch (const HandleError& error) {
        return fail(statusFor(error.code()), error.what());
    } catch (const std::bad_alloc&) {
        return fail(HP_ERR_NO_MEMORY, "out of memory");
    } catch (const std::exception& error) {
        return fail(HP_ERR_INTERNAL, error.what());
    } catch (...) {
        return fail(HP_ERR_INTERNAL, "unknown C++ exception");
    }
}

template <typename T> void requireOut(T* out, const char* name) {
    if (!out) {
        throw HandleError(HandleErrc::InvalidArgument, std::string(name) + " must not be NULL");
    }
}

} // namespace

extern "C" {

int hp_config_create(int timeout_seconds, const char* url, int ssl, hp_handle* out) {
    return guarded([&] {
        requireOut(out, "out");
        if (!url) {
            throw HandleError(HandleErrc::InvalidArgument, "url must not be NULL");
        }
        *out = pool().createConfig(timeout_seconds, url, ssl != 0);
    });
}

int hp_config_timeout(hp_handle config, int* out) {
    return guarded([&] {
        requireOut(out, "out");
        *out = pool().configTimeout(config);
    });
}

int hp_config_set_timeout(hp_handle config, int timeout_seconds) {
    return guarded([&] { pool().setConfigTimeout(config, timeout_seconds); });
}

int hp_config_describe(hp_handle config, char* buffer, size_t capacity, size_t* length) {
    bool tooSmall = false;
    const int status = guarded([&] {
        requireOut(length, "length");
        const std::string text = pool().describeConfig(config);
        *length = text.size() + 1;
        tooSmall = !buffer || capacity < *length;
        if (!tooSmall) {
            std::memcpy(buffer, text.c_str(), *length);
        }
    });
    if (status == HP_OK && tooSmall) {
        char message[96];
        std::snprintf(message, sizeof message, "buffer of %zu bytes is too small, %zu needed", capacity,
                      *length);
        return fail(HP_ERR_BUFFER_TOO_SMALL, message);
    }
    return status;
}

int hp_counter_create(int64_t start, int64_t step, hp_handle* out) {
    return guarded([&] {
        requireOut(out, "out");
        *out = pool().createCounter(start, step);
    });
}

int hp_counter_increment(hp_handle counter, int64_t* value) {
    return guarded([&] {
        requireOut(value, "value");
        *value = pool().incrementCounter(counter);
    });
}

int hp_counter_value(hp_handle counter, int64_t* value) {
    return guarded([&] {
        requireOut(value, "value");
        *value = pool().counterValue(counter);
    });
}

int hp_release(hp_handle handle) {
    return guarded([&] { pool().release(handle); });
}

size_t hp_live_count(void) {
    size_t count = 0;
    guarded([&] { count = pool().liveCount(); });
    return count;
}

const char* hp_last_error(void) {
    return t_lastError;
}

} // extern "C"
