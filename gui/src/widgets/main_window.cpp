// MainWindow: assembles the views, starts sources, presentation mode and keys.
#include "widgets/main_window.h"

#include "core/live_source.h"
#include "core/scripted_trace.h"

#include <layertrace/errors.h>

#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QShortcut>
#include <QStatusBar>
#include <QVBoxLayout>

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
        const QString err = startDemo(name);
        m_start->setCatalogError(err);
    });
    connect(m_start, &StartScreen::traceScriptRequested, this, &MainWindow::traceScriptDialog);
    connect(m_start, &StartScreen::exampleRequested, this, &MainWindow::startExample);
    connect(m_diagram, &DiagramWidget::boxClicked, this, [this](int box) {
        // Clicking a box filters the event list to its module.
        const DiagramBox& b = m_document->diagram().registry(m_diagram->mode()).box(box);
        EventFilter f;
        f.module = QString::fromStdString(b.module);
        m_document->eventList()->setFilter(f);
    });
    buildShortcuts();
    updateStatus();
}

MainWindow::~MainWindow() {
    if (m_ingest)
        m_ingest->stop();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_ingest)
        m_ingest->stop();
    event->accept();
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
    m_liveDemo = true;
    setWindowTitle(QStringLiteral("layertrace — Part %1: %2").arg(QString::fromStdString(demo->part), QString::fromStdString(demo->title)));
    startSource(std::make_unique<LiveSource>(
        std::move(options), QStringLiteral("live: demo %1 (Part %2)").arg(name, QString::fromStdString(demo->part))));
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
    m_liveDemo = false;
    setWindowTitle(QStringLiteral("layertrace — %1").arg(title));
    startSource(std::make_unique<LiveSource>(std::move(options), QStringLiteral("live: %1").arg(title)));
    return {};
}

void MainWindow::startExample() {
    m_liveDemo = true; // behaves like a demo: lands on the deepest point when complete
    setWindowTitle(QStringLiteral("layertrace — scripted example (not a live trace)"));
    startSource(std::make_unique<MemorySource>(scriptedPartFourTrace(),
                                               QStringLiteral("scripted example: Part IV transform() (not a live trace)")));
}

void MainWindow::onIngestFinished() {
    // A finished demo lands on its most telling moment — the deepest point of the route — so
    // the learner sees the whole stack at once and steps from there (or presses Home and Play).
    if (m_liveDemo && m_document->playback()->mode() == Playback::Mode::Follow) {
        const std::int64_t deepest = m_document->playback()->deepestPosition();
        if (deepest >= 0) {
            m_document->playback()->pause();
            m_document->playback()->seek(deepest);
        }
    }
    updateStatus();
    emit ingestFinished();
}

void MainWindow::traceScriptDialog() {
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
    // Lost events are always on screen: dropped by the probe, by the GUI queue, evicted by budget.
    m_countsLabel->setText(QStringLiteral("%1 events · dropped %2 (probe) + %3 (GUI) · evicted %4 (budget %5)")
                               .arg(d.totalEvents())
                               .arg(d.droppedByProbe())
                               .arg(d.droppedByGui())
                               .arg(d.evicted())
                               .arg(d.store().budget()));
}

} // namespace layertrace::gui
