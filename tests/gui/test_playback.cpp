// Playback: follow, pause while capture continues, stepping by event and by hop in both
// directions, autoplay pacing at layer boundaries, breakpoints on layer transitions, checkpoints.
#include "gui_test_support.h"

#include <gtest/gtest.h>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

namespace {
std::vector<int> routeBoxes(const DiagramState& s) {
    std::vector<int> out;
    for (const auto& hop : s.route(ViewMode::Detailed))
        out.push_back(hop.box);
    return out;
}
} // namespace

TEST(Playback, FollowTracksTheNewestEventAndPauseKeepsCapturing) {
    TraceDocument doc;
    Playback* pb = doc.playback();
    ASSERT_EQ(pb->mode(), Playback::Mode::Follow);
    auto events = scriptedPartFourTrace();
    std::vector<TraceEvent> first(events.begin(), events.begin() + 11);
    std::vector<TraceEvent> rest(events.begin() + 11, events.end());
    doc.appendBatch(std::move(first));
    EXPECT_EQ(pb->cursor(), 10);
    EXPECT_EQ(doc.diagram().route(ViewMode::Detailed).size(), 5u);
    pb->pause();
    doc.appendBatch(std::move(rest));
    EXPECT_EQ(doc.store().size(), 20u); // captured
    EXPECT_EQ(pb->cursor(), 10);         // but not followed
    ASSERT_TRUE(doc.diagram().next().has_value());
    EXPECT_EQ(doc.diagram().next()->function, "sd_filter_items");
    pb->follow();
    EXPECT_EQ(pb->cursor(), 19);
}

TEST(Playback, StepBackRestoresExactlyTheStateStepForwardReached) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Playback* pb = doc.playback();
    std::vector<std::vector<int>> forward;
    pb->toStart();
    while (!pb->atEnd()) {
        pb->stepEventForward();
        forward.push_back(routeBoxes(doc.diagram()));
    }
    for (std::int64_t i = 18; i >= 0; --i) {
        ASSERT_TRUE(pb->stepEventBack());
        EXPECT_EQ(pb->cursor(), i);
        EXPECT_EQ(routeBoxes(doc.diagram()), forward[std::size_t(i)]) << "at " << i;
    }
}

TEST(Playback, HopStepsMoveFromBoxToBox) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Playback* pb = doc.playback();
    pb->toStart();
    std::vector<std::int64_t> stops;
    while (pb->hopForward())
        stops.push_back(pb->cursor());
    // Module loads change nothing: the first hop stops at main; each later stop changes the route.
    ASSERT_FALSE(stops.empty());
    EXPECT_EQ(stops.front(), 2);
    EXPECT_EQ(stops.back(), 19);
    // Hop back from the deepest point returns to where ffi_call had just been entered.
    pb->seek(10); // transform_record entered
    pb->hopBack();
    EXPECT_EQ(pb->cursor(), 9);
    EXPECT_EQ(doc.diagram().route(ViewMode::Detailed).size(), 4u);
}

TEST(Playback, AutoplaySlowsDownAtLayerBoundaries) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Playback* pb = doc.playback();
    pb->setSpeed(4.0);
    pb->seek(5); // transform entered; next: to_ctypes in the same band
    EXPECT_FALSE(pb->nextStepCrossesLayer());
    EXPECT_EQ(pb->autoplayDelayMs(), 250);
    pb->seek(7); // next: PyCFuncPtr_call enters Layer 2
    EXPECT_TRUE(pb->nextStepCrossesLayer());
    EXPECT_EQ(pb->autoplayDelayMs(), int(250 * Playback::kBoundarySlowdown));
    pb->setSpeed(100);
    EXPECT_EQ(pb->speed(), Playback::kMaxSpeed);
    pb->setSpeed(0.01);
    EXPECT_EQ(pb->speed(), Playback::kMinSpeed);
}

TEST(Playback, AutoplayStepsThroughPathEventsAndStopsAtTheEnd) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Playback* pb = doc.playback();
    pb->toStart();
    pb->play();
    ASSERT_EQ(pb->mode(), Playback::Mode::Autoplay);
    int steps = 0;
    while (pb->autoplayStep())
        ++steps;
    EXPECT_EQ(pb->cursor(), 19);
    EXPECT_EQ(pb->mode(), Playback::Mode::Paused);
    EXPECT_EQ(steps, 17); // 18 path events, the last one ends autoplay
}

TEST(Playback, BreakpointStopsWhenTheCallEntersLayerThree) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Playback* pb = doc.playback();
    pb->setBreakOnEnter(BandLayer3, true);
    int hits = 0;
    int hitBand = -1;
    QObject::connect(pb, &Playback::breakpointHit, [&](int band, std::int64_t) {
        ++hits;
        hitBand = band;
    });
    pb->toStart();
    pb->play();
    while (pb->autoplayStep()) {
    }
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(hitBand, int(BandLayer3));
    EXPECT_EQ(pb->cursor(), 10); // transform_record entered
    EXPECT_EQ(pb->mode(), Playback::Mode::Paused);
    // The nested call stays in Layer 3: no second stop.
    pb->play();
    while (pb->autoplayStep()) {
    }
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(pb->cursor(), 19);
}

TEST(Playback, BreakpointPausesLiveFollowWhileCaptureContinues) {
    TraceDocument doc;
    Playback* pb = doc.playback();
    pb->setBreakOnEnter(BandLibffi, true);
    feedPartFour(doc);
    EXPECT_EQ(pb->mode(), Playback::Mode::Paused);
    EXPECT_EQ(pb->cursor(), 9); // ffi_call
    EXPECT_EQ(doc.store().size(), 20u);
}

TEST(Playback, SeekingAcrossCheckpointsMatchesAFreshReplay) {
    TraceDocument doc;
    doc.playback()->pause();
    doc.appendBatch(syntheticLoad(1'000, 3)); // 8,000 events: several checkpoints
    Playback* pb = doc.playback();
    pb->toEnd();
    pb->seek(5'003);
    const auto viaCheckpoint = routeBoxes(doc.diagram());
    const auto focus = doc.diagram().focusThread();
    TraceDocument fresh;
    fresh.playback()->pause();
    fresh.appendBatch(syntheticLoad(1'000, 3));
    for (int i = 0; i <= 5'003; ++i)
        fresh.playback()->stepEventForward();
    EXPECT_EQ(routeBoxes(fresh.diagram()), viaCheckpoint);
    EXPECT_EQ(fresh.diagram().focusThread(), focus);
    EXPECT_EQ(viaCheckpoint.size(), 4u); // 5,003 = call 625, event 3: all four levels entered
}
