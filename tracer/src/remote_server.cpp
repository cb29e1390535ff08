// RemoteServer: listens, checks each connection's hello and token, and gives every accepted viewer
// its own thread and recording encoder. Session callbacks wrap what they receive in one shared,
// immutable item and queue a pointer to it per viewer (bounded: a viewer that falls behind loses
// events, counted and told to it; the session never waits). Late viewers first get the session's
// start and module map, then the kept history.
#include <layertrace/remote.h>

#include "remote_protocol.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

namespace layertrace::tracer {

using namespace remote;

namespace {

struct StartedItem {
    std::uint32_t pid;
};
struct ConnectedItem {
    std::uint32_t pid;
    std::string pythonVersion;
};
struct DroppedItem {
    std::uint32_t tid;
    std::uint64_t count;
};
using Item = std::variant<StartedItem, ConnectedItem, ModuleInfo, TraceEvent, ProbeReport, DroppedItem, SessionResult>;
using ItemPtr = std::shared_ptr<const Item>;

void deliver(const Item& item, EventSink& sink) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, StartedItem>) {
                sink.onStarted(v.pid);
            } else if constexpr (std::is_same_v<T, ConnectedItem>) {
                sink.onConnected(v.pid, v.pythonVersion);
            } else if constexpr (std::is_same_v<T, ModuleInfo>) {
                sink.onModule(v);
            } else if constexpr (std::is_same_v<T, TraceEvent>) {
                sink.onEvent(v);
            } else if constexpr (std::is_same_v<T, ProbeReport>) {
                sink.onReport(v);
            } else if constexpr (std::is_same_v<T, DroppedItem>) {
                sink.onDropped(v.tid, v.count);
            } else {
                sink.onFinished(v);
            }
        },
        item);
}

// One connection: first its hello, then (accepted) the stream of items.
struct Viewer {
    int fd = -1;
    std::string name; // peer address
    std::thread thread;
    std::atomic<bool> done{false};

    std::mutex mutex; // guards everything below
    std::condition_variable wake;
    bool accepted = false;
    bool closing = false;            // finish(): send what is queued, then stop
    std::vector<ItemPtr> backlog;    // what the session had before this viewer joined
    std::deque<ItemPtr> queue;       // live items not yet encoded
    std::size_t queuedEvents = 0;
    std::uint64_t notSent = 0;       // events dropped for this viewer
};

} // namespace

struct RemoteServer::Impl {
    ServeOptions options;
    int listenFd = -1;
    int wakePipe[2] = {-1, -1};
    std::string boundAddress;
    std::thread acceptor;

    std::mutex mutex; // guards everything below
    std::condition_variable viewerJoined;
    RecordingInfo info;
    std::vector<ItemPtr> prefix;   // Started, Connected, Module: always kept, sent first to late viewers
    std::deque<ItemPtr> history;   // the rest, the last `historyEvents` events
    std::size_t historyEvents = 0;
    std::uint64_t historyTrimmed = 0; // events no longer in history
    std::list<std::shared_ptr<Viewer>> connections;
    std::size_t acceptedViewers = 0; // passed the token check and still streaming
    bool finishing = false;
    bool finished = false;
    Stats stats;

    std::mutex logMutex;

    void log(const std::string& line) {
        if (options.log) {
            std::lock_guard<std::mutex> lock(logMutex);
            options.log(line);
        }
    }

