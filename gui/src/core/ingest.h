// Keeping up with a live stream: an event source runs on a worker thread and hands batches to the
// UI thread through an SPSC queue, which the UI tick drains once per frame into the document.
// Sources: the tracer's live Session (live_source.h) and in-memory event streams.
#pragma once

#include "core/spsc_queue.h"
#include "core/trace_document.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace layertrace::gui {

using EventBatch = std::vector<TraceEvent>;

// The producer side, used by a source on the worker thread.
class IngestSink {
public:
    static constexpr std::size_t kBatchEvents = 2048;
    static constexpr auto kBatchAge = std::chrono::milliseconds(5);

    explicit IngestSink(std::size_t queueBatches);

    void push(TraceEvent&& event); // batches; flushes when full or old
    void push(const TraceEvent& event) { push(TraceEvent(event)); }
    void flush();
    // A source that can wait (a recording read from disk) waits for room in a full queue instead
    // of dropping: a file must arrive complete. abortWaiting() (IngestWorker::stop) ends the wait.
    void setWaitWhenFull(bool wait) { m_waitWhenFull = wait; }
    void abortWaiting() { m_abort.store(true, std::memory_order_relaxed); }
    // A status line for the UI ("running, PID 4242", "exited with status 0"); thread-safe.
    void setState(const QString& state);
    // The one message a failed or damaged source leaves (shown as a banner over the trace, not
    // only in the status line): which file/PID/offset, what happened, what to do. Thread-safe.
    void setError(const QString& error);

    std::uint64_t droppedEvents() const { return m_dropped.load(std::memory_order_relaxed); }
    std::uint64_t pushedEvents() const { return m_pushed.load(std::memory_order_relaxed); }

private:
    friend class IngestWorker;
    void flushLocked();
    void pushWaiting(EventBatch&& batch);
    SpscQueue<EventBatch> m_queue;
    EventBatch m_batch;
    std::chrono::steady_clock::time_point m_batchStart;
    std::atomic<std::uint64_t> m_dropped{0};
    std::atomic<std::uint64_t> m_pushed{0};
    // Guards m_batch: the UI tick takes a batch that has waited kBatchAge when the source went
    // quiet, so the last events of a burst show without waiting for the next one.
    std::mutex m_batchMutex;
    std::mutex m_stateMutex;
    QString m_state;
    bool m_stateChanged = false;
    QString m_error;
    bool m_errorChanged = false;
    bool m_waitWhenFull = false;
    std::atomic<bool> m_abort{false};
};

class EventSource {
public:
    virtual ~EventSource() = default;
    // Runs on the worker thread until the source is exhausted or stop() was called.
    virtual void run(IngestSink& sink) = 0;
    // Called from the UI thread; run() must return soon after.
    virtual void stop() = 0;
    virtual QString title() const = 0;
    virtual bool live() const = 0;
};

// Replays events held in memory: scripted teaching sequences, tests, the benchmark.
class MemorySource : public EventSource {
public:
    MemorySource(std::vector<TraceEvent> events, QString title) : m_events(std::move(events)), m_title(std::move(title)) {}
    void run(IngestSink& sink) override;
    void stop() override { m_stop = true; }
    QString title() const override { return m_title; }
    bool live() const override { return false; }

private:
    std::vector<TraceEvent> m_events;
    QString m_title;
    std::atomic<bool> m_stop{false};
};

class IngestWorker : public QObject {
    Q_OBJECT
public:
    static constexpr int kTickMs = 16;               // one UI frame
    static constexpr int kTickBudgetMs = 10;         // ingest work allowed per tick
    static constexpr std::size_t kQueueBatches = 1024;

    IngestWorker(std::unique_ptr<EventSource> source, TraceDocument& document, QObject* parent = nullptr);
    ~IngestWorker() override;

    void start();
    void stop();
    // Asks the source to end (a live session stops or detaches) without waiting for it: the
    // worker finishes on its own and finishedIngest() follows as usual.
    void requestStop() { m_source->stop(); }
    bool running() const { return m_running.load(); }
    bool finished() const { return m_finished; }
    const EventSource& source() const { return *m_source; }
    EventSource& source() { return *m_source; }
    const IngestSink& sink() const { return m_sink; }

    // Drains the queue into the document (the timer calls it every kTickMs; tests call it).
    // Returns the number of events handed over.
    std::size_t tick();
    // The longest tick so far: UI-thread time spent ingesting (the benchmark reports it).
    double longestTickMs() const { return m_longestTickMs; }

signals:
    void finishedIngest(); // the source ended and its last batch reached the document

private:
    std::unique_ptr<EventSource> m_source;
    TraceDocument& m_document;
    IngestSink m_sink;
    std::thread m_thread;
    std::atomic<bool> m_running{false};
    std::atomic<bool> m_sourceDone{false};
    bool m_finished = false;
    double m_longestTickMs = 0;
    double m_nsPerEvent = 2000; // measured cost of appending one event; sizes each tick's share
    QTimer m_timer;
};

} // namespace layertrace::gui
