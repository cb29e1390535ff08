// Plain C++ core of the pybind11 mymodule.Config (no Python headers): validation and request building.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace config_demo {

inline constexpr long kTimeoutMin = 1;    // seconds
inline constexpr long kTimeoutMax = 3600; // seconds
inline constexpr std::size_t kUrlMax = 2048;
inline constexpr std::size_t kHostMax = 253; // the DNS limit

// Throws std::invalid_argument when seconds is outside [kTimeoutMin, kTimeoutMax].
void validateTimeout(long seconds);

// Why url is unusable ("no host", "unsupported character at offset 9", ...), or "" when it is fine.
std::string urlProblem(std::string_view url);

// FNV-1a, 32 bit: the signature at the end of a request line, easy to recompute anywhere.
std::uint32_t signature(std::string_view text);

// A validated client configuration. Every setter keeps the invariants, so process() only has to
// check what depends on several fields together (an https:// url needs ssl).
class Config {
public:
    Config(); // timeout 30, url "http://example.com", ssl on

    long timeout() const { return m_timeout; }
    const std::string& url() const { return m_url; }
    bool ssl() const { return m_ssl; }
    std::size_t processed() const { return m_processed; }

    void setTimeout(long seconds); // throws std::invalid_argument
    void setUrl(std::string url);  // throws std::invalid_argument
    void setSsl(bool ssl) { m_ssl = ssl; }

    // Builds "GET <scheme>://<host>:<port><path> timeout_ms=<n> tls=<on|off> sig=<8 hex digits>";
    // ssl upgrades http:// to https, an https:// url without ssl throws std::invalid_argument.
    std::string process();

private:
    long m_timeout = 30;
    std::string m_url = "http://example.com";
    bool m_ssl = true;
    std::size_t m_processed = 0;
};

// An immutable native snapshot of a Config, handed to Python inside a PyCapsule.
class ConfigHandle {
public:
    explicit ConfigHandle(const Config& config);
    ~ConfigHandle();
    ConfigHandle(const ConfigHandle&) = delete;
    ConfigHandle& operator=(const ConfigHandle&) = delete;

    std::string process() { return m_config.process(); }
    static std::size_t liveCount() { return s_live.load(); }

private:
    Config m_config;
    static std::atomic<std::size_t> s_live;
};

} // namespace config_demo
