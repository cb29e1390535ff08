// The call tree: one root per thread, a node per call (enter event), children in call order.
// Built incrementally as events arrive; rows become visible once per UI tick, one
// beginInsertRows per parent that grew. Bounded by a node budget; calls beyond it are counted.
#pragma once

#include "core/event_store.h"

#include <QAbstractItemModel>

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

namespace layertrace::gui {

class CallTreeModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { ColFunction, ColLayer, ColModule, ColDuration, ColumnCount };
    enum Roles { AbsoluteIndexRole = Qt::UserRole + 1 };

    CallTreeModel(const EventStore& store, std::size_t nodeBudget, QObject* parent = nullptr);

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Ingest one event (UI thread, inside a tick), then commit() once at the end of the tick.
    void ingest(const TraceEvent& event, std::uint64_t absolute);
    void commit();
    void clear();

    QModelIndex indexForEvent(std::uint64_t absolute) const; // the call an enter or exit belongs to
    std::int64_t enterOf(std::uint64_t absolute) const;       // enter event of the call, or -1
    std::int64_t exitOf(std::uint64_t absolute) const;        // exit event of the call, or -1
    std::uint64_t callsOverBudget() const { return m_overBudget; }
    std::size_t nodeCount() const { return m_nodes.size(); }

private:
    struct Node {
        std::int32_t parent = -1; // -1: top level (thread nodes)
        std::int32_t row = 0;
        std::uint32_t tid = 0;
        bool thread = false;
        std::uint64_t enter = 0; // absolute index of the enter event
        std::int64_t exit = -1;
        std::uint64_t durationNs = 0;
        std::vector<std::int32_t> children;
        std::int32_t shownChildren = 0;
        // Copied so the tree still names calls whose events were evicted.
        std::string function;
        std::string module;
        Role role = Role::Unknown;
    };

    std::int32_t threadNode(std::uint32_t tid);
    const Node* nodeOf(const QModelIndex& index) const;

    const EventStore& m_store;
    std::size_t m_budget;
    std::deque<Node> m_nodes;
    std::vector<std::int32_t> m_roots;
    std::int32_t m_shownRoots = 0;
    std::unordered_map<std::uint32_t, std::int32_t> m_threadNodes;
    std::unordered_map<std::uint32_t, std::vector<std::int32_t>> m_open; // per thread, open calls
    std::unordered_map<std::uint64_t, std::int32_t> m_byEvent;           // enter and exit -> node
    std::vector<std::int32_t> m_dirtyParents;                            // grew this tick
    std::vector<std::int32_t> m_closed;                                  // closed this tick
    std::uint64_t m_overBudget = 0;
};

} // namespace layertrace::gui
