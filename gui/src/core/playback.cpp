// Playback: moves the diagram's cursor through the retained events.
#include "core/playback.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace layertrace::gui {

Playback::Playback(const EventStore& store, DiagramState& diagram, QObject* parent)
    : QObject(parent), m_store(store), m_diagram(diagram) {
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, [this] {
        if (m_mode == Mode::Autoplay && autoplayStep())
            scheduleAutoplay();
    });
}

void Playback::setSpeed(double stepsPerSecond) { m_speed = std::clamp(stepsPerSecond, kMinSpeed, kMaxSpeed); }

void Playback::setBreakOnEnter(int summaryBand, bool on) {
    const unsigned bit = 1u << unsigned(summaryBand);
    m_breakMask = on ? (m_breakMask | bit) : (m_breakMask & ~bit);
}

bool Playback::breaksOnEnter(int summaryBand) const { return (m_breakMask >> unsigned(summaryBand)) & 1u; }

int Playback::focusedSummaryBand() const {
    const int box = m_diagram.topBox(ViewMode::Summary);
    return box < 0 ? -1 : m_diagram.registry(ViewMode::Summary).box(box).band;
}

bool Playback::nextStepCrossesLayer() const {
    const std::int64_t next = cursor() + 1;
    if (!m_store.contains(std::uint64_t(next)))
        return false;
    const TraceEvent& ev = m_store.at(std::uint64_t(next));
    if (!DiagramState::changesPath(ev.kind))
        return false;
    const int nextBand = bandOf(ev.role, ViewMode::Summary);
    if (isEnter(ev.kind))
        return nextBand != focusedSummaryBand();
    // A return crosses when it leaves the band for the caller's band.
    const auto route = m_diagram.route(ViewMode::Summary);
    if (route.size() < 2)
        return false;
    const auto& reg = m_diagram.registry(ViewMode::Summary);
    return reg.box(route[route.size() - 2].box).band != reg.box(route.back().box).band;
}

int Playback::autoplayDelayMs() const {
    const double base = 1000.0 / m_speed;
    return int(nextStepCrossesLayer() ? base * kBoundarySlowdown : base);
}

std::int64_t Playback::deepestPosition() const {
    // "Deepest" means reaching the most rows of the stack, then the most distinct boxes, then
    // the most nested calls: the transform() call into libstruct_demo.so beats an import chain
    // seventy frames deep that never leaves Python.
    DiagramState scratch = m_diagram;
    scratch.resetActivity();
    std::tuple<std::size_t, std::size_t, std::size_t> best{0, 0, 0};
    std::int64_t bestAt = -1;
    const BoxRegistry& reg = scratch.registry(ViewMode::Detailed);
    for (std::uint64_t i = m_store.firstIndex(); i < m_store.endIndex(); ++i) {
        const TraceEvent& ev = m_store.at(i);
        scratch.apply(ev, i);
        if (!isEnter(ev.kind))
            continue;
        const auto route = scratch.route(ViewMode::Detailed);
        std::set<int> bands, boxes;
        std::size_t functions = 0;
        for (const auto& hop : route) {
            bands.insert(reg.box(hop.box).band);
            boxes.insert(hop.box);
            functions += hop.functions.size();
        }
        const std::tuple<std::size_t, std::size_t, std::size_t> score{bands.size(), boxes.size(), functions};
        if (score > best) {
            best = score;
            bestAt = std::int64_t(i);
        }
    }
    return bestAt;
}

void Playback::setMode(Mode mode) {
    if (mode == m_mode)
        return;
    m_mode = mode;
    if (mode != Mode::Autoplay)
        m_timer.stop();
    emit modeChanged(mode);
}

void Playback::follow() {
    setMode(Mode::Follow);
    onAppended();
}

void Playback::pause() { setMode(Mode::Paused); }

void Playback::play() {
    if (atEnd())
        toStart();
    setMode(Mode::Autoplay);
    scheduleAutoplay();
}

void Playback::togglePlay() {
    if (m_mode == Mode::Autoplay)
        pause();
    else
        play();
}

void Playback::scheduleAutoplay() {
    if (m_mode == Mode::Autoplay)
        m_timer.start(autoplayDelayMs());
}

bool Playback::autoplayStep() {
    if (atEnd()) {
        pause();
        return false;
    }
    // Autoplay shows hops: steps that change nothing on the diagram are passed over.
    std::int64_t before = cursor();
    bool ok = true;
    do {
        ok = applyNext(true);
    } while (ok && !atEnd() && !DiagramState::changesPath(m_store.at(std::uint64_t(cursor())).kind));
    if (cursor() != before) {
        updateNext();
        emit cursorChanged(cursor());
    }
    if (!ok && !atEnd())
        return false; // breakpoint: applyNext paused
    if (atEnd())
        pause();
    return m_mode == Mode::Autoplay;
}

bool Playback::applyNext(bool checkBreakpoints) {
    const std::int64_t next = std::max<std::int64_t>(cursor() + 1, std::int64_t(m_store.firstIndex()));
    if (!m_store.contains(std::uint64_t(next)))
        return false;
    if (next != cursor() + 1)
        restoreTo(next - 1); // the cursor's events were evicted: continue from the oldest kept
    const int bandBefore = focusedSummaryBand();
    const TraceEvent& ev = m_store.at(std::uint64_t(next));
    m_diagram.apply(ev, std::uint64_t(next));
    if (std::uint64_t(next) % kCheckpointEvery == 0) {
        m_checkpoints[next] = m_diagram.activity();
        // Checkpoints before the oldest retained event can never be replayed from: drop them.
        const auto first = std::int64_t(m_store.firstIndex());
        while (m_checkpoints.size() > 1 && std::next(m_checkpoints.begin())->first <= first)
            m_checkpoints.erase(m_checkpoints.begin());
    }
    if (checkBreakpoints && m_breakMask && isEnter(ev.kind)) {
        const int band = bandOf(ev.role, ViewMode::Summary);
        if (band != bandBefore && breaksOnEnter(band)) {
            setMode(Mode::Paused);
            emit breakpointHit(band, next);
            return false;
        }
    }
    return true;
}

