// CallTreeModel: incremental call tree with per-tick row insertion.
#include "core/call_tree_model.h"

#include "core/bands.h"
#include "core/diagram_state.h"

#include <algorithm>

namespace layertrace::gui {

namespace {
QString formatDuration(std::uint64_t ns) {
    if (ns < 10'000)
        return QStringLiteral("%1 ns").arg(ns);
    if (ns < 10'000'000)
        return QStringLiteral("%1 µs").arg(double(ns) / 1e3, 0, 'f', 1);
    return QStringLiteral("%1 ms").arg(double(ns) / 1e6, 0, 'f', 2);
}
} // namespace

CallTreeModel::CallTreeModel(const EventStore& store, std::size_t nodeBudget, QObject* parent)
    : QAbstractItemModel(parent), m_store(store), m_budget(nodeBudget) {
    // Sized for the whole budget up front: rehashing a map of a million entries in the middle
    // of a live tick would stall the UI for ~100 ms.
    m_byEvent.reserve(std::min<std::size_t>(2 * nodeBudget, 4'000'000));
}

const CallTreeModel::Node* CallTreeModel::nodeOf(const QModelIndex& index) const {
    if (!index.isValid())
        return nullptr;
    return &m_nodes[std::size_t(index.internalId())];
}

QModelIndex CallTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (row < 0 || column < 0 || column >= ColumnCount)
        return {};
    if (!parent.isValid()) {
        if (row >= m_shownRoots)
            return {};
        return createIndex(row, column, quintptr(m_roots[std::size_t(row)]));
    }
    if (parent.column() != 0)
        return {};
    const Node* p = nodeOf(parent);
    if (row >= p->shownChildren)
        return {};
    return createIndex(row, column, quintptr(p->children[std::size_t(row)]));
}

QModelIndex CallTreeModel::parent(const QModelIndex& child) const {
    const Node* n = nodeOf(child);
    if (!n || n->parent < 0)
        return {};
    const Node& p = m_nodes[std::size_t(n->parent)];
    return createIndex(p.row, 0, quintptr(n->parent));
}

int CallTreeModel::rowCount(const QModelIndex& parent) const {
    if (!parent.isValid())
        return m_shownRoots;
    if (parent.column() != 0)
        return 0;
    return nodeOf(parent)->shownChildren;
}

int CallTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant CallTreeModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid))
        return {};
    const Node& n = *nodeOf(index);
    if (role == AbsoluteIndexRole)
        return n.thread ? QVariant() : QVariant::fromValue<qlonglong>(qlonglong(n.enter));
    if (role == Qt::ToolTipRole && !n.thread && m_store.contains(n.enter))
        return QString::fromStdString(m_store.at(n.enter).reason);
    if (role != Qt::DisplayRole)
        return {};
    if (n.thread)
        return index.column() == ColFunction ? QVariant(QStringLiteral("Thread %1").arg(n.tid)) : QVariant();
    switch (index.column()) {
    case ColFunction: return QString::fromStdString(n.function);
    case ColLayer:
        return QStringLiteral("%1 · %2").arg(QString::fromUtf8(roleName(n.role)),
                                            bandLayerTag(bandOf(n.role, ViewMode::Summary), ViewMode::Summary));
    case ColModule: return displayModuleName(n.module);
    case ColDuration: return n.exit >= 0 ? formatDuration(n.durationNs) : QStringLiteral("running");
    default: return {};
    }
}

QVariant CallTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole || orientation != Qt::Horizontal)
        return {};
    switch (section) {
    case ColFunction: return QStringLiteral("Call");
    case ColLayer: return QStringLiteral("Role · Layer");
    case ColModule: return QStringLiteral("Module");
    case ColDuration: return QStringLiteral("Duration");
    default: return {};
    }
}

std::int32_t CallTreeModel::threadNode(std::uint32_t tid) {
    auto it = m_threadNodes.find(tid);
    if (it != m_threadNodes.end())
        return it->second;
    Node n;
    n.thread = true;
    n.tid = tid;
    n.row = std::int32_t(m_roots.size());
    const auto id = std::int32_t(m_nodes.size());
    m_nodes.push_back(std::move(n));
    m_roots.push_back(id);
    m_threadNodes.emplace(tid, id);
    return id;
}

