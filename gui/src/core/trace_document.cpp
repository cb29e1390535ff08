// TraceDocument: per-tick ingest into every derived structure, selection, event descriptions.
#include "core/trace_document.h"

#include "core/bands.h"

namespace layertrace::gui {

TraceDocument::TraceDocument(std::size_t eventBudget, QObject* parent)
    : QObject(parent), m_store(eventBudget), m_eventList(m_store), m_callTree(m_store, eventBudget),
      m_timeline(eventBudget), m_playback(m_store, m_diagram) {
    connect(&m_playback, &Playback::cursorChanged, this, [this](std::int64_t index) {
        if (m_playback.mode() != Playback::Mode::Follow && index >= 0)
            select(index);
    });
}

void TraceDocument::appendBatch(std::vector<TraceEvent>&& events) {
    std::vector<std::vector<TraceEvent>> batches;
    batches.push_back(std::move(events));
    appendBatches(std::move(batches));
}

void TraceDocument::appendBatches(std::vector<std::vector<TraceEvent>>&& batches) {
    const std::uint64_t begin = m_store.endIndex();
    for (auto& events : batches) {
        for (auto& ev : events) {
            const std::uint64_t abs = m_store.endIndex();
            if (ev.kind == EventKind::Dropped)
                m_droppedByProbe += ev.dropped;
            m_diagram.registerEvent(ev);
            m_callTree.ingest(ev, abs);
            m_timeline.ingest(ev, abs);
            m_store.append(std::move(ev));
        }
    }
    if (m_store.endIndex() == begin)
        return;
    m_eventList.sync();
    m_callTree.commit();
    m_playback.onAppended();
    emit appended(begin, m_store.endIndex());
    emit statusChanged();
}

void TraceDocument::clear() {
    m_store.clear();
    m_diagram.clear();
    m_callTree.clear();
    m_timeline.clear();
    m_eventList.reset();
    m_playback.onCleared();
    m_selected = -1;
    m_droppedByProbe = m_droppedByGui = 0;
    emit cleared();
    emit statusChanged();
}

void TraceDocument::setBudget(std::size_t events) {
    m_store.setBudget(events);
    m_eventList.sync();
    emit statusChanged();
}

void TraceDocument::setDroppedByGui(std::uint64_t count) {
    if (count == m_droppedByGui)
        return;
    m_droppedByGui = count;
    emit statusChanged();
}

const TraceEvent* TraceDocument::selectedEvent() const {
    return m_selected >= 0 && m_store.contains(std::uint64_t(m_selected)) ? &m_store.at(std::uint64_t(m_selected)) : nullptr;
}

void TraceDocument::select(std::int64_t absolute) {
    if (absolute == m_selected)
        return;
    m_selected = absolute;
    emit selectionChanged(absolute);
}

namespace {
QString esc(const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); }

QString ns(std::uint64_t v) {
    if (v < 10'000)
        return QStringLiteral("%1 ns").arg(v);
    if (v < 10'000'000)
        return QStringLiteral("%1 µs").arg(double(v) / 1e3, 0, 'f', 1);
    return QStringLiteral("%1 ms").arg(double(v) / 1e6, 0, 'f', 3);
}
} // namespace

QString TraceDocument::describe(std::uint64_t absolute) const {
    if (!m_store.contains(absolute))
        return QStringLiteral("<p><i>Event %1 was evicted (event budget %2).</i></p>").arg(absolute).arg(m_store.budget());
    const TraceEvent& ev = m_store.at(absolute);
    const int summary = bandOf(ev.role, ViewMode::Summary);
    QString h;
    h += QStringLiteral("<h3 style='margin:0'>%1</h3>").arg(ev.kind == EventKind::Dropped
                                                                ? QStringLiteral("%1 events dropped").arg(ev.dropped)
                                                                : esc(ev.symbol));
    h += QStringLiteral("<table cellspacing='2'>");
    auto row = [&h](const QString& k, const QString& v) {
        h += QStringLiteral("<tr><td style='color:#555'>%1</td><td>%2</td></tr>").arg(k, v);
    };
    row(QStringLiteral("Event"), QStringLiteral("%1 (#%2)").arg(QString::fromUtf8(kindName(ev.kind))).arg(ev.seq));
    row(QStringLiteral("Role"), QStringLiteral("<b>%1</b> — %2, %3")
                                    .arg(QString::fromUtf8(roleName(ev.role)),
                                         bandTitle(bandOf(ev.role, ViewMode::Detailed), ViewMode::Detailed),
                                         bandLayerTag(summary, ViewMode::Summary)));
    if (!ev.reason.empty())
        row(QStringLiteral("Why"), esc(ev.reason));
    row(QStringLiteral("Module"), esc(ev.module));
    if (!ev.modulePath.empty() && ev.modulePath != ev.module)
        row(QStringLiteral("Path"), esc(ev.modulePath));
    if (!ev.pyFile.empty())
        row(QStringLiteral("Python"), QStringLiteral("%1:%2").arg(esc(ev.pyFile)).arg(ev.pyLine));
    row(QStringLiteral("Thread"), QString::number(ev.tid));
    row(QStringLiteral("Time"), QStringLiteral("%1 ms since start").arg(double(ev.tsNs - std::min(ev.tsNs, m_timeline.startNs())) / 1e6, 0, 'f', 3));
    row(QStringLiteral("Depth"), QString::number(ev.depth));
    std::uint64_t duration = ev.durationNs;
    if (isEnter(ev.kind)) {
        const std::int64_t exit = m_callTree.exitOf(absolute);
        if (exit >= 0 && m_store.contains(std::uint64_t(exit)))
            duration = m_store.at(std::uint64_t(exit)).durationNs;
    }
    if (duration)
        row(QStringLiteral("Duration"), ns(duration));
    if (ev.raised)
        row(QStringLiteral("Raised"), QStringLiteral("yes"));
    if (ev.lost)
        row(QStringLiteral("Lost"), QStringLiteral("the call's own exit was not recorded (dropped by the probe, skipped by "
                                                   "a longjmp, or the trace ended first); the tracer closed it here"));
    h += QStringLiteral("</table>");
    if (!ev.args.empty() || ev.ret) {
        h += QStringLiteral("<p style='margin-bottom:0'><b>FFI values</b></p><table cellspacing='2'>");
        for (std::size_t i = 0; i < ev.args.size(); ++i)
            row(QStringLiteral("arg %1").arg(i), QStringLiteral("<code>%1</code> %2").arg(esc(ev.args[i].type), esc(ev.args[i].value)));
        if (ev.ret)
            row(QStringLiteral("return"), QStringLiteral("<code>%1</code> %2").arg(esc(ev.ret->type), esc(ev.ret->value)));
        h += QStringLiteral("</table>");
    }
    if (!ev.stack.empty()) {
        h += QStringLiteral("<p style='margin-bottom:0'><b>Mixed stack</b> (innermost first)</p><table cellspacing='1'>");
        for (const auto& f : ev.stack) {
            QString where = esc(f.file.empty() ? f.module : f.file);
            if (f.line > 0)
                where += QStringLiteral(":%1").arg(f.line);
            else if (f.offset)
                where += QStringLiteral("+0x%1").arg(f.offset, 0, 16);
            h += QStringLiteral("<tr><td>%1</td><td><code>%2</code></td><td style='color:#555'>%3</td><td>%4</td></tr>")
                     .arg(f.python ? QStringLiteral("py") : QStringLiteral("c"), esc(f.function), where,
                          QString::fromUtf8(roleName(f.role)));
        }
        h += QStringLiteral("</table>");
    }
    return h;
}

} // namespace layertrace::gui
