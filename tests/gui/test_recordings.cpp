// Recordings in the GUI: every fixture in tests/data opens with exactly the events the tracer's
// RecordingReader replays and shows its demo's catalog routes; playback (step, autoplay,
// breakpoints) works on it; a truncated copy shows the events before the damage plus one error
// naming file and offset; a dropped file opens; and a live session saved while running and after
// it ended reopens with the same events.
#include "gui_test_support.h"
#include "tracer_routes.h"

#include "core/bands.h"
#include "widgets/main_window.h"

#include <layertrace/errors.h>
#include <layertrace/recording.h>

#include <QDir>
#include <QDropEvent>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMimeData>
#include <QTemporaryDir>
#include <QUrl>

#include <gtest/gtest.h>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

namespace {

const QString kDataDir = QStringLiteral(LAYERTRACE_TEST_DATA);

// What the tracer itself reads from a recording: each event's identity, and the damage if any.
struct Replayed : tracer::EventSink {
    std::vector<std::tuple<EventKind, std::uint32_t, std::string, std::string>> events;
    bool damaged = false;
    std::uint64_t damageOffset = 0;
    void onEvent(const TraceEvent& e) override { events.emplace_back(e.kind, e.tid, e.module, e.symbol); }
};

Replayed replayWithTheTracer(const QString& path) {
    Replayed r;
    tracer::RecordingReader reader(path.toStdString());
    try {
        reader.replay(r);
    } catch (const tracer::RecordingError& e) {
        r.damaged = true;
        r.damageOffset = e.offset();
    }
    return r;
}

bool waitForIngest(MainWindow& w, int timeoutMs = 60000) {
    return waitFor([&] { return w.ingest() && w.ingest()->finished(); }, timeoutMs);
}

// The events the document holds, in order, against what the tracer replayed.
void expectSameEvents(const TraceDocument& doc, const Replayed& r, const std::string& what) {
    ASSERT_EQ(doc.totalEvents(), r.events.size()) << what;
    ASSERT_EQ(doc.store().firstIndex(), 0u) << what << ": nothing may be evicted under the default budget";
    for (std::uint64_t i = 0; i < doc.totalEvents(); ++i) {
        const TraceEvent& e = doc.store().at(i);
        ASSERT_EQ(std::make_tuple(e.kind, e.tid, e.module, e.symbol), r.events[i]) << what << ": event " << i;
    }
}

QStringList fixtureFiles() {
    return QDir(kDataDir).entryList({QStringLiteral("*.ltr")}, QDir::Files, QDir::Name);
}

// fixtures.json: which demo each fixture recorded, with which command line.
QJsonObject fixtureEntry(const QString& file) {
    QFile f(kDataDir + QStringLiteral("/fixtures.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object()[QStringLiteral("fixtures")].toObject()[file].toObject();
}


tracer::Catalog catalog() { return tracer::Catalog::load(tracer::Catalog::defaultDemosDir() + "/catalog.json"); }

} // namespace

TEST(Recordings, EveryFixtureOpensWithExactlyTheRecordedEventsAndItsRoutes) {
    const QStringList files = fixtureFiles();
    ASSERT_GE(files.size(), 7) << "fixtures missing in " << kDataDir.toStdString();
    const tracer::Catalog cat = catalog();
    for (const QString& file : files) {
        const QString path = kDataDir + QLatin1Char('/') + file;
        const Replayed expected = replayWithTheTracer(path);
        ASSERT_FALSE(expected.damaged) << file.toStdString();
        MainWindow w;
        const StartOutcome opened = w.openRecording(path);
        ASSERT_TRUE(opened.ok) << opened.error.toStdString();
        ASSERT_TRUE(waitForIngest(w)) << file.toStdString() << ": " << w.document().sourceState().toStdString();
        expectSameEvents(w.document(), expected, file.toStdString());
        EXPECT_EQ(w.document().eventList()->rowCount(), int(expected.events.size())) << file.toStdString();
        // The call tree and the timeline have one root / track per recorded thread.
        const int threads = fixtureEntry(file)[QStringLiteral("threads")].toInt();
        ASSERT_GT(threads, 0) << file.toStdString();
        EXPECT_EQ(w.document().callTree()->rowCount(), threads) << file.toStdString();
        EXPECT_EQ(int(w.document().timeline().tracks().size()), threads) << file.toStdString();
        EXPECT_EQ(w.document().droppedByGui(), 0u) << file.toStdString();
        EXPECT_TRUE(w.document().sourceError().isEmpty()) << w.document().sourceError().toStdString();
        EXPECT_TRUE(w.errorBanner()->isHidden());
        EXPECT_TRUE(w.document().sourceState().startsWith(QStringLiteral("complete")))
            << w.document().sourceState().toStdString();
        // The recording's origin is in the title and the details pane.
        EXPECT_TRUE(w.windowTitle().contains(file)) << w.windowTitle().toStdString();
        const QJsonObject fixture = fixtureEntry(file);
        const QString script = fixture[QStringLiteral("argv")].toArray().first().toString();
        ASSERT_FALSE(script.isEmpty()) << file.toStdString() << " has no argv in fixtures.json";
        EXPECT_TRUE(w.windowTitle().contains(script)) << w.windowTitle().toStdString();
        EXPECT_TRUE(w.document().sourceDetails().contains(QStringLiteral("recorded"))) << file.toStdString();

        // Every catalog route the tracer's own path builder finds in the file, the diagram shows.
        const std::string demoName = fixture[QStringLiteral("demo")].toString().toStdString();
        const tracer::Demo* demo = cat.find(demoName);
        ASSERT_NE(demo, nullptr) << file.toStdString() << ": no catalog demo " << demoName;
        const std::vector<std::string> notShown = routesNotShown(w.document(), *demo);
        for (const auto& name : catalogPathsInRecording(path.toStdString(), *demo)) {
            for (const char* view : {" (detailed)", " (three-layer)"})
                if (std::find(notShown.begin(), notShown.end(), name + view) != notShown.end())
                    ADD_FAILURE() << file.toStdString() << ": route " << name << view
                                  << " is in the recording (layertrace replay --format path) but not shown";
        }
    }
}

TEST(Recordings, PartFourRecordingShowsTheTransformRoute) {
    MainWindow w;
    ASSERT_TRUE(w.openRecording(kDataDir + QStringLiteral("/ctypes_complex_struct.ltr")).ok);
    ASSERT_TRUE(waitForIngest(w));
    const tracer::Catalog cat = catalog();
    const tracer::Demo* demo = cat.find("ctypes_complex_struct");
    ASSERT_NE(demo, nullptr);
    ASSERT_FALSE(demo->paths.empty());
    EXPECT_EQ(catalogPathsInRecording(kDataDir.toStdString() + "/ctypes_complex_struct.ltr", *demo).size(),
              demo->paths.size());
    EXPECT_TRUE(routesNotShown(w.document(), *demo).empty());
    // Like a finished demo, an opened recording lands on its deepest point: Layer 3 in view.
    Playback* pb = w.document().playback();
    EXPECT_EQ(pb->mode(), Playback::Mode::Paused);
    EXPECT_EQ(pb->cursor(), pb->deepestPosition());
}

TEST(Recordings, PlaybackStepsAutoplaysAndBreaksOnARecording) {
    MainWindow w;
    ASSERT_TRUE(w.openRecording(kDataDir + QStringLiteral("/ctypes_complex_struct.ltr")).ok);
    ASSERT_TRUE(waitForIngest(w));
    Playback* pb = w.document().playback();
    const EventStore& store = w.document().store();

    pb->pause();
    pb->toStart();
    EXPECT_EQ(pb->cursor(), -1);
    ASSERT_TRUE(pb->stepEventForward());
    ASSERT_TRUE(pb->stepEventForward());
    EXPECT_EQ(pb->cursor(), 1);
    ASSERT_TRUE(pb->stepEventBack());
    EXPECT_EQ(pb->cursor(), 0);
    EXPECT_EQ(w.document().selected(), 0);

    // Autoplay stops where the call first enters libffi (started a little before it: autoplay
    // selects every step it shows, and a whole recording of steps takes minutes offscreen).
    std::int64_t firstFfi = -1;
    for (std::uint64_t i = 0; i < store.endIndex() && firstFfi < 0; ++i)
        if (store.at(i).role == Role::Ffi && isEnter(store.at(i).kind))
            firstFfi = std::int64_t(i);
    ASSERT_GT(firstFfi, 200);
    pb->setBreakOnEnter(BandLibffi, true);
    int hits = 0;
    QObject::connect(pb, &Playback::breakpointHit, [&](int band, std::int64_t) {
        ++hits;
        EXPECT_EQ(band, int(BandLibffi));
    });
    pb->seek(firstFfi - 200);
    pb->play();
    ASSERT_EQ(pb->mode(), Playback::Mode::Autoplay);
    while (pb->autoplayStep()) {
    }
    ASSERT_EQ(hits, 1);
    EXPECT_EQ(pb->mode(), Playback::Mode::Paused);
    const std::int64_t stop = pb->cursor();
    EXPECT_EQ(stop, firstFfi);
    // Stepping by hop moves to where the route changes, and back again.
    const DiagramState& diagram = w.document().diagram();
    auto routeState = [&] { return std::make_pair(diagram.topBox(ViewMode::Detailed), diagram.route(ViewMode::Detailed).size()); };
    const auto atStop = routeState();
    pb->setStepByHop(true);
    ASSERT_TRUE(pb->stepForward());
    const std::int64_t afterHop = pb->cursor();
    EXPECT_GT(afterHop, stop);
    EXPECT_NE(routeState(), atStop);
    const auto afterHopState = routeState();
    ASSERT_TRUE(pb->stepBack());
    EXPECT_LT(pb->cursor(), afterHop);
    EXPECT_GE(pb->cursor(), stop);
    EXPECT_NE(routeState(), afterHopState);
}

TEST(Recordings, TruncatedRecordingShowsTheEventsBeforeTheDamageAndOneErrorWithTheOffset) {
    QTemporaryDir dir;
    ASSERT_TRUE(dir.isValid());
    const QString truncated = dir.filePath(QStringLiteral("truncated.ltr"));
    {
        QFile in(kDataDir + QStringLiteral("/c_ext_ctypes_add.ltr"));
        ASSERT_TRUE(in.open(QIODevice::ReadOnly));
        const QByteArray all = in.readAll();
        QFile out(truncated);
        ASSERT_TRUE(out.open(QIODevice::WriteOnly));
        out.write(all.left(all.size() * 2 / 5)); // cuts a block in the middle
    }
    const Replayed expected = replayWithTheTracer(truncated);
    ASSERT_TRUE(expected.damaged);
    ASSERT_GT(expected.events.size(), 1000u);

    MainWindow w;
    w.show();
    ASSERT_TRUE(w.openRecording(truncated).ok);
    ASSERT_TRUE(waitForIngest(w));
    expectSameEvents(w.document(), expected, "truncated");
    const QString error = w.document().sourceError();
    EXPECT_TRUE(error.contains(truncated)) << error.toStdString();
    EXPECT_TRUE(error.contains(QStringLiteral("offset %1").arg(expected.damageOffset))) << error.toStdString();
    EXPECT_FALSE(error.contains(QLatin1Char('\n')));
    EXPECT_TRUE(w.errorBanner()->isVisible());
    EXPECT_EQ(w.errorBanner()->text(), error);
    EXPECT_TRUE(w.document().sourceState().contains(QStringLiteral("damaged")));
}

TEST(Recordings, AFileThatIsNoRecordingFailsWithTheTracersCodeAndLeavesTheWindowAlone) {
    MainWindow w;
    const QString notRecording = kDataDir + QStringLiteral("/fixtures.json");
    const StartOutcome outcome = w.openRecording(notRecording);
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.exitCode, int(tracer::ExitCode::BadInput));
    EXPECT_TRUE(outcome.error.contains(notRecording)) << outcome.error.toStdString();
    EXPECT_EQ(w.ingest(), nullptr);
    const StartOutcome missing = w.openRecording(kDataDir + QStringLiteral("/no_such_file.ltr"));
    EXPECT_EQ(missing.exitCode, int(tracer::ExitCode::Io));
}

TEST(Recordings, DroppingARecordingOnTheWindowOpensIt) {
    MainWindow w;
    w.show();
    QMimeData mime;
    const QString path = kDataDir + QStringLiteral("/c_ext_config_basic.ltr");
    mime.setUrls({QUrl::fromLocalFile(path)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&w, &enter);
    EXPECT_TRUE(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&w, &drop);
    ASSERT_TRUE(waitForIngest(w));
    expectSameEvents(w.document(), replayWithTheTracer(path), "dropped");
}

TEST(Recordings, ALiveSessionSavedWhileRunningAndAfterwardsReopensWithTheSameEvents) {
    std::string why;
    if (!liveTracingAvailable(&why))
        GTEST_SKIP() << "live tracing unavailable: " << why;
    const QString demoDir = QString::fromStdString(tracer::Catalog::defaultDemosDir()) + QStringLiteral("/ctypes_complex_struct");
    QTemporaryDir dir;
    ASSERT_TRUE(dir.isValid());

    MainWindow live;
    ASSERT_TRUE(live.startRun({QString::fromStdString(tracer::defaultPython()), QStringLiteral("user.py"),
                               QStringLiteral("--forever")},
                              demoDir, QStringLiteral("user.py --forever"))
                    .isEmpty());
    ASSERT_TRUE(waitFor([&] { return live.document().totalEvents() > 5000; }, 60000))
        << live.document().sourceState().toStdString();
    EXPECT_TRUE(live.hasUnsavedTrace());

    // While it runs: a snapshot of everything recorded so far, readable without damage.
    const QString snapshot = dir.filePath(QStringLiteral("snapshot.ltr"));
    ASSERT_EQ(live.saveTraceAs(snapshot), QString());
    const Replayed snap = replayWithTheTracer(snapshot);
    EXPECT_FALSE(snap.damaged);
    EXPECT_GT(snap.events.size(), 0u);
    EXPECT_TRUE(live.hasUnsavedTrace()) << "a snapshot does not hold the rest of the session";
    {
        MainWindow reopened;
        ASSERT_TRUE(reopened.openRecording(snapshot).ok);
        ASSERT_TRUE(waitForIngest(reopened));
        expectSameEvents(reopened.document(), snap, "snapshot");
        // The snapshot is a prefix of the live trace.
        const EventStore& held = live.document().store();
        for (std::uint64_t i = held.firstIndex(); i < snap.events.size() && i < held.endIndex(); i += 997)
            ASSERT_EQ(held.at(i).symbol, std::get<3>(snap.events[i])) << i;
    }

    // Stop (SIGTERM: the demo finishes its iteration and exits 0), then save the whole session.
    live.stopTracing();
    ASSERT_TRUE(waitForIngest(live, 180000)); // the queued events drain first (a fast loop, maybe a loaded machine)
    ASSERT_NE(live.liveSource(), nullptr);
    const QString whole = dir.filePath(QStringLiteral("whole.ltr"));
    ASSERT_EQ(live.saveTraceAs(whole), QString());
    EXPECT_FALSE(live.hasUnsavedTrace());
    const Replayed all = replayWithTheTracer(whole);
    EXPECT_FALSE(all.damaged);
    EXPECT_EQ(all.events.size(), live.liveSource()->result().events);
    EXPECT_EQ(live.document().totalEvents() + live.document().droppedByGui(), all.events.size());
    MainWindow reopened;
    ASSERT_TRUE(reopened.openRecording(whole).ok);
    ASSERT_TRUE(waitForIngest(reopened));
    EXPECT_EQ(reopened.document().totalEvents(), all.events.size());
    EXPECT_EQ(reopened.document().totalEvents(), live.document().totalEvents());
}

TEST(Recordings, TheScriptedExampleHasNothingToSave) {
    MainWindow w;
    w.startExample();
    EXPECT_FALSE(w.hasUnsavedTrace());
    QTemporaryDir dir;
    EXPECT_FALSE(w.saveTraceAs(dir.filePath(QStringLiteral("x.ltr"))).isEmpty());
    EXPECT_FALSE(QFile::exists(dir.filePath(QStringLiteral("x.ltr"))));
}
