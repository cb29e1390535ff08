// EventListModel: row bookkeeping for the live table and the asynchronous filter.
#include "core/event_list_model.h"

#include "core/bands.h"

#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

namespace layertrace::gui {

EventListModel::EventListModel(const EventStore& store, QObject* parent) : QAbstractTableModel(parent), m_store(store) {
    connect(&m_watcher, &QFutureWatcher<std::vector<std::uint64_t>>::finished, this, &EventListModel::onFilterJobDone);
    m_first = store.firstIndex();
}

EventListModel::~EventListModel() { m_watcher.waitForFinished(); }

int EventListModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid())
        return 0;
    return filtering() ? int(m_matches.size()) : m_rows;
}

int EventListModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

std::int64_t EventListModel::absoluteIndex(int row) const {
    if (row < 0 || row >= rowCount())
        return -1;
    return filtering() ? std::int64_t(m_matches[std::size_t(row)]) : std::int64_t(m_first) + row;
}

int EventListModel::rowOf(std::uint64_t absolute) const {
    if (!filtering()) {
        if (absolute < m_first || absolute >= m_first + std::uint64_t(m_rows))
            return -1;
        return int(absolute - m_first);
    }
    auto it = std::lower_bound(m_matches.begin(), m_matches.end(), absolute);
    return it != m_matches.end() && *it == absolute ? int(it - m_matches.begin()) : -1;
}

QVariant EventListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const std::int64_t abs = absoluteIndex(index.row());
    if (abs < 0 || !m_store.contains(std::uint64_t(abs)))
        return {};
    const TraceEvent& ev = m_store.at(std::uint64_t(abs));
    if (role == AbsoluteIndexRole)
        return QVariant::fromValue<qlonglong>(abs);
    if (role == RoleRole)
        return int(ev.role);
    if (role == Qt::ToolTipRole && index.column() == ColLayer)
        return QString::fromStdString(ev.reason);
    if (role == Qt::TextAlignmentRole)
        return index.column() <= ColThread ? QVariant(Qt::AlignRight | Qt::AlignVCenter) : QVariant();
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case ColSeq: return QVariant::fromValue<qulonglong>(ev.seq);
    case ColTime:
        return QString::number(double(ev.tsNs - std::min(ev.tsNs, m_t0)) / 1e6, 'f', 3);
    case ColThread: return ev.tid;
    case ColKind:
        // A lost exit was made by the tracer, not recorded: say so where exits are listed.
        return ev.lost ? QStringLiteral("%1 (lost)").arg(QString::fromUtf8(kindName(ev.kind)))
                       : QString::fromUtf8(kindName(ev.kind));
    case ColLayer:
        return QStringLiteral("%1 · %2").arg(QString::fromUtf8(roleName(ev.role)),
                                            bandLayerTag(bandOf(ev.role, ViewMode::Summary), ViewMode::Summary));
    case ColModule: return displayModuleName(ev.module);
    case ColFunction: {
        QString s = QString::fromStdString(ev.symbol);
        if (ev.kind == EventKind::Dropped)
            s = QStringLiteral("%1 events dropped by the probe").arg(ev.dropped);
        return s;
    }
    default: return {};
    }
}

QVariant EventListModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole || orientation != Qt::Horizontal)
        return {};
    switch (section) {
    case ColSeq: return QStringLiteral("#");
    case ColTime: return QStringLiteral("ms");
    case ColThread: return QStringLiteral("Thread");
    case ColKind: return QStringLiteral("Event");
    case ColLayer: return QStringLiteral("Role · Layer");
    case ColModule: return QStringLiteral("Module");
    case ColFunction: return QStringLiteral("Function");
    default: return {};
    }
}

