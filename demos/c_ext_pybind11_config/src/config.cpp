// Plain C++ implementation behind the pybind11 mymodule.Config: url checks and canonical request lines.
#include "config.h"

#include <cstdio>
#include <stdexcept>

namespace config_demo {

std::atomic<std::size_t> ConfigHandle::s_live{0};

namespace {

// Character classes are spelled out instead of using <cctype>, whose answers depend on the locale.
bool isDigit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool isHostChar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '.' || c == '-';
}
bool isPathChar(unsigned char c) {
    return c > 0x20 && c < 0x7f && c != '?' && c != '#';
}

struct UrlParts {
    bool https = false;
    std::string_view host;
    unsigned port = 0; // 0 when the url names none
    std::string_view path;
};

// Splits url into its parts; returns the reason it cannot, or "" on success.
std::string parseUrl(std::string_view url, UrlParts& out) {
    if (url.size() > kUrlMax) {
        return "longer than " + std::to_string(kUrlMax) + " bytes";
    }
    std::size_t pos = 0;
    if (url.starts_with("https://")) {
        out.https = true;
        pos = 8;
    } else if (url.starts_with("http://")) {
        pos = 7;
    } else {
        return "must start with http:// or https://";
    }
    const std::size_t hostStart = pos;
    while (pos < url.size() && url[pos] != ':' && url[pos] != '/') {
        if (!isHostChar(static_cast<unsigned char>(url[pos]))) {
            return "unsupported character at offset " + std::to_string(pos);
        }
        ++pos;
    }
    out.host = url.substr(hostStart, pos - hostStart);
    if (out.host.empty()) {
        return "no host";
    }
    if (out.host.size() > kHostMax) {
        return "host longer than " + std::to_string(kHostMax) + " bytes";
    }
    if (pos < url.size() && url[pos] == ':') {
        ++pos;
        unsigned long port = 0;
        std::size_t digits = 0;
        while (pos < url.size() && isDigit(static_cast<unsigned char>(url[pos])) && digits < 6) {
            port = port * 10 + static_cast<unsigned long>(url[pos] - '0');
            ++pos;
            ++digits;
        }
        if (digits == 0 || digits > 5 || port == 0 || port > 65535 || (pos < url.size() && url[pos] != '/')) {
            return "port must be a number from 1 to 65535";
        }
        out.port = static_cast<unsigned>(port);
    }
    out.path = url.substr(pos);
    for (std::size_t i = pos; i < url.size(); ++i) {
        if (!isPathChar(static_cast<unsigned char>(url[i]))) {
            return "unsupported character at offset " + std::to_string(i);
        }
    }
    return {};
}

} // namespace

void validateTimeout(long seconds) {
    if (seconds < kTimeoutMin || seconds > kTimeoutMax) {
        throw std::invalid_argument("timeout must be between " + std::to_string(kTimeoutMin) + " and " +
                                    std::to_string(kTimeoutMax) + " seconds, got " + std::to_string(seconds));
    }
}

std::string urlProblem(std::string_view url) {
    UrlParts parts;
    return parseUrl(url, parts);
}

std::uint32_t signature(std::string_view text) {
    std::uint32_t hash = 0x811c9dc5u;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 0x01000193u;
    }
    return hash;
}

Config::Config() = default;

void Config::setTimeout(long seconds) {
    validateTimeout(seconds);
    m_timeout = seconds;
}

void Config::setUrl(std::string url) {
    if (std::string why = urlProblem(url); !why.empty()) {
        throw std::invalid_argument("invalid url '" + url + "': " + why);
    }
    m_url = std::move(url);
}

std::string Config::process() {
    UrlParts parts;
    if (std::string why = parseUrl(m_url, parts); !why.empty()) {
        throw std::invalid_argument(
            why); // unreachable through setUrl, kept so process() never trusts state blindly
    }
    if (parts.https && !m_ssl) {
        throw std::invalid_argument("url uses https:// but ssl is disabled");
    }
    // ssl decides the scheme: an http:// url is upgraded rather than sent in the clear.
    std::string line = m_ssl ? "GET https://" : "GET http://";
    for (char c : parts.host) {
        line += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    const unsigned port = parts.port != 0 ? parts.port : (m_ssl ? 443u : 80u);
    line += ':' + std::to_string(port);
    line += parts.path.empty() ? std::string_view("/") : parts.path;
    line += " timeout_ms=" + std::to_string(m_timeout * 1000) + (m_ssl ? " tls=on" : " tls=off");
    char sig[16];
    std::snprintf(sig, sizeof sig, " sig=%08x", static_cast<unsigned>(signature(line)));
    line += sig;
    ++m_processed;
    return line;
}

ConfigHandle::ConfigHandle(const Config& config) : m_config(config) {
    ++s_live;
}

ConfigHandle::~ConfigHandle() {
    --s_live;
}

} // namespace config_demo
