// MainWindow: assembles the views, starts sources, presentation mode and keys.
#include "widgets/main_window.h"

#include "core/recording_source.h"
#include "core/remote_source.h"
#include "core/save_recording.h"
#include "core/scripted_trace.h"
#include "widgets/attach_dialog.h"

#include <layertrace/attach.h>
#include <layertrace/errors.h>

#include <QApplication>
#include <QDialogButtonBox>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QShortcut>
#include <QStatusBar>
#include <QVBoxLayout>

#include <climits>
#include <cstdio>
#include <unistd.h>

namespace layertrace::gui {

MainWindow::MainWindow(std::size_t eventBudget, QWidget* parent)
    : QMainWindow(parent),
      m_document(std::make_unique<TraceDocument>(eventBudget ? eventBudget : EventStore::kDefaultBudget)) {
    setWindowTitle(QStringLiteral("layertrace"));
    m_stack = new QStackedWidget;
    setCentralWidget(m_stack);

    m_start = new StartScreen(m_catalog);
    m_stack->addWidget(m_start);

    m_traceView = new QWidget;
    auto* tv = new QVBoxLayout(m_traceView);
    tv->setContentsMargins(0, 0, 0, 0);
    tv->setSpacing(0);
    // The one message of a damaged recording or a failed attach, above the trace it concerns.
    m_banner = new QLabel;
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->setStyleSheet(QStringLiteral("background:#FDECEA;color:#8A1C12;padding:6px 10px;border-bottom:1px solid #E0B4AE"));
    m_banner->hide();
    tv->addWidget(m_banner);
    m_diagram = new DiagramWidget(*m_document, m_palette);
    m_bar = new PlaybackBar(*m_document);
    tv->addWidget(m_diagram, 1);
    tv->addWidget(m_bar);
    m_stack->addWidget(m_traceView);

    m_events = new EventListView(*m_document);
    m_tree = new CallTreeView(*m_document);
    m_timeline = new TimelineWidget(*m_document, m_palette);
    m_details = new DetailsPane(*m_document);
    auto dock = [this](const QString& title, QWidget* w, Qt::DockWidgetArea area) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(title);
        d->setWidget(w);
        d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable | QDockWidget::DockWidgetClosable);
        addDockWidget(area, d);
        m_docks << d;
        return d;
    };
    QDockWidget* events = dock(QStringLiteral("Events"), m_events, Qt::BottomDockWidgetArea);
    QDockWidget* tree = dock(QStringLiteral("Call tree"), m_tree, Qt::BottomDockWidgetArea);
    QDockWidget* timeline = dock(QStringLiteral("Timeline"), m_timeline, Qt::BottomDockWidgetArea);
    dock(QStringLiteral("Details"), m_details, Qt::RightDockWidgetArea);
    tabifyDockWidget(events, tree);
    tabifyDockWidget(tree, timeline);
    events->raise();
    resizeDocks({events}, {260}, Qt::Vertical);
    for (auto* d : m_docks)
        d->hide();

    m_sourceLabel = new QLabel;
    m_countsLabel = new QLabel;
    statusBar()->addWidget(m_sourceLabel, 1);
    statusBar()->addPermanentWidget(m_countsLabel);
    connect(m_document.get(), &TraceDocument::statusChanged, this, &MainWindow::updateStatus);

    connect(m_bar, &PlaybackBar::viewModeRequested, this, &MainWindow::setViewMode);
    connect(m_bar, &PlaybackBar::scaleRequested, this, &MainWindow::setScalePercent);
    connect(m_bar, &PlaybackBar::highContrastRequested, this, &MainWindow::setHighContrast);
    connect(m_start, &StartScreen::runDemoRequested, this, [this](const QString& name) {
        if (!confirmDiscardLiveTrace())
            return;
        const QString err = startDemo(name);
        m_start->setCatalogError(err);
    });
    connect(m_start, &StartScreen::traceScriptRequested, this, &MainWindow::traceScriptDialog);
    connect(m_start, &StartScreen::attachRequested, this, &MainWindow::attachDialog);
    connect(m_start, &StartScreen::connectRequested, this, &MainWindow::connectDialog);
    connect(m_start, &StartScreen::openRecordingRequested, this, &MainWindow::openRecordingDialog);
    connect(m_start, &StartScreen::exampleRequested, this, [this] {
        if (confirmDiscardLiveTrace())
            startExample();
    });
    connect(m_diagram, &DiagramWidget::boxClicked, this, [this](int box) {
        // Clicking a box filters the event list to its module.
        const DiagramBox& b = m_document->diagram().registry(m_diagram->mode()).box(box);
        EventFilter f;
        f.module = QString::fromStdString(b.module);
        m_document->eventList()->setFilter(f);
    });
    setAcceptDrops(true);
    buildMenus();
    buildShortcuts();
    updateStatus();
}

