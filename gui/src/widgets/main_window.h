// The main window: start screen, then the trace view — the layer diagram with its playback bar
// in the centre and the engineer views (events, call tree, timeline, details) as docks — plus
// presentation mode, the status bar's event counts and the clicker keys.
#pragma once

#include "core/catalog_model.h"
#include "core/ingest.h"
#include "core/palette.h"
#include "core/trace_document.h"
#include "widgets/details_pane.h"
#include "widgets/diagram_widget.h"
#include "widgets/event_list_view.h"
#include "widgets/playback_bar.h"
#include "widgets/start_screen.h"
#include "widgets/timeline_widget.h"

#include <QDockWidget>
#include <QLabel>
#include <QMainWindow>
#include <QStackedWidget>

#include <memory>

namespace layertrace::gui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(std::size_t eventBudget = 0, QWidget* parent = nullptr);
    ~MainWindow() override;

    TraceDocument& document() { return *m_document; }
    CatalogModel& catalogModel() { return m_catalog; }
    const Palette& palette() const { return m_palette; }
    DiagramWidget* diagram() const { return m_diagram; }
    EventListView* eventList() const { return m_events; }
    CallTreeView* callTree() const { return m_tree; }
    TimelineWidget* timeline() const { return m_timeline; }
    DetailsPane* details() const { return m_details; }
    StartScreen* startScreen() const { return m_start; }
    PlaybackBar* playbackBar() const { return m_bar; }
    IngestWorker* ingest() const { return m_ingest.get(); }
    // The widget a --screenshot --view NAME renders.
    QWidget* viewWidget(const QString& name);

    // Loads the demo catalog (Catalog::defaultDemosDir()); returns the error line, empty on success.
    QString loadCatalog();
    // The launcher's code path: run a catalog demo live. Returns an error line, empty on success.
    QString startDemo(const QString& name, bool anchored = false);
    QString startRun(const QStringList& argv, const QString& cwd, const QString& title, bool anchored = false);
    void startSource(std::unique_ptr<EventSource> source);
    void startExample();
    void showStart();
    void showTrace();

    void setScalePercent(int percent);
    void setHighContrast(bool on);
    void setViewMode(ViewMode mode);
    void setPresentation(bool on);
    bool presentation() const { return m_presentation; }

signals:
    void ingestFinished();

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildShortcuts();
    void updateStatus();
    void onIngestFinished();
    void traceScriptDialog();

    Palette m_palette;
    std::unique_ptr<TraceDocument> m_document;
    std::unique_ptr<IngestWorker> m_ingest;
    CatalogModel m_catalog;
    QStackedWidget* m_stack;
    StartScreen* m_start;
    QWidget* m_traceView;
    DiagramWidget* m_diagram;
    PlaybackBar* m_bar;
    EventListView* m_events;
    CallTreeView* m_tree;
    TimelineWidget* m_timeline;
    DetailsPane* m_details;
    QList<QDockWidget*> m_docks;
    QLabel* m_sourceLabel;
    QLabel* m_countsLabel;
    bool m_presentation = false;
    bool m_liveDemo = false;
};

} // namespace layertrace::gui
