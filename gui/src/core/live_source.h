// The live event source: runs a program under the tracer's Session (probe preloaded), or attaches
// to a running Python process, on the ingest worker thread and forwards every decoded event into
// the SPSC queue. The best tools record always: with a recording path, everything the session
// delivers is also written to a recording file (tee'd RecordingWriter), which File > Save copies.
#pragma once

#include "core/ingest.h"

#include <layertrace/recording.h>
#include <layertrace/session.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>

namespace layertrace::tracer {
class TeeSink; // formatters.h: included by the .cpp only, ahead of Qt (it has a member named emit)
}

namespace layertrace::gui {

// How starting the session went: the launch or attach either runs, or failed with the tracer's
// one-line message and exit code (the same as `layertrace run` / `layertrace attach` would use).
struct StartOutcome {
    bool ok = false;
    int exitCode = 0;
    QString error;
};

class LiveSource : public EventSource, private tracer::EventSink {
public:
    // attachPid 0 launches options.argv; otherwise attaches to that process (options.argv then
    // only describes it, for the recording). A non-empty recordingPath is created now (throws
    // tracer::IoError when it cannot be) and receives everything the session delivers.
    LiveSource(tracer::RunOptions options, QString title, std::uint32_t attachPid = 0, std::string recordingPath = {});
    ~LiveSource() override;

    void run(IngestSink& sink) override;
    // Ends the session: a launched program is terminated, an attached one is detached (it goes on).
    void stop() override;
    QString title() const override { return m_title; }
    bool live() const override { return true; }

    bool attaching() const { return m_attachPid != 0; }
    // Becomes ready once the session started or failed to (the worker thread sets it).
    std::shared_future<StartOutcome> started() const { return m_startedFuture; }
    // Valid once the source finished.
    const tracer::SessionResult& result() const { return m_result; }

    // The recording being written ("" when not recording) and whether it is complete (the
    // session ended and the file got its final record and was closed).
    const std::string& recordingPath() const { return m_recordingPath; }
    bool recordingComplete() const { return m_recordingComplete.load(std::memory_order_acquire); }
    // Writes the records received so far as one block now (thread-safe), so a copy taken while
    // the session runs holds everything up to this moment.
    void flushRecording();

private:
    void onStarted(std::uint32_t pid) override;
    void onEvent(const TraceEvent& event) override;
    void onReport(const tracer::ProbeReport& report) override;
    void onFinished(const tracer::SessionResult& result) override;
    void reportStart(StartOutcome outcome);

    tracer::RunOptions m_options;
    QString m_title;
    std::uint32_t m_attachPid = 0;
    std::string m_recordingPath;
    std::unique_ptr<tracer::RecordingWriter> m_recording;
    std::atomic<bool> m_recordingComplete{false};
    std::unique_ptr<tracer::TeeSink> m_tee; // this source's own callbacks plus the recording
    IngestSink* m_sink = nullptr;
    std::mutex m_mutex; // guards m_session and m_stopRequested against stop() from the UI thread
    std::unique_ptr<tracer::Session> m_session;
    bool m_stopRequested = false;
    tracer::SessionResult m_result;
    std::promise<StartOutcome> m_startedPromise;
    std::shared_future<StartOutcome> m_startedFuture;
    bool m_startReported = false;
};

// The version written into recordings the GUI makes (the project's version).
std::string layertraceVersion();

} // namespace layertrace::gui
