// RemoteSource: connectRemote() runs on a connection thread of its own, because it blocks in
// read() on a socket it does not expose: a Stop (or closing the window) while the served program
// is quiet would otherwise wait for the server's next record. The worker thread waits for the
// connection to end or for stop(); after stop the connection thread only ends (at the next record
// it throws out of the replay, which closes the socket) and delivers nothing.
#include "core/remote_source.h"

#include <condition_variable>
#include <mutex>

namespace layertrace::gui {

namespace {
// Thrown from the sink to end the replay once the source stopped.
struct ViewerStopped {};
} // namespace

// Shared by the source and its connection thread, so either may go first.
struct RemoteSource::Link : tracer::EventSink {
    std::mutex mutex;
    std::condition_variable changed;
    IngestSink* sink = nullptr; // null once the source stopped
    bool stopRequested = false;
    bool ended = false;
    bool receivedSession = false; // the server accepted the token and the session's stream began
    std::string failure;          // connectRemote's message, when it threw
    int failureCode = 0;
    tracer::SessionResult result;

    void connect(const tracer::HostPort& server, const std::string& token) {
        std::string error;
        int code = 0;
        try {
            tracer::connectRemote(server.host, server.port, token, *this);
        } catch (const ViewerStopped&) {
        } catch (const tracer::Error& e) {
            error = e.what();
            code = e.exitCode();
        } catch (const std::exception& e) {
            error = e.what();
            code = int(tracer::ExitCode::Transport);
        }
        std::lock_guard lock(mutex);
        failure = error;
        failureCode = code;
        ended = true;
        changed.notify_all();
    }

    // Every callback: the session is arriving; stop here once the source stopped.
    IngestSink& target() {
        if (!sink)
            throw ViewerStopped{};
        receivedSession = true;
        return *sink;
    }
    void onStarted(std::uint32_t pid) override {
        std::lock_guard lock(mutex);
        target().setState(QStringLiteral("connected: the served program runs, PID %1").arg(pid));
    }
    void onEvent(const TraceEvent& event) override {
        // Waiting here while the GUI's queue is full is right for a viewer: serve never waits
        // for it, it stops sending to a viewer that fell behind and tells it how many it lost.
        std::lock_guard lock(mutex);
        target().push(event);
    }
    void onReport(const tracer::ProbeReport& report) override {
        std::lock_guard lock(mutex);
        if (report.message.rfind("serve: ", 0) == 0) // a late join, events lost by a slow viewer
            target().setError(QString::fromStdString(report.message));
    }
    void onFinished(const tracer::SessionResult& finished) override {
        std::lock_guard lock(mutex);
        target();
        result = finished;
    }
};

RemoteSource::RemoteSource(tracer::HostPort server, std::string token, QString title)
    : m_server(std::move(server)), m_token(std::move(token)), m_title(std::move(title)),
      m_link(std::make_shared<Link>()) {}

RemoteSource::~RemoteSource() {
    if (!m_connection.joinable())
        return;
    bool ended = false;
    {
        std::lock_guard lock(m_link->mutex);
        ended = m_link->ended;
    }
    if (ended)
        m_connection.join();
    else
        m_connection.detach(); // still blocked in read(); it owns its share of the link
}

void RemoteSource::stop() {
    std::lock_guard lock(m_link->mutex);
    m_link->stopRequested = true;
    m_link->changed.notify_all();
}

void RemoteSource::run(IngestSink& sink) {
    const QString where = QStringLiteral("%1:%2").arg(QString::fromStdString(m_server.host)).arg(m_server.port);
    sink.setWaitWhenFull(true);
    sink.setState(QStringLiteral("connecting to %1…").arg(where));
    {
        std::lock_guard lock(m_link->mutex);
        m_link->sink = &sink;
    }
    m_connection = std::thread([link = m_link, server = m_server, token = m_token] { link->connect(server, token); });
    std::unique_lock lock(m_link->mutex);
    m_link->changed.wait(lock, [this] { return m_link->ended || m_link->stopRequested; });
    m_link->sink = nullptr;
    const bool ended = m_link->ended;
    const bool received = m_link->receivedSession;
    const QString failure = QString::fromStdString(m_link->failure);
    const int failureCode = m_link->failureCode;
    m_result = m_link->result;
    lock.unlock();

    sink.flush();
    if (!ended) {
        sink.setState(QStringLiteral("stopped watching %1").arg(where));
    } else if (failure.isEmpty()) {
        QString state = QStringLiteral("complete: %1 events from %2").arg(m_result.events).arg(where);
        if (m_result.dropped)
            state += QStringLiteral(", %1 dropped by the probe").arg(m_result.dropped);
        sink.setState(state);
    } else if (!received) {
        m_outcome = {false, failureCode, failure};
        sink.setState(QStringLiteral("not connected"));
        sink.setError(failure);
    } else {
        sink.setState(QStringLiteral("the stream broke: showing what arrived"));
        sink.setError(failure);
    }
}

} // namespace layertrace::gui