    void listen() {
        if (options.token.empty()) {
            throw UsageError(isLoopbackHost(options.listen.host) ? std::string("a viewer token is required")
                                                                 : refusalWithoutToken(options.listen));
        }
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo* found = nullptr;
        const std::string port = std::to_string(options.listen.port);
        const int rc = ::getaddrinfo(options.listen.host.c_str(), port.c_str(), &hints, &found);
        if (rc != 0) {
            throw UsageError("cannot listen on '" + options.listen.host + "': " + ::gai_strerror(rc));
        }
        std::string lastError = "no address";
        for (addrinfo* a = found; a != nullptr && listenFd < 0; a = a->ai_next) {
            const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) {
                lastError = std::strerror(errno);
                continue;
            }
            const int one = 1;
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
                lastError = std::strerror(errno);
                ::close(fd);
                continue;
            }
            listenFd = fd;
        }
        ::freeaddrinfo(found);
        if (listenFd < 0) {
            throw TransportError("cannot listen on " + options.listen.host + ":" + port + ": " + lastError);
        }
        boundAddress = localName(listenFd);
        if (::pipe2(wakePipe, O_CLOEXEC | O_NONBLOCK) != 0) {
            ::close(listenFd);
            throw TransportError(std::string("pipe: ") + std::strerror(errno));
        }
    }

    void acceptLoop() {
        for (;;) {
            pollfd p[2] = {{listenFd, POLLIN, 0}, {wakePipe[0], POLLIN, 0}};
            const int ready = ::poll(p, 2, -1);
            if (ready < 0 && errno == EINTR) {
                continue;
            }
            if (ready < 0 || (p[1].revents & POLLIN) != 0) {
                return;
            }
            const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                continue; // the peer gave up before we got to it, or a transient shortage
            }
            auto viewer = std::make_shared<Viewer>();
            viewer->fd = fd;
            viewer->name = peerName(fd);
            std::lock_guard<std::mutex> lock(mutex);
            reapLocked();
            if (finishing) {
                ::close(fd);
                return;
            }
            // Connections that have not said hello yet count too: a flood of silent connections
            // cannot tie up more than this many threads.
            if (connections.size() >= options.maxViewers * 2) {
                ++stats.viewersRefused;
                log("refused " + viewer->name + ": too many connections");
                ::close(fd);
                continue;
            }
            connections.push_back(viewer);
            viewer->thread = std::thread([this, viewer] { serveConnection(*viewer); });
        }
    }

    // Joins the threads of connections that ended (the acceptor's lock held).
    void reapLocked() {
        for (auto it = connections.begin(); it != connections.end();) {
            if ((*it)->done) {
                (*it)->thread.join();
                it = connections.erase(it);
            } else {
                ++it;
            }
        }
    }

    // Reads the hello; on the right token, registers the viewer for live items (with a snapshot
    // of what came before) and sends the accepting reply. Returns false when the connection is
    // refused (already answered and logged).
    bool greet(Viewer& v) {
        const auto deadline = std::chrono::steady_clock::now() + options.helloTimeout;
        char fixed[kHelloFixedSize];
        std::string why;
        if (!readExactly(v.fd, fixed, sizeof fixed, deadline, why)) {
            refuse(v, std::nullopt, "no hello (" + why + ")");
            return false;
        }
        if (std::memcmp(fixed, kHelloMagic.data(), kHelloMagic.size()) != 0) {
            refuse(v, std::nullopt, "not a layertrace viewer (bad hello magic)");
            return false;
        }
        const auto* u = reinterpret_cast<const unsigned char*>(fixed);
        const auto version = static_cast<std::uint16_t>(u[4] | (u[5] << 8));
        const std::size_t tokenSize = static_cast<std::size_t>(u[6] | (u[7] << 8));
        if (version != kProtocolVersion) {
            refuse(v, ReplyStatus::BadVersion,
                   "viewer protocol version " + std::to_string(version) + ", this server speaks " +
                       std::to_string(kProtocolVersion) + " (use the same layertrace version on both machines)");
            return false;
        }
        if (tokenSize > kMaxTokenBytes) {
            refuse(v, ReplyStatus::BadToken, "wrong token");
            return false;
        }
        std::string token(tokenSize, '\0');
        if (tokenSize > 0 && !readExactly(v.fd, token.data(), tokenSize, deadline, why)) {
            refuse(v, std::nullopt, "incomplete hello (" + why + ")");
            return false;
        }
        // The viewer never sends anything else; close our reading side so nothing more is taken.
        ::shutdown(v.fd, SHUT_RD);
        if (tokenSize == 0 || !constantTimeEquals(options.token, token)) {
            refuse(v, ReplyStatus::BadToken, tokenSize == 0 ? "missing token" : "wrong token");
            return false;
        }
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (acceptedViewers >= options.maxViewers) {
                ++stats.viewersRefused;
                refuseLocked(v, ReplyStatus::TooManyViewers,
                             "too many viewers (" + std::to_string(options.maxViewers) + " already)");
                return false;
            }
            std::lock_guard<std::mutex> vlock(v.mutex);
            v.backlog = prefix;
            if (historyTrimmed != 0) {
                ProbeReport late;
                late.level = ProbeReport::Level::Warning;
                late.origin = ProbeReport::Origin::Tracer;
                late.message = "serve: this viewer joined late: the session's first " +
                               std::to_string(historyTrimmed) + " events are no longer kept (serve --history)";
                v.backlog.push_back(std::make_shared<const Item>(late));
            }
            v.backlog.insert(v.backlog.end(), history.begin(), history.end());
            v.accepted = true;
            v.closing = finishing;
            ++stats.viewersServed;
            ++acceptedViewers;
        }
        viewerJoined.notify_all();
        const std::string ok = encodeReply(ReplyStatus::Accepted, "");
        if (const std::string err = sendAll(v.fd, ok.data(), ok.size()); !err.empty()) {
            log("viewer " + v.name + " left before the stream began: " + err);
            return false;
        }
        log("viewer " + v.name + " connected");
        return true;
    }

    void refuse(Viewer& v, std::optional<ReplyStatus> status, const std::string& why) {
        std::lock_guard<std::mutex> lock(mutex);
        ++stats.viewersRefused;
        refuseLocked(v, status, why);
    }

    void refuseLocked(Viewer& v, std::optional<ReplyStatus> status, const std::string& why) {
        log("refused " + v.name + ": " + why);
        if (status) {
            const std::string reply = encodeReply(*status, why);
            sendAll(v.fd, reply.data(), reply.size());
        }
    }

    void serveConnection(Viewer& v) {
        if (greet(v)) {
            stream(v);
        }
        {
            std::lock_guard<std::mutex> lock(mutex);
            std::lock_guard<std::mutex> vlock(v.mutex);
            acceptedViewers -= v.accepted ? 1 : 0;
        }
        {
            std::lock_guard<std::mutex> lock(v.mutex);
            ::close(v.fd);
            v.fd = -1;
            v.queue.clear();
            v.backlog.clear();
        }
        v.done = true;
    }

    // Encodes the backlog, then live items, into this viewer's recording stream until the
    // session's end was sent, the viewer went away, or finish() closed the connection.
    void stream(Viewer& v) {
        RecordingInfo sessionInfo;
        {
            std::lock_guard<std::mutex> lock(mutex);
            sessionInfo = info;
        }
        const int fd = v.fd;
        RecordingWriterOptions wo;
        wo.flushIntervalMs = 50; // a live view: what happened reaches the viewer within 50 ms
        try {
            RecordingWriter encoder(
                "viewer " + v.name, [fd](const char* data, std::size_t size) { return sendAll(fd, data, size); },
                sessionInfo, wo);
            std::vector<ItemPtr> batch;
            {
                std::lock_guard<std::mutex> lock(v.mutex);
                batch.swap(v.backlog);
            }
            std::uint64_t reported = 0;
            bool ended = false;
            for (;;) {
                for (const ItemPtr& item : batch) {
                    const bool last = std::holds_alternative<SessionResult>(*item);
                    if (last) {
                        reportNotSent(v, encoder, reported); // before the end, so the viewer sees it
                    }
                    deliver(*item, encoder);
                    if (last) {
                        ended = true;
                        break;
                    }
                }
                batch.clear();
                if (ended || !encoder.error().empty()) {
                    break;
                }
                std::unique_lock<std::mutex> lock(v.mutex);
                v.wake.wait(lock, [&] { return !v.queue.empty() || v.closing; });
                if (v.queue.empty()) {
                    break; // finish() without the session's end: the stream stops short
                }
                batch.assign(v.queue.begin(), v.queue.end());
                v.queue.clear();
                v.queuedEvents = 0;
                lock.unlock();
                reportNotSent(v, encoder, reported);
            }
            if (ended) {
                encoder.close();
                log("viewer " + v.name + " received the whole session" + notSentSuffix(v));
            } else if (!encoder.error().empty()) {
                log("viewer " + v.name + " disconnected: " + encoder.error() + notSentSuffix(v));
            } else {
                log("viewer " + v.name + " cut off before the session ended" + notSentSuffix(v));
            }
        } catch (const Error& e) {
            log("viewer " + v.name + " disconnected: " + e.what());
        }
    }

    std::string notSentSuffix(Viewer& v) {
        std::lock_guard<std::mutex> lock(v.mutex);
        return v.notSent == 0 ? std::string()
                              : " (" + std::to_string(v.notSent) + " events were not sent: it fell behind)";
    }

    // Tells the viewer, in its own stream, how many events it lost since the last time.
    void reportNotSent(Viewer& v, RecordingWriter& encoder, std::uint64_t& reported) {
        std::uint64_t total = 0;
        {
            std::lock_guard<std::mutex> lock(v.mutex);
            total = v.notSent;
        }
        if (total == reported) {
            return;
        }
        ProbeReport r;
        r.level = ProbeReport::Level::Warning;
        r.origin = ProbeReport::Origin::Tracer;
        r.message = "serve: this viewer fell behind: " + std::to_string(total - reported) +
                    " events were not sent to it (" + std::to_string(total) + " in all)";
        encoder.onReport(r);
        reported = total;
    }

    // Session side: keep the item for late viewers and queue it for every accepted viewer.
    template <typename T>
    void publish(const T& value) {
        constexpr bool isEvent = std::is_same_v<T, TraceEvent>;
        constexpr bool isPrefix =
            std::is_same_v<T, StartedItem> || std::is_same_v<T, ConnectedItem> || std::is_same_v<T, ModuleInfo>;
        std::lock_guard<std::mutex> lock(mutex);
        if (!isPrefix && options.historyEvents == 0 && acceptedViewers == 0) {
            historyTrimmed += isEvent ? 1 : 0;
            return; // nobody would ever read it: no copy (the session's cost without viewers)
        }
        // The one copy of the callback's data, shared by the history and every viewer's queue.
        auto item = std::make_shared<const Item>(std::in_place_type<T>, value);
        if constexpr (isPrefix) {
            prefix.push_back(item);
        } else {
            history.push_back(item);
            historyEvents += isEvent ? 1 : 0;
            while (historyEvents > options.historyEvents && !history.empty()) {
                if (std::holds_alternative<TraceEvent>(*history.front())) {
                    --historyEvents;
                    ++historyTrimmed;
                }
                history.pop_front();
            }
        }
        for (const auto& v : connections) {
            std::lock_guard<std::mutex> vlock(v->mutex);
            if (!v->accepted || v->done) {
                continue;
            }
            if (isEvent && v->queuedEvents >= options.viewerQueueEvents) {
                ++v->notSent;
                ++stats.eventsNotSent;
                continue;
            }
            v->queue.push_back(item);
            v->queuedEvents += isEvent ? 1 : 0;
            v->wake.notify_one();
        }
    }

    void finish(std::chrono::milliseconds drain) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (finished) {
                return;
            }
            finished = true;
            finishing = true;
        }
        if (acceptor.joinable()) {
            const char c = 'x';
            [[maybe_unused]] const ssize_t n = ::write(wakePipe[1], &c, 1);
            acceptor.join();
        }
        std::list<std::shared_ptr<Viewer>> all;
        {
            std::lock_guard<std::mutex> lock(mutex);
            all = connections;
        }
        for (const auto& v : all) {
            std::lock_guard<std::mutex> vlock(v->mutex);
            v->closing = true;
            v->wake.notify_one();
        }
        const auto deadline = std::chrono::steady_clock::now() + drain;
        for (const auto& v : all) {
            while (!v->done && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            std::lock_guard<std::mutex> vlock(v->mutex);
            if (v->fd >= 0) {
                // Stuck or too slow: unblock its send (and a hello still being waited for).
                ::shutdown(v->fd, SHUT_RDWR);
                log("viewer " + v->name + " did not take the rest of the stream in time; closed");
            }
        }
        for (const auto& v : all) {
            v->thread.join();
        }
        {
            std::lock_guard<std::mutex> lock(mutex);
            connections.clear();
        }
        ::close(listenFd);
        ::close(wakePipe[0]);
        ::close(wakePipe[1]);
        listenFd = wakePipe[0] = wakePipe[1] = -1;
    }
};