MainWindow::~MainWindow() {
    if (m_ingest)
        m_ingest->stop();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_autoSavePath.isEmpty() && !confirmDiscardLiveTrace()) {
        event->ignore();
        return;
    }
    const QString err = finishSession();
    if (!err.isEmpty())
        std::fprintf(stderr, "layertrace-gui: %s\n", qPrintable(err));
    event->accept();
}

QString MainWindow::finishSession() {
    if (m_ingest)
        m_ingest->stop();
    if (m_autoSavePath.isEmpty() || !liveSource() || m_savedComplete)
        return {};
    return saveTraceAs(m_autoSavePath);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.size() == 1 && urls.front().isLocalFile())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.size() != 1 || !urls.front().isLocalFile())
        return;
    event->acceptProposedAction();
    const QString path = urls.front().toLocalFile();
    // Handled after the drop returns: the drag source must not wait on a dialog.
    QMetaObject::invokeMethod(this, [this, path] { openRecordingInteractive(path); }, Qt::QueuedConnection);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(QStringLiteral("&File"));
    auto add = [this, file](const QString& text, const QKeySequence& key, auto fn) {
        QAction* a = file->addAction(text);
        a->setShortcut(key);
        a->setShortcutContext(Qt::WindowShortcut);
        addAction(a); // keeps the shortcut alive while presentation mode hides the menu bar
        connect(a, &QAction::triggered, this, fn);
        return a;
    };
    add(QStringLiteral("&Open recording…"), QKeySequence::Open, [this] { openRecordingDialog(); });
    m_saveAction = add(QStringLiteral("&Save trace as…"), QKeySequence(Qt::CTRL | Qt::Key_S), [this] { saveTraceDialog(); });
    file->addSeparator();
    add(QStringLiteral("Trace a &script…"), QKeySequence(), [this] { traceScriptDialog(); });
    add(QStringLiteral("&Attach to a process…"), QKeySequence(), [this] { attachDialog(); });
    add(QStringLiteral("&Connect to a server…"), QKeySequence(), [this] { connectDialog(); });
    m_stopAction = add(QStringLiteral("S&top tracing"), QKeySequence(), [this] { stopTracing(); });
    add(QStringLiteral("Start scree&n"), QKeySequence(), [this] { showStart(); });
    file->addSeparator();
    add(QStringLiteral("&Quit"), QKeySequence::Quit, [this] { close(); });
    updateActions();
}

void MainWindow::updateActions() {
    if (!m_saveAction)
        return;
    LiveSource* live = liveSource();
    m_saveAction->setEnabled((live && !live->recordingPath().empty()) || !m_openedRecording.isEmpty());
    const bool running = live && m_ingest && !m_ingest->finished();
    m_stopAction->setEnabled(running);
    m_stopAction->setText(live && live->attaching() ? QStringLiteral("De&tach (the process goes on)")
                                                    : QStringLiteral("S&top tracing"));
}

LiveSource* MainWindow::liveSource() const {
    return m_ingest ? dynamic_cast<LiveSource*>(&m_ingest->source()) : nullptr;
}