void Playback::restoreTo(std::int64_t index) {
    // Drop checkpoints whose events can no longer be replayed forward.
    const auto first = std::int64_t(m_store.firstIndex());
    while (!m_checkpoints.empty() && m_checkpoints.begin()->first < first - 1 &&
           std::next(m_checkpoints.begin()) != m_checkpoints.end() && std::next(m_checkpoints.begin())->first <= first)
        m_checkpoints.erase(m_checkpoints.begin());
    std::int64_t from = -1;
    auto it = m_checkpoints.upper_bound(index);
    if (it != m_checkpoints.begin()) {
        --it;
        if (it->first >= first - 1) {
            m_diagram.restoreActivity(it->second);
            from = it->first;
        }
    }
    if (from < 0) {
        m_diagram.resetActivity();
        from = first - 1;
    }
    for (std::int64_t i = from + 1; i <= index && m_store.contains(std::uint64_t(i)); ++i) {
        m_diagram.apply(m_store.at(std::uint64_t(i)), std::uint64_t(i));
        if (std::uint64_t(i) % kCheckpointEvery == 0)
            m_checkpoints[i] = m_diagram.activity();
    }
    if (index < first) {
        DiagramActivity a = m_diagram.activity();
        a.cursor = index;
        m_diagram.restoreActivity(a);
    }
}

void Playback::updateNext() {
    const std::int64_t next = cursor() + 1;
    if (m_store.contains(std::uint64_t(next)) && DiagramState::changesPath(m_store.at(std::uint64_t(next)).kind))
        m_diagram.setNext(m_diagram.markFor(m_store.at(std::uint64_t(next))));
    else
        m_diagram.setNext(std::nullopt);
}

void Playback::seek(std::int64_t index) {
    index = std::clamp<std::int64_t>(index, std::int64_t(m_store.firstIndex()) - 1, std::int64_t(m_store.endIndex()) - 1);
    if (index == cursor())
        return;
    if (index > cursor() && index - cursor() < std::int64_t(kCheckpointEvery)) {
        while (cursor() < index)
            applyNext(false);
    } else {
        restoreTo(index);
    }
    updateNext();
    emit cursorChanged(cursor());
}

bool Playback::stepEventForward() {
    if (m_mode != Mode::Paused)
        setMode(Mode::Paused);
    const bool ok = applyNext(true);
    updateNext();
    emit cursorChanged(cursor());
    return ok;
}

bool Playback::stepEventBack() {
    if (m_mode != Mode::Paused)
        setMode(Mode::Paused);
    if (cursor() < std::int64_t(m_store.firstIndex()))
        return false;
    seek(cursor() - 1);
    return true;
}

bool Playback::hopForward() {
    if (m_mode != Mode::Paused)
        setMode(Mode::Paused);
    const int before = m_diagram.topBox(ViewMode::Detailed);
    const std::size_t depthBefore = m_diagram.route(ViewMode::Detailed).size();
    bool ok = false;
    while (!atEnd()) {
        ok = applyNext(true);
        if (!ok)
            break;
        if (m_diagram.topBox(ViewMode::Detailed) != before || m_diagram.route(ViewMode::Detailed).size() != depthBefore)
            break;
    }
    updateNext();
    emit cursorChanged(cursor());
    return ok;
}

bool Playback::hopBack() {
    if (m_mode != Mode::Paused)
        setMode(Mode::Paused);
    const auto first = std::int64_t(m_store.firstIndex());
    if (cursor() < first)
        return false;
    // Walk back to the previous position whose route differs, one restore per candidate. Routes
    // change at most once per path event, so scan events backwards for the last path event.
    const int topNow = m_diagram.topBox(ViewMode::Detailed);
    const std::size_t depthNow = m_diagram.route(ViewMode::Detailed).size();
    std::int64_t target = cursor() - 1;
    while (target >= first) {
        restoreTo(target);
        if (m_diagram.topBox(ViewMode::Detailed) != topNow || m_diagram.route(ViewMode::Detailed).size() != depthNow)
            break;
        --target;
    }
    if (target < first)
        restoreTo(first - 1);
    updateNext();
    emit cursorChanged(cursor());
    return true;
}

bool Playback::stepForward() { return m_byHop ? hopForward() : stepEventForward(); }
bool Playback::stepBack() { return m_byHop ? hopBack() : stepEventBack(); }

void Playback::onAppended() {
    if (m_mode != Mode::Follow) {
        updateNext();
        return;
    }
    const std::int64_t before = cursor();
    while (!atEnd()) {
        if (!applyNext(m_breakMask != 0))
            break;
    }
    updateNext();
    if (cursor() != before)
        emit cursorChanged(cursor());
}

void Playback::onCleared() {
    m_checkpoints.clear();
    m_diagram.resetActivity();
    emit cursorChanged(cursor());
}

} // namespace layertrace::gui
