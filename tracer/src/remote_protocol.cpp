// The serve/view hello and reply (remote_protocol.h), token handling shared by both commands
// (remote.h: loadToken, generateToken, parseHostPort) and blocking socket helpers.
#include <layertrace/remote.h>

#include "recording_format.h"
#include "remote_protocol.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace layertrace::tracer {

namespace remote {

std::string encodeHello(const std::string& token) {
    std::string out(kHelloMagic.data(), kHelloMagic.size());
    unsigned char fixed[4];
    recording::putLe(fixed, kProtocolVersion, 2);
    recording::putLe(fixed + 2, token.size(), 2);
    out.append(reinterpret_cast<const char*>(fixed), sizeof fixed);
    return out + token;
}

std::string encodeReply(ReplyStatus status, const std::string& message) {
    const std::string text = message.substr(0, kMaxMessageBytes);
    std::string out(kReplyMagic.data(), kReplyMagic.size());
    unsigned char fixed[3];
    fixed[0] = static_cast<unsigned char>(status);
    recording::putLe(fixed + 1, text.size(), 2);
    out.append(reinterpret_cast<const char*>(fixed), sizeof fixed);
    return out + text;
}

bool constantTimeEquals(const std::string& expected, const std::string& presented) {
    // Every byte of `expected` is compared, whatever `presented` holds; the length difference is
    // folded in rather than checked first.
    unsigned difference = expected.size() == presented.size() ? 0u : 1u;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const unsigned char other = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0u;
        difference |= static_cast<unsigned char>(expected[i]) ^ other;
    }
    return difference == 0;
}

std::string sendAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return std::strerror(errno);
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return {};
}

bool readExactly(int fd, char* out, std::size_t size, std::chrono::steady_clock::time_point deadline,
                 std::string& why) {
    std::size_t got = 0;
    while (got < size) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            why = "timed out";
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            why = ready == 0 ? "timed out" : std::strerror(errno);
            return false;
        }
        const ssize_t n = ::recv(fd, out + got, size - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            why = n == 0 ? "connection closed" : std::strerror(errno);
            return false;
        }
        got += static_cast<std::size_t>(n);
    }
    return true;
}

namespace {

std::string formatAddress(const sockaddr_storage& a) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (a.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
        ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(v4.sin_port));
    }
    if (a.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
        ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6.sin6_port));
    }
    return "?";
}

} // namespace

std::string peerName(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    return ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? formatAddress(a) : "?";
}

std::string localName(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    return ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? formatAddress(a) : "?";
}

} // namespace remote

HostPort parseHostPort(const std::string& text, const std::string& defaultHost) {
    HostPort hp;
    std::string portText;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw UsageError("'" + text + "' is not [IPV6]:PORT");
        }
        hp.host = text.substr(1, close - 1);
        portText = text.substr(close + 2);
    } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
        if (text.find(':') != colon) {
            throw UsageError("'" + text + "': write an IPv6 address in brackets, [ADDR]:PORT");
        }
        hp.host = text.substr(0, colon);
        portText = text.substr(colon + 1);
    } else {
        portText = text;
    }
    if (hp.host.empty()) {
        hp.host = defaultHost;
    }
    char* end = nullptr;
    errno = 0;
    const unsigned long port = std::strtoul(portText.c_str(), &end, 10);
    if (portText.empty() || *end != '\0' || errno != 0 || port > 65535) {
        throw UsageError("'" + text + "' does not end in a port number (HOST:PORT, PORT 0-65535)");
    }
    hp.port = static_cast<std::uint16_t>(port);
    return hp;
}

bool isLoopbackHost(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
        throw UsageError("cannot resolve '" + host + "': " + ::gai_strerror(rc));
    }
    bool loopback = found != nullptr;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const auto* v4 = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
            loopback = loopback && (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        } else if (a->ai_family == AF_INET6) {
            const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
            loopback = loopback && (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
                                    (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127));
        } else {
            loopback = false;
        }
    }
    ::freeaddrinfo(found);
    return loopback;
}

std::string refusalWithoutToken(const HostPort& listen) {
    return "refusing to listen on " + listen.host + ":" + std::to_string(listen.port) +
           " without a token: other machines can reach it; give one with --token-file FILE or LAYERTRACE_TOKEN";
}

std::string loadToken(const std::string& tokenFile, const std::string& tokenArgument) {
    std::string token;
    std::string source;
    if (!tokenFile.empty()) {
        std::ifstream in(tokenFile, std::ios::binary);
        if (!in) {
            throw UsageError("cannot read the token file '" + tokenFile + "': " + std::strerror(errno));
        }
        std::ostringstream all;
        all << in.rdbuf();
        token = all.str();
        source = "the token file '" + tokenFile + "'";
    } else if (const char* env = std::getenv("LAYERTRACE_TOKEN"); env != nullptr) {
        token = env;
        source = "LAYERTRACE_TOKEN";
    } else {
        token = tokenArgument;
        source = "--token";
    }
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
        token.pop_back(); // files usually end in a newline; it is not part of the token
    }
    if (token.empty() && source != "--token") {
        throw UsageError(source + " is empty; a token is at least one character");
    }
    if (token.size() > remote::kMaxTokenBytes) {
        throw UsageError(source + " holds a " + std::to_string(token.size()) + "-byte token; the most is " +
                         std::to_string(remote::kMaxTokenBytes));
    }
    return token;
}

std::string generateToken() {
    unsigned char bytes[16];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw TransportError(std::string("cannot generate a token: getrandom: ") + std::strerror(errno));
        }
        got += static_cast<std::size_t>(n);
    }
    static const char* digits = "0123456789abcdef";
    std::string token;
    for (unsigned char b : bytes) {
        token += digits[b >> 4];
        token += digits[b & 15];
    }
    return token;
}

} // namespace layertrace::tracer
