// Shared helpers of the GUI tests: a model-tester wrapper that turns its complaints into test
// failures, event-loop waiting, and a document fed with the scripted Part IV call.
#pragma once

#include "core/scripted_trace.h"
#include "core/trace_document.h"

#include <layertrace/catalog.h>

#include <QAbstractItemModelTester>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QStringList>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace layertrace::gui::test {

// QAbstractItemModelTester in warning mode; every warning it emits is collected here.
class ModelChecker {
public:
    explicit ModelChecker(QAbstractItemModel* model);
    ~ModelChecker();
    QStringList failures() const;

private:
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

// Builds that run slower (the asan preset: ASan/UBSan) have a LAYERTRACE_TEST_SLOWDOWN of N (the
// build's, or the environment's); waitFor stretches every timeout by it, like the Python suites
// (layertrace_testing/slowdown.py).
int slowdown();

// Spins the event loop until `done` or `timeoutMs` (times slowdown()); returns done().
bool waitFor(const std::function<bool()>& done, int timeoutMs = 10000);

// Feeds the scripted Part IV sequence into `doc` as one tick.
void feedPartFour(TraceDocument& doc);

// Whether a live session can run here (the probe library is built); `why` says why not.
bool liveTracingAvailable(std::string* why);

// The catalog paths of `demo` that the diagram never showed at any step of the retained events,
// as "path name (view)", replaying into a copy of the document's diagram state.
std::vector<std::string> routesNotShown(const TraceDocument& doc, const tracer::Demo& demo);

// routesNotShown for a document that keeps growing (a live session): each call replays only the
// events that arrived since the last one, into a copy of the document's current diagram (its
// boxes never move) that goes on with the activity the previous replay left, so asking as the
// events come costs each event one replay instead of one per call (under ASan, replaying every
// retained event twice a second starved the event loop that ingests them).
class RouteWatch {
public:
    RouteWatch(const TraceDocument& doc, const tracer::Demo& demo);
    std::vector<std::string> notShownYet();

private:
    struct Watch {
        const tracer::DemoPath* path;
        ViewMode mode;
        DiagramActivity activity;
        bool seen = false;
    };
    const TraceDocument& m_doc;
    std::vector<Watch> m_watches;
    std::uint64_t m_replayedTo = 0; // events before it were replayed (or evicted unseen)
};

} // namespace layertrace::gui::test