void MainWindow::stopTracing() {
    if (liveSource() && m_ingest && !m_ingest->finished())
        m_ingest->requestStop();
}

void MainWindow::showErrorMessage(const QString& title, const QString& text) {
    // Window-modal but not blocking: the trace keeps updating behind it.
    auto* box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setTextInteractionFlags(Qt::TextSelectableByMouse);
    box->open();
}

bool MainWindow::hasUnsavedTrace() const {
    const LiveSource* live = liveSource();
    return live && !live->recordingPath().empty() && m_document->totalEvents() > 0 && !m_savedComplete;
}

bool MainWindow::confirmDiscardLiveTrace() {
    if (!hasUnsavedTrace())
        return true;
    const auto answer = QMessageBox::question(
        this, QStringLiteral("Unsaved live trace"),
        QStringLiteral("The live trace (%1, %2 events) is not saved. Save it as a recording first?")
            .arg(m_document->sourceTitle())
            .arg(m_document->totalEvents()),
        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
    if (answer == QMessageBox::Cancel)
        return false;
    if (answer == QMessageBox::Discard)
        return true;
    if (m_ingest)
        m_ingest->stop(); // the session ends first, so the saved recording is complete
    return saveTraceDialog();
}

bool MainWindow::saveTraceDialog() {
    QString suggested = m_openedRecording.isEmpty() ? QDir::current().filePath(QStringLiteral("trace.ltr"))
                                                    : m_openedRecording;
    const QString path = QFileDialog::getSaveFileName(this, QStringLiteral("Save trace as"), suggested,
                                                      QStringLiteral("layertrace recordings (*.ltr);;All files (*)"));
    if (path.isEmpty())
        return false;
    const QString err = saveTraceAs(path);
    if (!err.isEmpty()) {
        showErrorMessage(QStringLiteral("Cannot save the trace"), err);
        return false;
    }
    return true;
}

QString MainWindow::saveTraceAs(const QString& path) {
    LiveSource* live = liveSource();
    std::string source;
    bool complete = true;
    if (live && !live->recordingPath().empty()) {
        source = live->recordingPath();
        complete = live->recordingComplete();
        if (!complete)
            live->flushRecording();
    } else if (!m_openedRecording.isEmpty()) {
        source = m_openedRecording.toStdString();
        if (QFileInfo(m_openedRecording).canonicalFilePath() == QFileInfo(path).canonicalFilePath())
            return {}; // already that file
    } else {
        return QStringLiteral("nothing to save: only live traces and opened recordings can be saved "
                              "(the scripted example is not a trace)");
    }
    try {
        const SavedRecording saved = saveRecording(source, path.toStdString(), complete);
        if (live && complete)
            m_savedComplete = true;
        statusBar()->showMessage(saved.snapshot ? QStringLiteral("saved %1 events so far to %2 (the session goes on; "
                                                                 "save again when it ends for the rest)")
                                                      .arg(saved.events)
                                                      .arg(path)
                                                : QStringLiteral("saved to %1").arg(path),
                                 10000);
        return {};
    } catch (const tracer::Error& e) {
        return QString::fromStdString(e.what());
    }
}

void MainWindow::openRecordingDialog() {
    const QString file = QFileDialog::getOpenFileName(this, QStringLiteral("Open a recording"), QString(),
                                                      QStringLiteral("layertrace recordings (*.ltr);;All files (*)"));
    if (!file.isEmpty())
        openRecordingInteractive(file);
}

void MainWindow::openRecordingInteractive(const QString& path) {
    if (!confirmDiscardLiveTrace())
        return;
    const StartOutcome outcome = openRecording(path);
    if (!outcome.ok)
        showErrorMessage(QStringLiteral("Cannot open the recording"), outcome.error);
}

StartOutcome MainWindow::openRecording(const QString& path) {
    std::unique_ptr<tracer::RecordingReader> reader;
    tracer::RecordingInfo info;
    try {
        reader = std::make_unique<tracer::RecordingReader>(path.toStdString());
        info = reader->info();
    } catch (const tracer::Error& e) {
        return {false, e.exitCode(), QString::fromStdString(e.what())};
    }
    m_landOnDeepest = true;
    const QString summary = recordingSummary(info);
    setWindowTitle(QStringLiteral("layertrace — %1 — %2").arg(QFileInfo(path).fileName(), summary));
    startSource(std::make_unique<RecordingSource>(
        std::move(reader), QStringLiteral("recording: %1 (%2)").arg(QFileInfo(path).fileName(), summary)));
    m_recordingDir.reset();
    m_openedRecording = QFileInfo(path).absoluteFilePath();
    m_document->setSourceDetails(describeRecording(m_openedRecording, info));
    updateActions();
    return {true, 0, {}};
}

void MainWindow::attachDialog() {
    AttachDialog dialog(this);
    if (dialog.exec() != QDialog::Accepted || dialog.selectedPid() == 0)
        return;
    if (!confirmDiscardLiveTrace())
        return;
    const StartOutcome outcome = startAttach(dialog.selectedPid());
    if (!outcome.ok)
        showErrorMessage(QStringLiteral("Cannot attach"), outcome.error);
}

void MainWindow::connectDialog() {
    QDialog dialog(this);
    dialog.setWindowTitle(QStringLiteral("Connect to a server"));
    auto* form = new QFormLayout(&dialog);
    auto* server = new QLineEdit;
    server->setPlaceholderText(QStringLiteral("laptop.local:7450"));
    auto* token = new QLineEdit;
    token->setEchoMode(QLineEdit::Password);
    token->setPlaceholderText(QStringLiteral("empty: $LAYERTRACE_TOKEN"));
    form->addRow(QStringLiteral("Server (HOST:PORT of layertrace serve)"), server);
    form->addRow(QStringLiteral("Token"), token);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted || !confirmDiscardLiveTrace())
        return;
    StartOutcome outcome;
    try {
        // The same rules as `layertrace view`: a typed token, else $LAYERTRACE_TOKEN.
        const std::string typed = token->text().toStdString();
        outcome = connectToServer(server->text().trimmed(), typed.empty() ? tracer::loadToken({}, {}) : typed);
    } catch (const tracer::Error& e) {
        outcome = {false, e.exitCode(), QString::fromStdString(e.what())};
    }
    if (!outcome.ok)
        showErrorMessage(QStringLiteral("Cannot connect"), outcome.error);
}

