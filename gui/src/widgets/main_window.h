// The main window: start screen, then the trace view — the layer diagram with its playback bar
// in the centre and the engineer views (events, call tree, timeline, details) as docks — plus
// presentation mode, the status bar's event counts and the clicker keys. The ways in: demos, a
// script, attaching to a process, opening a recording (menu, command line, drag and drop); every
// live session is recorded to a private temporary file that File > Save trace as… keeps.
#pragma once

#include "core/catalog_model.h"
#include "core/ingest.h"
#include "core/live_source.h"
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
#include <QTemporaryDir>

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
    // Opens a .ltr recording and replays it into the views. A file that cannot be opened fails
    // here (error line and the tracer's exit code: 7 not a recording, 8 unreadable) and the
    // window is unchanged; damage found later shows as the document's sourceError().
    StartOutcome openRecording(const QString& path);
    // Attaches to the running Python process `pid`; blocks until the probe is in or the attach
    // failed (AttachError's message and exit code 10..16, as `layertrace attach`).
    StartOutcome startAttach(std::uint32_t pid, bool anchored = false);
    // Watches the session a `layertrace serve` at `server` ("HOST:PORT") streams, presenting
    // `token`. A bad HOST:PORT fails here (exit 2); a refusal (9) or an unreachable server (6)
    // arrives later, as the document's sourceError() and RemoteSource::outcome().
    StartOutcome connectToServer(const QString& server, const std::string& token);
    // Saves the current trace as a recording file: the live session's recording (complete once
    // the session ended, else a snapshot up to now) or a copy of the opened recording. Returns
    // the error line, empty on success.
    QString saveTraceAs(const QString& path);
    // A live trace with events whose complete recording was not saved yet.
    bool hasUnsavedTrace() const;
    // --output FILE: the live session's recording is saved there when it ends (or the window closes).
    void setAutoSavePath(const QString& path) { m_autoSavePath = path; }
    // Ends a live session (a launched program is terminated, an attached one detached) and
    // completes the pending --output save. Called on close and by main before it returns.
    QString finishSession();
    // Stops tracing now without waiting (File > Stop tracing / Detach).
    void stopTracing();
    LiveSource* liveSource() const;
    QLabel* errorBanner() const { return m_banner; }
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
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildMenus();
    void buildShortcuts();
    LiveSource* startLive(tracer::RunOptions options, const QString& title, std::uint32_t attachPid = 0);
    // The interactive ways in: each first offers to save an unsaved live trace.
    bool confirmDiscardLiveTrace();
    void openRecordingDialog();
    void openRecordingInteractive(const QString& path);
    void attachDialog();
    void connectDialog();
    bool saveTraceDialog();
    void showErrorMessage(const QString& title, const QString& text);
    void updateActions();
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
    QLabel* m_banner;
    QAction* m_saveAction = nullptr;
    QAction* m_stopAction = nullptr;
    bool m_presentation = false;
    bool m_landOnDeepest = false; // a finished demo or an opened recording lands on its deepest point
    std::unique_ptr<QTemporaryDir> m_recordingDir; // the live session's recording, private to this user
    QString m_openedRecording;                     // the file shown, when it is a recording
    bool m_savedComplete = false;                  // the finished live trace was saved
    QString m_autoSavePath;
};

} // namespace layertrace::gui