RemoteServer::RemoteServer(ServeOptions options) : m_impl(std::make_unique<Impl>()) {
    m_impl->options = std::move(options);
    if (m_impl->options.maxViewers == 0) {
        m_impl->options.maxViewers = 1;
    }
    m_impl->listen();
    m_impl->acceptor = std::thread([this] { m_impl->acceptLoop(); });
}

RemoteServer::~RemoteServer() { m_impl->finish(std::chrono::milliseconds(0)); }

std::string RemoteServer::address() const { return m_impl->boundAddress; }

void RemoteServer::setInfo(RecordingInfo info) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->info = std::move(info);
}

void RemoteServer::waitForViewers(std::size_t count, const std::function<bool()>& stop) {
    std::unique_lock<std::mutex> lock(m_impl->mutex);
    while (m_impl->stats.viewersServed < count && !(stop && stop())) {
        m_impl->viewerJoined.wait_for(lock, std::chrono::milliseconds(100));
    }
}

void RemoteServer::onStarted(std::uint32_t pid) {
    {
        std::lock_guard<std::mutex> lock(m_impl->mutex);
        m_impl->info.pid = pid;
    }
    m_impl->publish(StartedItem{pid});
}

void RemoteServer::onConnected(std::uint32_t pid, const std::string& pythonVersion) {
    m_impl->publish(ConnectedItem{pid, pythonVersion});
}
void RemoteServer::onModule(const ModuleInfo& module) { m_impl->publish(module); }
void RemoteServer::onEvent(const TraceEvent& event) { m_impl->publish(event); }
void RemoteServer::onReport(const ProbeReport& report) { m_impl->publish(report); }
void RemoteServer::onDropped(std::uint32_t tid, std::uint64_t count) { m_impl->publish(DroppedItem{tid, count}); }
void RemoteServer::onFinished(const SessionResult& result) { m_impl->publish(result); }

void RemoteServer::finish(std::chrono::milliseconds drain) { m_impl->finish(drain); }

RemoteServer::Stats RemoteServer::stats() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    return m_impl->stats;
}

} // namespace layertrace::tracer