void CallTreeModel::ingest(const TraceEvent& event, std::uint64_t absolute) {
    if (isEnter(event.kind)) {
        if (m_nodes.size() >= m_budget) {
            ++m_overBudget;
            m_open[event.tid].push_back(-1); // keep exits paired
            return;
        }
        const std::int32_t threadId = threadNode(event.tid);
        auto& open = m_open[event.tid];
        std::int32_t parent = threadId;
        for (auto it = open.rbegin(); it != open.rend(); ++it)
            if (*it >= 0) {
                parent = *it;
                break;
            }
        Node n;
        n.parent = parent;
        n.tid = event.tid;
        n.enter = absolute;
        n.function = event.symbol;
        n.module = event.module;
        n.role = event.role;
        Node& p = m_nodes[std::size_t(parent)];
        n.row = std::int32_t(p.children.size());
        const auto id = std::int32_t(m_nodes.size());
        if (std::int32_t(p.children.size()) == p.shownChildren)
            m_dirtyParents.push_back(parent);
        p.children.push_back(id);
        m_nodes.push_back(std::move(n));
        open.push_back(id);
        m_byEvent.emplace(absolute, id);
    } else if (isExit(event.kind)) {
        auto it = m_open.find(event.tid);
        if (it == m_open.end() || it->second.empty())
            return;
        const std::int32_t id = it->second.back();
        it->second.pop_back();
        if (id < 0)
            return;
        Node& n = m_nodes[std::size_t(id)];
        n.exit = std::int64_t(absolute);
        n.durationNs = event.durationNs;
        if (n.durationNs == 0 && m_store.contains(n.enter))
            n.durationNs = event.tsNs - std::min(event.tsNs, m_store.at(n.enter).tsNs);
        m_byEvent.emplace(absolute, id);
        m_closed.push_back(id);
    }
}

void CallTreeModel::commit() {
    if (std::int32_t(m_roots.size()) > m_shownRoots) {
        beginInsertRows({}, m_shownRoots, std::int32_t(m_roots.size()) - 1);
        m_shownRoots = std::int32_t(m_roots.size());
        endInsertRows();
    }
    // Parents were created before their children, so ascending ids insert each parent row before
    // rows under it.
    std::sort(m_dirtyParents.begin(), m_dirtyParents.end());
    m_dirtyParents.erase(std::unique(m_dirtyParents.begin(), m_dirtyParents.end()), m_dirtyParents.end());
    for (std::int32_t id : m_dirtyParents) {
        Node& p = m_nodes[std::size_t(id)];
        const auto total = std::int32_t(p.children.size());
        if (total <= p.shownChildren)
            continue;
        beginInsertRows(createIndex(p.row, 0, quintptr(id)), p.shownChildren, total - 1);
        p.shownChildren = total;
        endInsertRows();
    }
    m_dirtyParents.clear();
    // Durations of calls that returned: a few rows repaint; a flood is left to the next repaint.
    if (m_closed.size() <= 256) {
        for (std::int32_t id : m_closed) {
            const Node& n = m_nodes[std::size_t(id)];
            const QModelIndex idx = createIndex(n.row, ColDuration, quintptr(id));
            emit dataChanged(idx, idx, {Qt::DisplayRole});
        }
    }
    m_closed.clear();
}

void CallTreeModel::clear() {
    beginResetModel();
    m_nodes.clear();
    m_roots.clear();
    m_shownRoots = 0;
    m_threadNodes.clear();
    m_open.clear();
    m_byEvent.clear();
    m_byEvent.reserve(std::min<std::size_t>(2 * m_budget, 4'000'000));
    m_dirtyParents.clear();
    m_closed.clear();
    m_overBudget = 0;
    endResetModel();
}

QModelIndex CallTreeModel::indexForEvent(std::uint64_t absolute) const {
    auto it = m_byEvent.find(absolute);
    if (it == m_byEvent.end())
        return {};
    const Node& n = m_nodes[std::size_t(it->second)];
    const Node& p = m_nodes[std::size_t(n.parent)];
    if (n.row >= p.shownChildren)
        return {};
    return createIndex(n.row, 0, quintptr(it->second));
}

std::int64_t CallTreeModel::enterOf(std::uint64_t absolute) const {
    auto it = m_byEvent.find(absolute);
    return it == m_byEvent.end() ? -1 : std::int64_t(m_nodes[std::size_t(it->second)].enter);
}

std::int64_t CallTreeModel::exitOf(std::uint64_t absolute) const {
    auto it = m_byEvent.find(absolute);
    return it == m_byEvent.end() ? -1 : m_nodes[std::size_t(it->second)].exit;
}

} // namespace layertrace::gui