StartOutcome MainWindow::connectToServer(const QString& server, const std::string& token) {
    tracer::HostPort where;
    try {
        where = tracer::parseHostPort(server.toStdString(), "127.0.0.1");
    } catch (const tracer::Error& e) {
        return {false, e.exitCode(), QString::fromStdString(e.what())};
    }
    m_landOnDeepest = false;
    setWindowTitle(QStringLiteral("layertrace — watching %1").arg(server));
    m_recordingDir.reset();
    startSource(std::make_unique<RemoteSource>(std::move(where), token, QStringLiteral("remote: %1").arg(server)));
    updateActions();
    return {true, 0, {}};
}

StartOutcome MainWindow::startAttach(std::uint32_t pid, bool anchored) {
    tracer::PythonProcess target;
    try {
        // Refusals (no such process, not Python, permission, stopped…) before the window changes.
        target = tracer::inspectAttachTarget(pid);
    } catch (const tracer::Error& e) {
        return {false, e.exitCode(), QString::fromStdString(e.what())};
    }
    tracer::RunOptions options;
    // The target's command line and directory describe the recording (the session reads them too).
    for (const QString& a : QString::fromStdString(target.commandLine).split(QLatin1Char(' '), Qt::SkipEmptyParts))
        options.argv.push_back(a.toStdString());
    char cwd[PATH_MAX];
    const ssize_t n = ::readlink(QStringLiteral("/proc/%1/cwd").arg(pid).toLocal8Bit().constData(), cwd, sizeof cwd - 1);
    if (n > 0)
        options.cwd.assign(cwd, std::size_t(n));
    options.mode = anchored ? tracer::TraceMode::Anchored : tracer::TraceMode::Full;
    const QString command = QString::fromStdString(target.commandLine);
    m_landOnDeepest = false;
    setWindowTitle(QStringLiteral("layertrace — attached to PID %1: %2").arg(pid).arg(command));
    LiveSource* source = startLive(std::move(options), QStringLiteral("attached: PID %1 (%2)").arg(pid).arg(command), pid);
    // Waits while the probe goes in (the target is paused for milliseconds; a refusal is quick).
    StartOutcome outcome = source->started().get();
    if (!outcome.ok)
        showStart();
    updateActions();
    return outcome;
}

