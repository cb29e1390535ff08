// CatalogModel and the catalog-driven helpers the launcher and its tests share.
#include "core/catalog_model.h"

namespace layertrace::gui {

void CatalogModel::setCatalog(tracer::Catalog catalog) {
    beginResetModel();
    m_catalog = std::move(catalog);
    endResetModel();
}

int CatalogModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_catalog.demos.size()); }

QVariant CatalogModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const tracer::Demo& d = m_catalog.demos[std::size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole: return QStringLiteral("Part %1 — %2").arg(QString::fromStdString(d.part), QString::fromStdString(d.title));
    case Qt::ToolTipRole:
    case SummaryRole: return QString::fromStdString(d.summary);
    case NameRole: return QString::fromStdString(d.name);
    case PartRole: return QString::fromStdString(d.part);
    case TitleRole: return QString::fromStdString(d.title);
    case PathsRole: {
        QStringList paths;
        for (const auto& p : d.paths)
            paths << QString::fromStdString(p.name);
        return paths;
    }
    default: return {};
    }
}

tracer::RunOptions demoRunOptions(const tracer::Catalog& catalog, const tracer::Demo& demo) {
    tracer::RunOptions o;
    o.argv = demo.resolvedArgv(tracer::defaultPython());
    o.cwd = catalog.demoDir(demo);
    o.mode = tracer::TraceMode::Full;
    // A demo is small and is watched step by step: make it wait for the tracer rather than
    // lose the very hops it exists to show.
    o.lossless = true;
    return o;
}

bool routeMatches(const DiagramState& state, ViewMode mode, const tracer::DemoPath& path) {
    // Each catalog hop consumes one frame of the route, in order: a nested call inside the same
    // box (transform_record › sd_filter_items) is a hop of its own for the catalog.
    struct Frame {
        Role role;
        const std::string* module;
        const std::string* function;
    };
    const auto route = state.route(mode);
    const BoxRegistry& reg = state.registry(mode);
    std::vector<Frame> frames;
    for (const auto& hop : route)
        for (std::size_t i = 0; i < hop.functions.size(); ++i)
            frames.push_back({hop.roles[i], &reg.box(hop.box).module, &hop.functions[i]});
    std::size_t next = 0;
    for (const auto& hop : path.hops) {
        while (next < frames.size() && !hop.matches(frames[next].role, *frames[next].module, *frames[next].function))
            ++next;
        if (next == frames.size())
            return false;
        ++next;
    }
    return true;
}

} // namespace layertrace::gui
