// C++ side of the Part V demo: a HandlePool that owns Config and Counter resources behind generation-checked
// handles.
#pragma once

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace handle_demo {

// What can go wrong, one value per distinct reaction a caller might want. The C bridge maps each to
// an hp_status code; the numbers here are internal.
enum class HandleErrc { InvalidArgument, InvalidHandle, StaleHandle, WrongKind, Overflow, Exhausted };

class HandleError : public std::runtime_error {
public:
    HandleError(HandleErrc code, const std::string& what) : std::runtime_error(what), m_code(code) {}
    HandleErrc code() const noexcept { return m_code; }

private:
    HandleErrc m_code;
};

enum class ResourceKind : std::uint8_t { Config = 1, Counter = 2 };

// A client configuration, validated on construction and on every change.
class Config {
public:
    Config(int timeoutSeconds, std::string url, bool ssl); // throws HandleError(InvalidArgument)

    int timeout() const { return m_timeout; }
    void setTimeout(int seconds); // throws HandleError(InvalidArgument)
    std::string describe() const;

private:
    int m_timeout;
    std::string m_url;
    bool m_ssl;
};

// A counter that refuses to wrap around.
class Counter {
public:
    Counter(std::int64_t start, std::int64_t step) : m_value(start), m_step(step) {}

    std::int64_t increment(); // throws HandleError(Overflow), leaving the value unchanged
    std::int64_t value() const { return m_value; }

private:
    std::int64_t m_value;
    std::int64_t m_step;
};

// A handle is an opaque 64-bit number, never an address: bits 0-31 hold slot index + 1 (so 0 is
// never valid), bits 32-55 the slot's generation, bits 56-63 the resource kind. Releasing a slot
// bumps its generation, so every copy of an old handle is recognised as stale even after the slot
// is reused. Python only ever holds these numbers, so a stale or forged one cannot crash anything.
using Handle = std::uint64_t;

// Owns every live resource. All members lock m_mutex: ctypes releases the GIL around foreign
// calls, so two Python threads can be inside the pool at once.
class HandlePool {
public:
    Handle createConfig(int timeoutSeconds, std::string url, bool ssl);
    Handle createCounter(std::int64_t start, std::int64_t step);
    void release(Handle handle);

    int configTimeout(Handle handle);
    void setConfigTimeout(Handle handle, int seconds);
    std::string describeConfig(Handle handle);
    std::int64_t incrementCounter(Handle handle);
    std::int64_t counterValue(Handle handle);

    std::size_t liveCount();

    static constexpr std::uint32_t kMaxGeneration = 0xffffff; // 24 bits in a handle

private:
    struct Slot {
        std::uint32_t generation = 1;
        std::variant<std::monostate, Config, Counter> resource;
    };

    Handle insert(std::variant<std::monostate, Config, Counter> resource, ResourceKind kind);
    Slot& lookup(Handle handle, ResourceKind kind); // throws HandleError; m_mutex must be held
    template <typename T> T& get(Handle handle, ResourceKind kind) {
        return std::get<T>(lookup(handle, kind).resource);
    }

    std::mutex m_mutex;
    std::vector<Slot> m_slots;
    std::vector<std::uint32_t> m_free; // indexes of empty slots that may be reused
    std::size_t m_live = 0;
};

} // namespace handle_demo