LiveSource* MainWindow::startLive(tracer::RunOptions options, const QString& title, std::uint32_t attachPid) {
    // Record always: a private directory (0700) per session, removed with the next session or
    // when the window goes, unless File > Save trace as… kept a copy.
    if (m_ingest)
        m_ingest->stop(); // the previous session's recording is closed before its directory goes
    m_recordingDir = std::make_unique<QTemporaryDir>(QDir::temp().filePath(QStringLiteral("layertrace-gui-XXXXXX")));
    std::string recordingPath;
    QString recordingError;
    if (m_recordingDir->isValid())
        recordingPath = m_recordingDir->filePath(QStringLiteral("live.ltr")).toStdString();
    else
        recordingError = QStringLiteral("cannot record this session (File > Save trace as… is unavailable): %1")
                             .arg(m_recordingDir->errorString());
    std::unique_ptr<LiveSource> source;
    try {
        source = std::make_unique<LiveSource>(options, title, attachPid, recordingPath);
    } catch (const tracer::Error& e) {
        recordingError = QStringLiteral("cannot record this session (File > Save trace as… is unavailable): %1")
                             .arg(QString::fromStdString(e.what()));
        source = std::make_unique<LiveSource>(std::move(options), title, attachPid);
    }
    LiveSource* raw = source.get();
    m_openedRecording.clear();
    m_savedComplete = false;
    startSource(std::move(source));
    if (!recordingError.isEmpty())
        m_document->setSourceError(recordingError);
    updateActions();
    return raw;
}

QWidget* MainWindow::viewWidget(const QString& name) {
    if (name == QLatin1String("diagram"))
        return m_diagram;
    if (name == QLatin1String("events"))
        return m_events;
    if (name == QLatin1String("tree"))
        return m_tree;
    if (name == QLatin1String("timeline"))
        return m_timeline;
    if (name == QLatin1String("details"))
        return m_details;
    if (name == QLatin1String("start"))
        return m_start;
    return this;
}

QString MainWindow::loadCatalog() {
    const std::string dir = tracer::Catalog::defaultDemosDir();
    try {
        m_catalog.setCatalog(tracer::Catalog::load(dir + "/catalog.json"));
        m_start->setCatalogError(QString());
        return {};
    } catch (const tracer::Error& e) {
        const QString err = QStringLiteral("demo catalog: %1 (build the demos, or set LAYERTRACE_DEMOS_DIR)")
                                .arg(QString::fromStdString(e.what()));
        m_start->setCatalogError(err);
        return err;
    }
}

void MainWindow::showStart() { m_stack->setCurrentWidget(m_start); }

void MainWindow::showTrace() {
    m_stack->setCurrentWidget(m_traceView);
    if (!m_presentation)
        for (auto* d : m_docks)
            d->show();
    m_docks[0]->raise();
}

