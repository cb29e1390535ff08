// RecordingSource: RecordingReader::replay on the worker thread; a replay that hits damage
// leaves its RecordingError (file and offset) as the document's error.
#include "core/recording_source.h"

#include <QDateTime>

namespace layertrace::gui {

namespace {
// Thrown from the sink to end a replay early (RecordingReader stops when its sink throws).
struct ReplayStopped {};

QString joined(const std::vector<std::string>& parts) {
    QStringList out;
    for (const auto& p : parts)
        out << QString::fromStdString(p);
    return out.join(QLatin1Char(' '));
}

QString recordedAt(const tracer::RecordingInfo& info) {
    if (info.startUnixNs == 0)
        return QStringLiteral("unknown date");
    return QDateTime::fromMSecsSinceEpoch(qint64(info.startUnixNs / 1000000)).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}
} // namespace

RecordingSource::RecordingSource(std::unique_ptr<tracer::RecordingReader> reader, QString title)
    : m_reader(std::move(reader)), m_title(std::move(title)) {}

RecordingSource::~RecordingSource() = default;

void RecordingSource::run(IngestSink& sink) {
    m_sink = &sink;
    sink.setWaitWhenFull(true);
    sink.setState(QStringLiteral("reading…"));
    try {
        m_stats = m_reader->replay(*this);
        sink.flush();
        QString state = QStringLiteral("complete: %1 events").arg(m_stats.events);
        if (m_result.dropped)
            state += QStringLiteral(", %1 dropped by the probe while recording").arg(m_result.dropped);
        if (!m_result.streamError.empty())
            state += QStringLiteral(" — the recorded session reported: %1").arg(QString::fromStdString(m_result.streamError));
        sink.setState(state);
    } catch (const ReplayStopped&) {
        sink.flush();
        sink.setState(QStringLiteral("stopped"));
    } catch (const tracer::Error& e) {
        // RecordingError: everything before the damage was delivered; say where it is.
        sink.flush();
        const QString what = QString::fromStdString(e.what());
        sink.setState(QStringLiteral("damaged: showing the events before the damage"));
        sink.setError(QStringLiteral("Damaged recording, showing everything before the damage: %1").arg(what));
    } catch (const std::exception& e) {
        sink.flush();
        sink.setState(QStringLiteral("error"));
        sink.setError(QStringLiteral("%1: %2").arg(QString::fromStdString(m_reader->path()), QString::fromUtf8(e.what())));
    }
}

void RecordingSource::onEvent(const TraceEvent& event) {
    if (m_stop.load(std::memory_order_relaxed))
        throw ReplayStopped{};
    m_sink->push(event);
}

void RecordingSource::onFinished(const tracer::SessionResult& result) { m_result = result; }

QString describeRecording(const QString& path, const tracer::RecordingInfo& info) {
    auto row = [](const QString& k, const QString& v) {
        return v.isEmpty() ? QString()
                           : QStringLiteral("<tr><td style='color:#555;padding-right:8px'>%1</td><td>%2</td></tr>")
                                 .arg(k, v.toHtmlEscaped());
    };
    QString interpreter = QString::fromStdString(info.interpreter);
    if (!info.pythonVersion.empty())
        interpreter = QStringLiteral("Python %1%2").arg(QString::fromStdString(info.pythonVersion),
                                                        interpreter.isEmpty() ? QString() : QStringLiteral(" — ") + interpreter);
    QStringList options;
    for (const auto& [k, v] : info.options)
        options << QStringLiteral("%1=%2").arg(QString::fromStdString(k), QString::fromStdString(v));
    return QStringLiteral("<h3 style='margin-bottom:4px'>Recording</h3><table>") + row(QStringLiteral("file"), path) +
           row(QStringLiteral("command"), joined(info.argv)) + row(QStringLiteral("directory"), QString::fromStdString(info.cwd)) +
           row(QStringLiteral("interpreter"), interpreter) +
           row(QStringLiteral("PID"), info.pid ? QString::number(info.pid) : QString()) +
           row(QStringLiteral("recorded"), recordedAt(info)) + row(QStringLiteral("host"), QString::fromStdString(info.hostname)) +
           row(QStringLiteral("system"), QString::fromStdString(info.system)) +
           row(QStringLiteral("layertrace"), QString::fromStdString(info.layertraceVersion)) +
           row(QStringLiteral("options"), options.join(QStringLiteral(", "))) +
           QStringLiteral("</table><p style='color:#666'>Select an event to see its details.</p>");
}

QString recordingSummary(const tracer::RecordingInfo& info) {
    QString s = joined(info.argv);
    if (s.isEmpty())
        s = QStringLiteral("(command line not recorded)");
    if (!info.hostname.empty())
        s += QStringLiteral(" — recorded on %1").arg(QString::fromStdString(info.hostname));
    s += QStringLiteral(", %1").arg(recordedAt(info));
    return s;
}

} // namespace layertrace::gui
