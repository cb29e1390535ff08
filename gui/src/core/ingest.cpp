// IngestSink / IngestWorker: batching on the worker, draining on the UI tick.
#include "core/ingest.h"

#include <algorithm>
#include <utility>

namespace layertrace::gui {

IngestSink::IngestSink(std::size_t queueBatches) : m_queue(queueBatches) { m_batch.reserve(kBatchEvents); }

void IngestSink::push(TraceEvent&& event) {
    EventBatch full;
    {
        std::lock_guard lock(m_batchMutex);
        if (m_batch.empty())
            m_batchStart = std::chrono::steady_clock::now();
        m_batch.push_back(std::move(event));
        if (m_batch.size() < kBatchEvents && std::chrono::steady_clock::now() - m_batchStart < kBatchAge)
            return;
        if (!m_waitWhenFull)
            return flushLocked();
        full = std::exchange(m_batch, EventBatch());
        m_batch.reserve(kBatchEvents);
    }
    pushWaiting(std::move(full));
}

void IngestSink::flush() {
    EventBatch last;
    {
        std::lock_guard lock(m_batchMutex);
        if (!m_waitWhenFull)
            return flushLocked();
        last = std::exchange(m_batch, EventBatch());
    }
    if (!last.empty())
        pushWaiting(std::move(last));
}

void IngestSink::pushWaiting(EventBatch&& batch) {
    // Outside the batch lock: the UI tick takes that lock to drain the queue. This is the only
    // producer and m_batch stays empty meanwhile, so the tick cannot overtake this batch.
    const std::size_t n = batch.size();
    while (!m_queue.push(std::move(batch))) {
        if (m_abort.load(std::memory_order_relaxed)) {
            m_dropped.fetch_add(n, std::memory_order_relaxed);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    m_pushed.fetch_add(n, std::memory_order_relaxed);
}

void IngestSink::flushLocked() {
    if (m_batch.empty())
        return;
    const std::size_t n = m_batch.size();
    if (m_queue.push(std::move(m_batch)))
        m_pushed.fetch_add(n, std::memory_order_relaxed);
    else
        // The UI fell a whole queue behind: drop this batch (counted, shown in the status bar)
        // rather than block the session's reader, which would make the probe drop instead.
        m_dropped.fetch_add(n, std::memory_order_relaxed);
    m_batch = EventBatch();
    m_batch.reserve(kBatchEvents);
}

void IngestSink::setState(const QString& state) {
    std::lock_guard lock(m_stateMutex);
    m_state = state;
    m_stateChanged = true;
}

void IngestSink::setError(const QString& error) {
    std::lock_guard lock(m_stateMutex);
    m_error = error;
    m_errorChanged = true;
}

void MemorySource::run(IngestSink& sink) {
    for (auto& ev : m_events) {
        if (m_stop.load(std::memory_order_relaxed))
            break;
        sink.push(std::move(ev));
    }
    m_events.clear();
    sink.flush();
    sink.setState(QStringLiteral("complete"));
}

IngestWorker::IngestWorker(std::unique_ptr<EventSource> source, TraceDocument& document, QObject* parent)
    : QObject(parent), m_source(std::move(source)), m_document(document), m_sink(kQueueBatches) {
    m_timer.setInterval(kTickMs);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, [this] { tick(); });
    m_document.setSourceTitle(m_source->title());
}

IngestWorker::~IngestWorker() { stop(); }

void IngestWorker::start() {
    if (m_running.exchange(true))
        return;
    m_thread = std::thread([this] {
        m_source->run(m_sink);
        m_sink.flush();
        m_sourceDone.store(true, std::memory_order_release);
    });
    m_timer.start();
}

void IngestWorker::stop() {
    if (m_thread.joinable()) {
        m_sink.abortWaiting();
        m_source->stop();
        m_thread.join();
    }
    m_running = false;
}

std::size_t IngestWorker::tick() {
    QElapsedTimer clock;
    clock.start();
    // Read "done" before draining: everything pushed before it was set is then drained below.
    const bool done = m_sourceDone.load(std::memory_order_acquire);
    std::vector<EventBatch> all;
    std::size_t n = 0;
    EventBatch batch;
    auto take = [&all, &n](EventBatch&& b) {
        n += b.size();
        all.push_back(std::move(b));
    };
    {
        // Under the batch lock the producer cannot flush between the queue drain and the stale
        // batch grab, which keeps the events in stream order.
        std::lock_guard lock(m_sink.m_batchMutex);
        bool drained = true;
        // Take only as many events as the document can absorb within the tick's budget, judged
        // by the measured cost per event; the rest waits in the queue for the next tick.
        const auto maxEvents = std::size_t(std::max(2048.0, kTickBudgetMs * 1e6 / std::max(1.0, m_nsPerEvent)));
        while (n < maxEvents) {
            if (!m_sink.m_queue.pop(batch))
                break;
            take(std::move(batch));
            drained = m_sink.m_queue.sizeApprox() == 0;
        }
        if (drained && m_sink.m_queue.sizeApprox() == 0 && !m_sink.m_batch.empty() &&
            std::chrono::steady_clock::now() - m_sink.m_batchStart >= IngestSink::kBatchAge) {
            const std::size_t stale = m_sink.m_batch.size();
            take(std::move(m_sink.m_batch));
            m_sink.m_batch = EventBatch();
            m_sink.m_pushed.fetch_add(stale, std::memory_order_relaxed);
        }
    }
    if (n) {
        m_document.appendBatches(std::move(all));
        // The whole tick's cost (drain, append, freeing the batches) sizes the next tick.
        if (n >= 512)
            m_nsPerEvent = 0.7 * m_nsPerEvent + 0.3 * double(clock.nsecsElapsed()) / double(n);
    }
    m_document.setDroppedByGui(m_sink.droppedEvents());
    {
        std::lock_guard lock(m_sink.m_stateMutex);
        if (m_sink.m_stateChanged) {
            m_sink.m_stateChanged = false;
            m_document.setSourceState(m_sink.m_state);
        }
        if (m_sink.m_errorChanged) {
            m_sink.m_errorChanged = false;
            m_document.setSourceError(m_sink.m_error);
        }
    }
    m_longestTickMs = std::max(m_longestTickMs, double(clock.nsecsElapsed()) / 1e6);
    if (done && m_sink.m_queue.sizeApprox() == 0 && !m_finished) {
        m_finished = true;
        m_timer.stop();
        if (m_thread.joinable())
            m_thread.join();
        m_running = false;
        emit finishedIngest();
    }
    return n;
}

} // namespace layertrace::gui
