// connectRemote: the viewer's side of serve. Connects, sends the hello with the token, reads the
// server's one reply, then replays the recording stream that follows into the caller's sink.
#include <layertrace/remote.h>

#include "recording_stream.h"
#include "remote_protocol.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace layertrace::tracer {

using namespace remote;

namespace {

// A socket closed however we leave.
struct Socket {
    int fd = -1;
    ~Socket() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

int connectTo(const std::string& host, std::uint16_t port, const std::string& where) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        throw TransportError("cannot resolve '" + host + "': " + ::gai_strerror(rc));
    }
    std::string lastError = "no address";
    int fd = -1;
    for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            lastError = std::strerror(errno);
            continue;
        }
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            lastError = std::strerror(errno);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(found);
    if (fd < 0) {
        throw TransportError("cannot connect to " + where + ": " + lastError +
                             " (is `layertrace serve` running there, listening on that address?)");
    }
    return fd;
}

} // namespace

RemoteViewStats connectRemote(const std::string& host, std::uint16_t port, const std::string& token, EventSink& sink) {
    RemoteViewStats stats;
    stats.server = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    Socket sock;
    sock.fd = connectTo(host, port, stats.server);

    const std::string hello = encodeHello(token.substr(0, kMaxTokenBytes));
    if (const std::string err = sendAll(sock.fd, hello.data(), hello.size()); !err.empty()) {
        throw TransportError("cannot send the hello to " + stats.server + ": " + err);
    }
    // The server answers as soon as it has checked the token; it waits for nothing else.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    char fixed[kReplyFixedSize];
    std::string why;
    if (!readExactly(sock.fd, fixed, sizeof fixed, deadline, why)) {
        throw TransportError(stats.server + " did not answer the hello (" + why +
                             "); is it a `layertrace serve` of the same version?");
    }
    if (std::memcmp(fixed, kReplyMagic.data(), kReplyMagic.size()) != 0) {
        throw TransportError(stats.server + " is not a `layertrace serve` (unexpected reply)");
    }
    const auto* u = reinterpret_cast<const unsigned char*>(fixed);
    const auto status = static_cast<ReplyStatus>(u[4]);
    const std::size_t messageSize = std::min<std::size_t>(u[5] | (u[6] << 8), kMaxMessageBytes);
    std::string message(messageSize, '\0');
    if (messageSize > 0 && !readExactly(sock.fd, message.data(), messageSize, deadline, why)) {
        message = "(no reason given: " + why + ")";
    }
    switch (status) {
    case ReplyStatus::Accepted: break;
    case ReplyStatus::BadToken:
        throw RemoteRefusedError(stats.server + " refused this viewer: " + message +
                                 " (pass the token serve printed or was given, with --token-file FILE or "
                                 "LAYERTRACE_TOKEN)");
    default: throw RemoteRefusedError(stats.server + " refused this viewer: " + message);
    }
    try {
        stats.replay = replayRecordingStream(sock.fd, stats.server, sink);
    } catch (const RecordingError& e) {
        throw TransportError("the stream from " + stats.server + " broke at offset " + std::to_string(e.offset()) +
                             ": " + e.why());
    }
    return stats;
}

} // namespace layertrace::tracer
