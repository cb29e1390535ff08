// Benchmark (not a test): feeds synthetic events through the real ingest path (worker thread →
// SPSC queue → per-tick batches into the document, with the main window's views shown) and
// prints the sustained ingest rate and the longest UI stall.
#include "core/scripted_trace.h"
#include "widgets/main_window.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QTimer>

#include <cstdio>

using namespace layertrace::gui;

namespace {

// Produces `calls` synthetic calls (8 events each) as fast as the sink takes them.
class SyntheticSource : public EventSource {
public:
    explicit SyntheticSource(std::size_t calls) : m_calls(calls) {}
    void run(IngestSink& sink) override {
        std::uint64_t seq = 0;
        for (std::size_t done = 0; done < m_calls && !m_stop; done += kChunk) {
            auto events = syntheticLoad(std::min(kChunk, m_calls - done), 4, seq);
            seq += events.size();
            for (auto& ev : events)
                sink.push(std::move(ev));
        }
        sink.flush();
    }
    void stop() override { m_stop = true; }
    QString title() const override { return QStringLiteral("synthetic benchmark load"); }
    bool live() const override { return false; }

private:
    static constexpr std::size_t kChunk = 5000;
    std::size_t m_calls;
    std::atomic<bool> m_stop{false};
};

} // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    const std::size_t calls = argc > 1 ? std::size_t(std::atoll(argv[1])) : 250'000; // 2M events
    const std::size_t budget = argc > 2 ? std::size_t(std::atoll(argv[2])) : 500'000;

    MainWindow w(budget);
    w.resize(1400, 900);
    if (!qEnvironmentVariableIsSet("BENCH_HIDDEN"))
        w.show();
    if (qEnvironmentVariableIsSet("BENCH_PRESENT"))
        w.setPresentation(true);

    // The stall probe: a 2 ms timer; any gap well beyond 2 ms is time the UI thread was busy.
    QElapsedTimer sinceLast;
    qint64 longestGapMs = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        longestGapMs = std::max(longestGapMs, sinceLast.restart());
    });

    QElapsedTimer clock;
    QObject::connect(&w, &MainWindow::ingestFinished, &app, [&] {
        const double secs = double(clock.nsecsElapsed()) / 1e9;
        const auto& d = w.document();
        const double events = double(d.totalEvents());
        std::printf("events ingested:        %.0f (%zu calls x 8, budget %zu)\n", events, calls, budget);
        std::printf("dropped by GUI queue:   %llu\n", static_cast<unsigned long long>(d.droppedByGui()));
        std::printf("evicted by budget:      %llu\n", static_cast<unsigned long long>(d.evicted()));
        std::printf("wall time:              %.3f s\n", secs);
        std::printf("sustained ingest rate:  %.0f events/s\n", events / secs);
        std::printf("longest UI stall:       %lld ms (longest gap of a 2 ms timer; goal: under 50 ms)\n",
                    static_cast<long long>(longestGapMs));
        std::printf("longest ingest tick:    %.1f ms (UI-thread time in one tick)\n", w.ingest()->longestTickMs());
        QApplication::quit();
    });
    QTimer::singleShot(0, &w, [&] {
        clock.start();
        sinceLast.start();
        probe.start(2);
        w.startSource(std::make_unique<SyntheticSource>(calls));
    });
    return QApplication::exec();
}
