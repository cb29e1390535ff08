// Playback over the trace: live follow, pause (capture continues), step by event or by hop,
// autoplay that slows at layer boundaries, and breakpoints on layer transitions. Drives the
// diagram state to the cursor; keeps checkpoints so stepping back is cheap on long traces.
#pragma once

#include "core/diagram_state.h"
#include "core/event_store.h"

#include <QObject>
#include <QTimer>

#include <cstdint>
#include <map>

namespace layertrace::gui {

class Playback : public QObject {
    Q_OBJECT
public:
    enum class Mode { Follow, Paused, Autoplay };
    Q_ENUM(Mode)

    static constexpr double kMinSpeed = 0.25;
    static constexpr double kMaxSpeed = 10.0;
    static constexpr double kBoundarySlowdown = 2.5; // autoplay lingers this much longer at a layer crossing
    static constexpr std::uint64_t kCheckpointEvery = 1024;

    Playback(const EventStore& store, DiagramState& diagram, QObject* parent = nullptr);

    Mode mode() const { return m_mode; }
    std::int64_t cursor() const { return m_diagram.cursor(); }
    bool atEnd() const { return cursor() + 1 >= std::int64_t(m_store.endIndex()); }

    double speed() const { return m_speed; }
    void setSpeed(double stepsPerSecond);
    bool stepByHop() const { return m_byHop; }
    void setStepByHop(bool byHop) { m_byHop = byHop; }

    // Breakpoints on layer transitions: stop when the focused call enters `summaryBand`
    // (BandLayer1, BandLayer2, BandLibffi, BandLayer3) from another band.
    void setBreakOnEnter(int summaryBand, bool on);
    bool breaksOnEnter(int summaryBand) const;

    // Milliseconds autoplay waits before the next step: 1000/speed, longer when that step
    // crosses a layer boundary so the eye can follow it.
    int autoplayDelayMs() const;

    // The retained position where the focused route is longest (most boxes, then most nested
    // calls): the picture a screenshot or a first look should show. -1 when nothing was called.
    std::int64_t deepestPosition() const;
    bool nextStepCrossesLayer() const;

public slots:
    void follow();
    void pause();
    void play(); // autoplay from the cursor (from the start when at the end)
    void togglePlay();
    bool stepForward(); // by event, or by hop when stepByHop(); false at the end or on a breakpoint
    bool stepBack();
    bool stepEventForward();
    bool stepEventBack();
    bool hopForward();
    bool hopBack();
    void seek(std::int64_t index); // -1: before the first event
    void toStart() { seek(std::int64_t(m_store.firstIndex()) - 1); }
    void toEnd() { seek(std::int64_t(m_store.endIndex()) - 1); }
    // Called once per UI tick after events were appended: in follow mode the cursor moves to the
    // newest event (stopping at a breakpoint, which pauses).
    void onAppended();
    void onCleared();
    // One autoplay step (the timer calls this; tests call it directly).
    bool autoplayStep();

signals:
    void cursorChanged(std::int64_t index);
    void modeChanged(Mode mode);
    void breakpointHit(int summaryBand, std::int64_t index);

private:
    bool applyNext(bool checkBreakpoints); // one event forward; false at end or breakpoint
    void restoreTo(std::int64_t index);
    void updateNext();
    void setMode(Mode mode);
    void scheduleAutoplay();
    int focusedSummaryBand() const;

    const EventStore& m_store;
    DiagramState& m_diagram;
    Mode m_mode = Mode::Follow;
    double m_speed = 2.0;
    bool m_byHop = false;
    unsigned m_breakMask = 0;
    std::map<std::int64_t, DiagramActivity> m_checkpoints; // cursor -> state after applying it
    QTimer m_timer;
};

} // namespace layertrace::gui
