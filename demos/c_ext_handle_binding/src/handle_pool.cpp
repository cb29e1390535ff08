// HandlePool and its resources: validation, generation-checked lookup, slot reuse.
#include "handle_pool.h"

#include <cstdio>

namespace handle_demo {

namespace {

constexpr int kTimeoutMin = 1;
constexpr int kTimeoutMax = 3600;

const char* kindName(ResourceKind kind) {
    return kind == ResourceKind::Config ? "Config" : "Counter";
}

std::string hex(Handle handle) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(handle));
    return text;
}

void checkTimeout(int seconds) {
    if (seconds < kTimeoutMin || seconds > kTimeoutMax) {
        throw HandleError(HandleErrc::InvalidArgument,
                          "timeout must be between " + std::to_string(kTimeoutMin) + " and " +
                              std::to_string(kTimeoutMax) + " seconds, got " + std::to_string(seconds));
    }
}

// The variant's alternative index doubles as the kind stored in a handle.
static_assert(std::variant_size_v<std::variant<std::monostate, Config, Counter>> == 3);
static_assert(static_cast<int>(ResourceKind::Config) == 1 && static_cast<int>(ResourceKind::Counter) == 2);

Handle makeHandle(std::uint32_t index, std::uint32_t generation, ResourceKind kind) {
    return (static_cast<Handle>(kind) << 56) | (static_cast<Handle>(generation) << 32) | (index + 1u);
}

} // namespace

Config::Config(int timeoutSeconds, std::string url, bool ssl)
    : m_timeout(timeoutSeconds), m_url(std::move(url)), m_ssl(ssl) {
    checkTimeout(timeoutSeconds);
    const bool https = m_url.starts_with("https://");
    if (!https && !m_url.starts_with("http://")) {
        throw HandleError(HandleErrc::InvalidArgument,
                          "url must start with http:// or https://, got '" + m_url + "'");
    }
    if (m_url.size() == (https ? 8u : 7u)) {
        throw HandleError(HandleErrc::InvalidArgument, "url has no host: '" + m_url + "'");
    }
    if (https && !m_ssl) {
        throw HandleError(HandleErrc::InvalidArgument, "url uses https:// but ssl is disabled");
    }
}

void Config::setTimeout(int seconds) {
    checkTimeout(seconds);
    m_timeout = seconds;
}

std::string Config::describe() const {
    return "Config(timeout=" + std::to_string(m_timeout) + "s, url=" + m_url +
           ", ssl=" + (m_ssl ? "on" : "off") + ")";
}

std::int64_t Counter::increment() {
    std::int64_t next = 0;
    if (__builtin_add_overflow(m_value, m_step, &next)) {
        throw HandleError(HandleErrc::Overflow, "counter at " + std::to_string(m_value) +
                                                    " would overflow adding " + std::to_string(m_step));
    }
    m_value = next;
    return m_value;
}

Handle HandlePool::insert(std::variant<std::monostate, Config, Counter> resource, ResourceKind kind) {
    std::uint32_t index;
    if (!m_free.empty()) {
        index = m_free.back();
        m_free.pop_back();
    } else {
        if (m_slots.size() >= 0xffffffffu) {
            throw HandleError(HandleErrc::Exhausted, "the pool has no free slots left");
        }
        m_slots.emplace_back();
        index = static_cast<std::uint32_t>(m_slots.size() - 1);
    }
    Slot& slot = m_slots[index];
    slot.resource = std::move(resource);
    ++m_live;
    return makeHandle(index, slot.generation, kind);
}

HandlePool::Slot& HandlePool::lookup(Handle handle, ResourceKind kind) {
    const std::uint64_t indexPlusOne = handle & 0xffffffffu;
    const auto generation = static_cast<std::uint32_t>((handle >> 32) & kMaxGeneration);
    const auto handleKind = static_cast<std::uint8_t>(handle >> 56);
    if (indexPlusOne == 0 || indexPlusOne > m_slots.size() || generation == 0 ||
        (handleKind != static_cast<std::uint8_t>(ResourceKind::Config) &&
         handleKind != static_cast<std::uint8_t>(ResourceKind::Counter))) {
        throw HandleError(HandleErrc::InvalidHandle,
                          "handle " + hex(handle) + " was not issued by this pool");
    }
    Slot& slot = m_slots[indexPlusOne - 1];
    if (slot.generation != generation || std::holds_alternative<std::monostate>(slot.resource)) {
        throw HandleError(HandleErrc::StaleHandle,
                          "handle " + hex(handle) + " is stale: its resource was released");
    }
    // The kind bits are part of what the pool issued; a handle whose bits disagree with the slot's
    // content was forged or corrupted, never merely mistaken.
    if (slot.resource.index() != handleKind) {
        throw HandleError(HandleErrc::InvalidHandle,
                          "handle " + hex(handle) + " was not issued by this pool");
    }
    if (handleKind != static_cast<std::uint8_t>(kind)) {
        throw HandleError(HandleErrc::WrongKind, "handle " + hex(handle) + " names a " +
                                                     kindName(static_cast<ResourceKind>(handleKind)) +
                                                     ", not a " + kindName(kind));
    }
    return slot;
}

Handle HandlePool::createConfig(int timeoutSeconds, std::string url, bool ssl) {
    Config config(timeoutSeconds, std::move(url), ssl); // validate before taking the lock
    std::lock_guard lock(m_mutex);
    return insert(std::move(config), ResourceKind::Config);
}

Handle HandlePool::createCounter(std::int64_t start, std::int64_t step) {
    std::lock_guard lock(m_mutex);
    return insert(Counter(start, step), ResourceKind::Counter);
}

void HandlePool::release(Handle handle) {
    std::lock_guard lock(m_mutex);
    const auto kind = static_cast<ResourceKind>(handle >> 56);
    Slot& slot = lookup(handle, kind == ResourceKind::Counter ? ResourceKind::Counter : ResourceKind::Config);
    slot.resource = std::monostate{};
    --m_live;
    // A slot whose generation would wrap is retired instead of reused: an old handle must never
    // become valid again.
    if (++slot.generation <= kMaxGeneration) {
        m_free.push_back(static_cast<std::uint32_t>(&slot - m_slots.data()));
    }
}

int HandlePool::configTimeout(Handle handle) {
    std::lock_guard lock(m_mutex);
    return get<Config>(handle, ResourceKind::Config).timeout();
}

void HandlePool::setConfigTimeout(Handle handle, int seconds) {
    std::lock_guard lock(m_mutex);
    get<Config>(handle, ResourceKind::Config).setTimeout(seconds);
}

std::string HandlePool::describeConfig(Handle handle) {
    std::lock_guard lock(m_mutex);
    return get<Config>(handle, ResourceKind::Config).describe();
}

std::int64_t HandlePool::incrementCounter(Handle handle) {
    std::lock_guard lock(m_mutex);
    return get<Counter>(handle, ResourceKind::Counter).increment();
}

std::int64_t HandlePool::counterValue(Handle handle) {
    std::lock_guard lock(m_mutex);
    return get<Counter>(handle, ResourceKind::Counter).value();
}

std::size_t HandlePool::liveCount() {
    std::lock_guard lock(m_mutex);
    return m_live;
}

} // namespace handle_demo
