// LiveSource: tracer::Session on the worker thread; tracer errors become one status line.
#include "core/live_source.h"

#include <layertrace/errors.h>

namespace layertrace::gui {

LiveSource::LiveSource(tracer::RunOptions options, QString title) : m_options(std::move(options)), m_title(std::move(title)) {}

LiveSource::~LiveSource() { stop(); }

void LiveSource::run(IngestSink& sink) {
    m_sink = &sink;
    sink.setState(QStringLiteral("starting…"));
    try {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopRequested)
                return;
            m_session = tracer::Session::launch(m_options, *this);
        }
        m_result = m_session->wait();
    } catch (const tracer::Error& e) {
        sink.setState(QStringLiteral("error: %1").arg(QString::fromStdString(e.what())));
    } catch (const std::exception& e) {
        sink.setState(QStringLiteral("error: %1").arg(QString::fromStdString(e.what())));
    }
    sink.flush();
}

void LiveSource::stop() {
    std::lock_guard lock(m_mutex);
    m_stopRequested = true;
    if (m_session)
        m_session->stop();
}

void LiveSource::onStarted(std::uint32_t pid) { m_sink->setState(QStringLiteral("running, PID %1").arg(pid)); }

void LiveSource::onEvent(const TraceEvent& event) { m_sink->push(event); }

void LiveSource::onReport(const tracer::ProbeReport& report) {
    if (report.level != tracer::ProbeReport::Level::Info)
        m_sink->setState(QStringLiteral("probe: %1").arg(QString::fromStdString(report.message)));
}

void LiveSource::onFinished(const tracer::SessionResult& result) {
    QString state = QStringLiteral("finished: exit status %1, %2 events").arg(result.exitStatus).arg(result.events);
    if (!result.connected)
        state += QStringLiteral(" — the probe never connected (no events can be shown)");
    if (result.dropped)
        state += QStringLiteral(", %1 dropped by the probe").arg(result.dropped);
    if (!result.streamError.empty())
        state += QStringLiteral(" — stream error: %1").arg(QString::fromStdString(result.streamError));
    m_sink->setState(state);
}

} // namespace layertrace::gui
