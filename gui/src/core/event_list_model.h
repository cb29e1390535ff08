// The virtualised event list: a table over the chunked store. Rows are inserted once per UI tick;
// with a filter set, the matching rows are computed on a worker thread (no proxy model on a live
// list) and appended as jobs finish, stale jobs discarded by id.
#pragma once

#include "core/event_filter.h"
#include "core/event_store.h"

#include <QAbstractTableModel>
#include <QFutureWatcher>

#include <cstdint>
#include <deque>
#include <vector>

namespace layertrace::gui {

class EventListModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { ColSeq, ColTime, ColThread, ColKind, ColLayer, ColModule, ColFunction, ColumnCount };
    enum Roles { AbsoluteIndexRole = Qt::UserRole + 1, RoleRole };

    explicit EventListModel(const EventStore& store, QObject* parent = nullptr);
    ~EventListModel() override;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Called once per UI tick after the store changed (evictions and appends).
    void sync();
    void reset(); // the store was cleared

    const EventFilter& filter() const { return m_filter; }
    void setFilter(const EventFilter& filter);
    bool filtering() const { return m_filter.active(); }
    bool filterPending() const { return m_jobRunning; }

    std::int64_t absoluteIndex(int row) const; // -1 when out of range
    int rowOf(std::uint64_t absolute) const;   // -1 when not shown

signals:
    void filterProgress(bool running);

private:
    void startFilterJob();
    void onFilterJobDone();

    const EventStore& m_store;
    // Unfiltered: rows are [m_first, m_first + m_rows).
    std::uint64_t m_first = 0;
    int m_rows = 0;
    std::uint64_t m_t0 = 0;
    bool m_haveT0 = false;
    // Filtered: rows are m_matches; m_filteredUpTo is the end of the range already scanned.
    EventFilter m_filter;
    std::deque<std::uint64_t> m_matches;
    std::uint64_t m_filteredUpTo = 0;
    std::uint64_t m_jobId = 0;
    std::uint64_t m_jobEnd = 0;
    bool m_jobRunning = false;
    QFutureWatcher<std::vector<std::uint64_t>> m_watcher;
};

} // namespace layertrace::gui
