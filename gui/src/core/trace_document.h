// One trace as the GUI holds it: the event store and everything derived from it (diagram state,
// event list, call tree, timeline, playback), the selection that links the views, and the counts
// of events lost on the way (dropped by the probe, dropped by the GUI queue, evicted by budget).
#pragma once

#include "core/call_tree_model.h"
#include "core/diagram_state.h"
#include "core/event_list_model.h"
#include "core/event_store.h"
#include "core/playback.h"
#include "core/timeline_data.h"

#include <QObject>
#include <QString>

#include <cstdint>
#include <vector>

namespace layertrace::gui {

class TraceDocument : public QObject {
    Q_OBJECT
public:
    explicit TraceDocument(std::size_t eventBudget = EventStore::kDefaultBudget, QObject* parent = nullptr);

    const EventStore& store() const { return m_store; }
    const DiagramState& diagram() const { return m_diagram; }
    EventListModel* eventList() { return &m_eventList; }
    CallTreeModel* callTree() { return &m_callTree; }
    const TimelineData& timeline() const { return m_timeline; }
    Playback* playback() { return &m_playback; }

    // The UI tick hands over everything the ingest worker queued since the last tick.
    void appendBatch(std::vector<TraceEvent>&& events);
    void appendBatches(std::vector<std::vector<TraceEvent>>&& batches); // one model update for all
    void clear();
    void setBudget(std::size_t events);

    std::uint64_t droppedByProbe() const { return m_droppedByProbe; }
    std::uint64_t droppedByGui() const { return m_droppedByGui; }
    void setDroppedByGui(std::uint64_t count);
    std::uint64_t evicted() const { return m_store.evicted(); }
    std::uint64_t totalEvents() const { return m_store.endIndex(); }

    std::int64_t selected() const { return m_selected; }
    const TraceEvent* selectedEvent() const;

    // Describes the source ("live: python3 user.py", "scripted example") and its state.
    QString sourceTitle() const { return m_sourceTitle; }
    void setSourceTitle(const QString& title) { m_sourceTitle = title; emit statusChanged(); }
    QString sourceState() const { return m_sourceState; }
    void setSourceState(const QString& state) { m_sourceState = state; emit statusChanged(); }
    // The source's one error message (a damaged recording, a failed attach), empty if none.
    QString sourceError() const { return m_sourceError; }
    void setSourceError(const QString& error) { m_sourceError = error; emit statusChanged(); }
    // Rich text about where the trace comes from (a recording's command line, interpreter, host,
    // date): the details pane shows it until an event is selected.
    QString sourceDetails() const { return m_sourceDetails; }
    void setSourceDetails(const QString& html) { m_sourceDetails = html; emit sourceDetailsChanged(); }

    // A rich-text description of one event for the details pane: function, role and layer (and
    // why), module path, thread, timings, FFI arguments and return value, the mixed stack.
    QString describe(std::uint64_t absolute) const;

public slots:
    void select(std::int64_t absolute);

signals:
    void appended(std::uint64_t begin, std::uint64_t end);
    void selectionChanged(std::int64_t absolute);
    void statusChanged();
    void sourceDetailsChanged();
    void cleared();

private:
    EventStore m_store;
    DiagramState m_diagram;
    EventListModel m_eventList;
    CallTreeModel m_callTree;
    TimelineData m_timeline;
    Playback m_playback;
    std::int64_t m_selected = -1;
    std::uint64_t m_droppedByProbe = 0;
    std::uint64_t m_droppedByGui = 0;
    QString m_sourceTitle;
    QString m_sourceState;
    QString m_sourceError;
    QString m_sourceDetails;
};

} // namespace layertrace::gui
