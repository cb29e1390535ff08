// LiveSource: tracer::Session (launch or attach) on the worker thread, tee'd into the recording;
// tracer errors become the start outcome, the status line and the document's error.
// formatters.h before any Qt header: Qt's `emit` macro would rewrite a member function there.
#include <layertrace/formatters.h>

#include "core/live_source.h"

#include <layertrace/attach.h>
#include <layertrace/errors.h>

namespace layertrace::gui {

std::string layertraceVersion() { return LAYERTRACE_GUI_VERSION; }

LiveSource::LiveSource(tracer::RunOptions options, QString title, std::uint32_t attachPid, std::string recordingPath)
    : m_options(std::move(options)), m_title(std::move(title)), m_attachPid(attachPid),
      m_recordingPath(std::move(recordingPath)), m_tee(std::make_unique<tracer::TeeSink>()),
      m_startedFuture(m_startedPromise.get_future().share()) {
    // A live viewer's Detach settles at once: what the tracer had received but not decoded yet
    // (with a busy target, up to the spool's limit: minutes of decoding) is counted and marked
    // as a gap instead of decoded; the probe's last events, sent after the Detach, still show.
    m_options.skipBacklogOnDetach = true;
    m_tee->add(*this);
    if (!m_recordingPath.empty()) {
        m_recording = std::make_unique<tracer::RecordingWriter>(
            m_recordingPath, tracer::recordingInfoFor(m_options, layertraceVersion()));
        m_tee->add(*m_recording);
    }
}

LiveSource::~LiveSource() {
    stop();
    reportStart({false, int(tracer::ExitCode::Internal), QStringLiteral("the session never started")});
}

void LiveSource::reportStart(StartOutcome outcome) {
    if (m_startReported)
        return;
    m_startReported = true;
    m_startedPromise.set_value(std::move(outcome));
}

void LiveSource::run(IngestSink& sink) {
    m_sink = &sink;
    sink.setState(m_attachPid ? QStringLiteral("attaching to PID %1…").arg(m_attachPid) : QStringLiteral("starting…"));
    try {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopRequested) {
                reportStart({false, int(tracer::ExitCode::Ok), QStringLiteral("stopped before it started")});
                return;
            }
            tracer::InjectionReport injected;
            m_session = m_attachPid ? tracer::Session::attach(m_attachPid, m_options, *m_tee, &injected)
                                    : tracer::Session::launch(m_options, *m_tee);
            if (m_attachPid)
                sink.setState(QStringLiteral("attached to PID %1 (its threads paused %2 ms)")
                                  .arg(m_attachPid)
                                  .arg(injected.pausedMs, 0, 'f', 1));
        }
        reportStart({true, 0, {}});
        m_result = m_session->wait();
    } catch (const tracer::Error& e) {
        const QString what = QString::fromStdString(e.what());
        reportStart({false, e.exitCode(), what});
        sink.setState(QStringLiteral("error"));
        sink.setError(what);
    } catch (const std::exception& e) {
        const QString what = QStringLiteral("internal error: %1 (please report this)").arg(QString::fromUtf8(e.what()));
        reportStart({false, int(tracer::ExitCode::Internal), what});
        sink.setState(QStringLiteral("error"));
        sink.setError(what);
    }
    if (m_recording) {
        try {
            m_recording->close();
        } catch (const tracer::Error& e) {
            sink.setError(QStringLiteral("the recording of this session is incomplete: %1").arg(QString::fromStdString(e.what())));
        }
        m_recordingComplete.store(true, std::memory_order_release);
    }
    sink.flush();
}

void LiveSource::stop() {
    std::lock_guard lock(m_mutex);
    m_stopRequested = true;
    if (m_session)
        m_session->stop();
}

void LiveSource::flushRecording() {
    if (m_recording)
        m_recording->flush();
}

void LiveSource::onStarted(std::uint32_t pid) {
    if (!m_attachPid)
        m_sink->setState(QStringLiteral("running, PID %1").arg(pid));
}

void LiveSource::onEvent(const TraceEvent& event) { m_sink->push(event); }

void LiveSource::onReport(const tracer::ProbeReport& report) {
    if (report.level != tracer::ProbeReport::Level::Info)
        m_sink->setState((report.origin == tracer::ProbeReport::Origin::Probe ? QStringLiteral("probe: %1") : QStringLiteral("%1"))
                             .arg(QString::fromStdString(report.message)));
}

void LiveSource::onFinished(const tracer::SessionResult& result) {
    QString state;
    if (result.attached)
        state = result.targetExited ? QStringLiteral("PID %1 exited while attached, %2 events").arg(m_attachPid).arg(result.events)
                                    : QStringLiteral("detached from PID %1 (it goes on untraced), %2 events")
                                          .arg(m_attachPid)
                                          .arg(result.events);
    else
        state = QStringLiteral("finished: exit status %1, %2 events").arg(result.exitStatus).arg(result.events);
    if (!result.connected) {
        state += QStringLiteral(" — the probe never connected (no events can be shown)");
        if (result.attached)
            m_sink->setError(QStringLiteral("the probe injected into PID %1 never connected: no events can be shown "
                                            "(see docs/cli/attach.md)")
                                 .arg(m_attachPid));
    }
    if (result.dropped)
        state += QStringLiteral(", %1 dropped by the probe").arg(result.dropped);
    if (!result.streamError.empty())
        state += QStringLiteral(" — stream error: %1").arg(QString::fromStdString(result.streamError));
    m_sink->setState(state);
}

} // namespace layertrace::gui