void MainWindow::startSource(std::unique_ptr<EventSource> source) {
    if (m_ingest)
        m_ingest->stop();
    m_ingest.reset();
    m_document->clear();
    m_document->setSourceState(QString());
    m_document->setSourceError(QString());
    m_document->setSourceDetails(QString());
    m_openedRecording.clear();
    m_document->playback()->follow();
    m_ingest = std::make_unique<IngestWorker>(std::move(source), *m_document);
    connect(m_ingest.get(), &IngestWorker::finishedIngest, this, &MainWindow::onIngestFinished);
    showTrace();
    m_ingest->start();
}

QString MainWindow::startDemo(const QString& name, bool anchored) {
    if (m_catalog.catalog().demos.empty()) {
        const QString err = loadCatalog();
        if (!err.isEmpty())
            return err;
    }
    const tracer::Demo* demo = m_catalog.catalog().find(name.toStdString());
    if (!demo) {
        QStringList names;
        for (const auto& d : m_catalog.catalog().demos)
            names << QString::fromStdString(d.name);
        return QStringLiteral("no demo named '%1' in %2/catalog.json (known: %3)")
            .arg(name, QString::fromStdString(m_catalog.catalog().demosDir), names.join(QStringLiteral(", ")));
    }
    tracer::RunOptions options = demoRunOptions(m_catalog.catalog(), *demo);
    if (anchored)
        options.mode = tracer::TraceMode::Anchored;
    m_landOnDeepest = true;
    setWindowTitle(QStringLiteral("layertrace — Part %1: %2").arg(QString::fromStdString(demo->part), QString::fromStdString(demo->title)));
    startLive(std::move(options), QStringLiteral("live: demo %1 (Part %2)").arg(name, QString::fromStdString(demo->part)));
    return {};
}

QString MainWindow::startRun(const QStringList& argv, const QString& cwd, const QString& title, bool anchored) {
    if (argv.isEmpty())
        return QStringLiteral("nothing to run");
    tracer::RunOptions options;
    for (const auto& a : argv)
        options.argv.push_back(a.toStdString());
    options.cwd = cwd.toStdString();
    options.mode = anchored ? tracer::TraceMode::Anchored : tracer::TraceMode::Full;
    m_landOnDeepest = false;
    setWindowTitle(QStringLiteral("layertrace — %1").arg(title));
    startLive(std::move(options), QStringLiteral("live: %1").arg(title));
    return {};
}

void MainWindow::startExample() {
    m_landOnDeepest = true; // behaves like a demo: lands on the deepest point when complete
    m_recordingDir.reset();
    setWindowTitle(QStringLiteral("layertrace — scripted example (not a live trace)"));
    startSource(std::make_unique<MemorySource>(scriptedPartFourTrace(),
                                               QStringLiteral("scripted example: Part IV transform() (not a live trace)")));
}

void MainWindow::onIngestFinished() {
    // A finished demo lands on its most telling moment — the deepest point of the route — so
    // the learner sees the whole stack at once and steps from there (or presses Home and Play).
    if (m_landOnDeepest && m_document->playback()->mode() == Playback::Mode::Follow) {
        const std::int64_t deepest = m_document->playback()->deepestPosition();
        if (deepest >= 0) {
            m_document->playback()->pause();
            m_document->playback()->seek(deepest);
        }
    }
    if (!m_autoSavePath.isEmpty() && liveSource()) {
        const QString err = saveTraceAs(m_autoSavePath);
        if (!err.isEmpty())
            m_document->setSourceError(err);
    }
    updateStatus();
    updateActions();
    emit ingestFinished();
}

void MainWindow::traceScriptDialog() {
    if (!confirmDiscardLiveTrace())
        return;
    const QString file = QFileDialog::getOpenFileName(this, QStringLiteral("Trace a Python script"), QString(),
                                                      QStringLiteral("Python scripts (*.py);;All files (*)"));
    if (file.isEmpty())
        return;
    const QFileInfo info(file);
    startRun({QString::fromStdString(tracer::defaultPython()), info.fileName()}, info.absolutePath(), info.fileName());
}

