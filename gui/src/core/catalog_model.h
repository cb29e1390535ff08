// The start screen's demo list: the tracer's demo catalog as a list model (series part, title,
// one-paragraph summary, expected paths), plus how to run a demo under the tracer.
#pragma once

#include "core/diagram_state.h"

#include <layertrace/catalog.h>
#include <layertrace/session.h>

#include <QAbstractListModel>

namespace layertrace::gui {

class CatalogModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { NameRole = Qt::UserRole + 1, PartRole, TitleRole, SummaryRole, PathsRole };

    explicit CatalogModel(QObject* parent = nullptr) : QAbstractListModel(parent) {}
    void setCatalog(tracer::Catalog catalog);
    const tracer::Catalog& catalog() const { return m_catalog; }

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;

private:
    tracer::Catalog m_catalog;
};

// RunOptions that run `demo` in its staged folder with the configured interpreter, full mode.
tracer::RunOptions demoRunOptions(const tracer::Catalog& catalog, const tracer::Demo& demo);

// Whether the diagram's route (in `mode`) contains the catalog path's hops, in order: each hop's
// role, module glob and symbol glob must match a route hop after the previous match.
bool routeMatches(const DiagramState& state, ViewMode mode, const tracer::DemoPath& path);

} // namespace layertrace::gui
