// Remote viewing (layertrace serve / view, docs/cli/serve.md): a RemoteServer is an EventSink that
// streams a live session to viewers on other machines; connectRemote() is the viewer's side and
// replays what arrives into any EventSink, as RecordingReader does for a file. The stream after
// the hello is a recording (docs/recording-format.md), encoded separately for each viewer.
#pragma once

#include <layertrace/errors.h>
#include <layertrace/recording.h>
#include <layertrace/session.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace layertrace::tracer {

// The viewer's token was missing or wrong (or the server turned it away for another reason it
// names): the server closed the connection without sending anything of the session.
class RemoteRefusedError : public Error {
public:
    explicit RemoteRefusedError(const std::string& message) : Error(ExitCode::Refused, message) {}
};

struct HostPort {
    std::string host; // a numeric IPv4/IPv6 address or a name
    std::uint16_t port = 0;
};

// "HOST:PORT", "[V6ADDR]:PORT" or ":PORT"/"PORT" (host `defaultHost`). Throws UsageError.
HostPort parseHostPort(const std::string& text, const std::string& defaultHost);

// Does `host` resolve only to loopback addresses (127.0.0.0/8, ::1)? Throws UsageError when it
// does not resolve.
bool isLoopbackHost(const std::string& host);
// The one-line refusal to listen on a non-loopback address without a token.
std::string refusalWithoutToken(const HostPort& listen);

// The token for serve/view from, in order: --token-file, $LAYERTRACE_TOKEN, --token (an argument
// every local user can read in ps: accepted with a warning). Empty when none is given. Throws
// UsageError for an unreadable file or an empty or oversized token.
std::string loadToken(const std::string& tokenFile, const std::string& tokenArgument);

// 32 hex digits from the kernel's random source (getrandom).
std::string generateToken();

struct ServeOptions {
    HostPort listen{"127.0.0.1", 0}; // port 0: the kernel picks one (address() tells which)
    std::string token;               // required (non-empty): a viewer must present it
    // Per viewer, live events waiting to be sent; beyond it new events are not sent to that
    // viewer (counted and reported to it), and the session never waits for a viewer.
    std::size_t viewerQueueEvents = 65536;
    // Events kept for viewers that join late (they get the module map, then these). Keeping
    // costs the session a copy of every event; with 0 and no viewer connected, nothing is copied.
    std::size_t historyEvents = 0;
    std::size_t maxViewers = 8;
    std::chrono::milliseconds helloTimeout{5000};
    // Where the server says who connected, who was refused and why (one line each).
    std::function<void(const std::string&)> log;
};

// Listens on construction (throws UsageError when the address is not loopback and there is no
// token, TransportError when it cannot listen) and accepts viewers on its own thread until
// finish(). Give it to a Session as one more sink (TeeSink): every callback only queues shared
// data for the viewer threads and never blocks on a viewer.
class RemoteServer : public EventSink {
public:
    explicit RemoteServer(ServeOptions options);
    ~RemoteServer() override; // finish(0) if not done
    RemoteServer(const RemoteServer&) = delete;
    RemoteServer& operator=(const RemoteServer&) = delete;

    // The bound address ("127.0.0.1:41234").
    std::string address() const;
    // Session info sent at the start of every viewer's stream (set before the session starts).
    void setInfo(RecordingInfo info);
    // Blocks until `count` viewers passed the token check (or `stop` returns true, polled).
    void waitForViewers(std::size_t count, const std::function<bool()>& stop = {});

    void onStarted(std::uint32_t pid) override;
    void onConnected(std::uint32_t pid, const std::string& pythonVersion) override;
    void onModule(const ModuleInfo& module) override;
    void onEvent(const TraceEvent& event) override;
    void onReport(const ProbeReport& report) override;
    void onDropped(std::uint32_t tid, std::uint64_t count) override;
    void onFinished(const SessionResult& result) override;

    // Stops accepting; gives connected viewers up to `drain` to receive what is queued for them
    // (the session's end included), then closes every connection. Idempotent.
    void finish(std::chrono::milliseconds drain);

    struct Stats {
        std::uint64_t viewersServed = 0;  // passed the token check
        std::uint64_t viewersRefused = 0; // wrong/missing token, bad hello, too many viewers
        std::uint64_t eventsNotSent = 0;  // summed over viewers: dropped because a viewer fell behind
    };
    Stats stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

struct RemoteViewStats {
    ReplayStats replay;
    std::string server; // "host:port" as connected
};

// Connects to a RemoteServer, presents `token`, and replays the session into `sink` as it
// arrives (onFinished exactly once). Throws TransportError when the server cannot be reached or
// the stream breaks, RemoteRefusedError when the server refuses the token, RecordingError when
// the stream is malformed or ends before the session's final record.
RemoteViewStats connectRemote(const std::string& host, std::uint16_t port, const std::string& token, EventSink& sink);

} // namespace layertrace::tracer