void EventListModel::sync() {
    // Time zero is the first event that has a timestamp (module records may carry none).
    for (std::uint64_t i = std::max(m_first + std::uint64_t(m_rows), m_store.firstIndex()); !m_haveT0 && i < m_store.endIndex(); ++i) {
        if (m_store.at(i).tsNs) {
            m_t0 = m_store.at(i).tsNs;
            m_haveT0 = true;
        }
    }
    const std::uint64_t first = m_store.firstIndex();
    const std::uint64_t end = m_store.endIndex();
    if (filtering()) {
        std::size_t gone = 0;
        while (gone < m_matches.size() && m_matches[gone] < first)
            ++gone;
        if (gone > 0) {
            beginRemoveRows({}, 0, int(gone) - 1);
            m_matches.erase(m_matches.begin(), m_matches.begin() + std::ptrdiff_t(gone));
            endRemoveRows();
        }
        m_first = first;
        m_rows = int(end - first);
        if (!m_jobRunning && m_filteredUpTo < end)
            startFilterJob();
        return;
    }
    // Evicted rows leave from the top, new rows arrive at the bottom: one call each per tick.
    if (first > m_first) {
        const int gone = int(std::min<std::uint64_t>(first - m_first, std::uint64_t(m_rows)));
        if (gone > 0) {
            beginRemoveRows({}, 0, gone - 1);
            m_first += std::uint64_t(gone);
            m_rows -= gone;
            endRemoveRows();
        }
        m_first = std::max(m_first, first);
    }
    const std::uint64_t shownEnd = m_first + std::uint64_t(m_rows);
    if (end > shownEnd) {
        beginInsertRows({}, m_rows, m_rows + int(end - shownEnd) - 1);
        m_rows += int(end - shownEnd);
        endInsertRows();
    }
}

void EventListModel::reset() {
    beginResetModel();
    m_first = m_store.firstIndex();
    m_rows = 0;
    m_matches.clear();
    m_filteredUpTo = m_first;
    m_haveT0 = false;
    ++m_jobId;
    m_jobRunning = false;
    endResetModel();
    sync();
}

void EventListModel::setFilter(const EventFilter& filter) {
    if (filter == m_filter)
        return;
    beginResetModel();
    m_filter = filter;
    m_matches.clear();
    ++m_jobId; // any running job's result is stale now
    m_jobRunning = false;
    m_first = m_store.firstIndex();
    m_rows = int(m_store.endIndex() - m_first);
    m_filteredUpTo = m_first;
    endResetModel();
    if (filtering())
        startFilterJob();
    else
        emit filterProgress(false);
}

void EventListModel::startFilterJob() {
    const std::uint64_t begin = std::max(m_filteredUpTo, m_store.firstIndex());
    const std::uint64_t end = m_store.endIndex();
    if (begin >= end) {
        m_filteredUpTo = end;
        return;
    }
    m_jobRunning = true;
    m_jobEnd = end;
    const std::uint64_t id = m_jobId;
    EventSnapshot snap = m_store.snapshot(begin, end);
    EventFilter filter = m_filter;
    m_watcher.setProperty("jobId", QVariant::fromValue<qulonglong>(id));
    m_watcher.setFuture(QtConcurrent::run([snap = std::move(snap), filter] { return filterEvents(snap, filter); }));
    emit filterProgress(true);
}

void EventListModel::onFilterJobDone() {
    if (m_watcher.property("jobId").toULongLong() != m_jobId || !m_jobRunning)
        return; // stale
    m_jobRunning = false;
    std::vector<std::uint64_t> found = m_watcher.result();
    const std::uint64_t first = m_store.firstIndex();
    auto keep = std::lower_bound(found.begin(), found.end(), first);
    if (keep != found.end()) {
        const int n = int(found.end() - keep);
        beginInsertRows({}, int(m_matches.size()), int(m_matches.size()) + n - 1);
        m_matches.insert(m_matches.end(), keep, found.end());
        endInsertRows();
    }
    m_filteredUpTo = m_jobEnd;
    if (m_filteredUpTo < m_store.endIndex())
        startFilterJob();
    else
        emit filterProgress(false);
}

} // namespace layertrace::gui