void MainWindow::setScalePercent(int percent) {
    m_palette.setScalePercent(percent);
    m_bar->setScalePercent(m_palette.scalePercent());
    m_bar->setFontScale(m_palette.scale());
    m_diagram->update();
    m_timeline->update();
}

void MainWindow::setHighContrast(bool on) {
    m_palette.setScheme(on ? Palette::Scheme::HighContrast : Palette::Scheme::Standard);
    m_bar->setHighContrast(on);
    m_diagram->update();
    m_timeline->update();
}

void MainWindow::setViewMode(ViewMode mode) {
    m_diagram->setMode(mode);
    m_bar->setViewMode(mode);
}

void MainWindow::setPresentation(bool on) {
    m_presentation = on;
    for (auto* d : m_docks)
        d->setVisible(!on && m_stack->currentWidget() == m_traceView);
    statusBar()->setVisible(!on);
    menuBar()->setVisible(!on);
    if (on && m_palette.scalePercent() < 150)
        setScalePercent(200);
    else if (!on)
        setScalePercent(100);
}

void MainWindow::buildShortcuts() {
    Playback* pb = m_document->playback();
    auto key = [this](const QKeySequence& seq, auto fn) {
        auto* s = new QShortcut(seq, this);
        connect(s, &QShortcut::activated, this, fn);
    };
    // Presentation clickers send PageDown/PageUp (and some Space / B).
    key(QKeySequence(Qt::Key_PageDown), [pb] { pb->stepForward(); });
    key(QKeySequence(Qt::Key_Space), [pb] { pb->stepForward(); });
    key(QKeySequence(Qt::Key_Right), [pb] { pb->stepForward(); });
    key(QKeySequence(Qt::Key_PageUp), [pb] { pb->stepBack(); });
    key(QKeySequence(Qt::Key_Left), [pb] { pb->stepBack(); });
    key(QKeySequence(Qt::Key_B), [this] { m_diagram->setBlanked(!m_diagram->blanked()); });
    key(QKeySequence(Qt::Key_P), [pb] { pb->togglePlay(); });
    key(QKeySequence(Qt::Key_Home), [pb] {
        pb->pause();
        pb->toStart();
    });
    key(QKeySequence(Qt::Key_End), [pb] { pb->follow(); });
    key(QKeySequence(Qt::Key_F11), [this] { isFullScreen() ? showNormal() : showFullScreen(); });
    key(QKeySequence(Qt::Key_F5), [this] { setPresentation(!m_presentation); });
    key(QKeySequence(Qt::CTRL | Qt::Key_Equal), [this] { setScalePercent(m_palette.scalePercent() + 25); });
    key(QKeySequence(Qt::CTRL | Qt::Key_Plus), [this] { setScalePercent(m_palette.scalePercent() + 25); });
    key(QKeySequence(Qt::CTRL | Qt::Key_Minus), [this] { setScalePercent(m_palette.scalePercent() - 25); });
    key(QKeySequence(Qt::Key_T), [this] {
        setViewMode(m_diagram->mode() == ViewMode::Detailed ? ViewMode::Summary : ViewMode::Detailed);
    });
}

void MainWindow::updateStatus() {
    const TraceDocument& d = *m_document;
    QString src = d.sourceTitle();
    if (!d.sourceState().isEmpty())
        src += QStringLiteral(" — ") + d.sourceState();
    m_sourceLabel->setText(src);
    m_banner->setText(d.sourceError());
    m_banner->setVisible(!d.sourceError().isEmpty());
    updateActions();
    // Lost events are always on screen: dropped by the probe, by the GUI queue, evicted by budget.
    m_countsLabel->setText(QStringLiteral("%1 events · dropped %2 (probe) + %3 (GUI) · evicted %4 (budget %5)")
                               .arg(d.totalEvents())
                               .arg(d.droppedByProbe())
                               .arg(d.droppedByGui())
                               .arg(d.evicted())
                               .arg(d.store().budget()));
}

} // namespace layertrace::gui
