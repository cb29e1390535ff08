// Opening a recording (.ltr): the tracer's RecordingReader replays the file on the ingest worker
// thread into the same queue a live session feeds, so every view and the playback work on it
// unchanged. A damaged file shows everything before the damage plus one error naming the offset.
#pragma once

#include "core/ingest.h"

#include <layertrace/recording.h>

#include <atomic>
#include <memory>

namespace layertrace::gui {

class RecordingSource : public EventSource, private tracer::EventSink {
public:
    // `reader` was opened on the UI thread, so a file that is no recording fails before any
    // window changes; replay happens in run().
    RecordingSource(std::unique_ptr<tracer::RecordingReader> reader, QString title);
    ~RecordingSource() override;

    void run(IngestSink& sink) override;
    void stop() override { m_stop.store(true, std::memory_order_relaxed); }
    QString title() const override { return m_title; }
    bool live() const override { return false; }

    const tracer::ReplayStats& stats() const { return m_stats; } // valid once run() returned

private:
    void onEvent(const TraceEvent& event) override;
    void onFinished(const tracer::SessionResult& result) override;

    std::unique_ptr<tracer::RecordingReader> m_reader;
    QString m_title;
    IngestSink* m_sink = nullptr;
    std::atomic<bool> m_stop{false};
    tracer::SessionResult m_result;
    tracer::ReplayStats m_stats;
};

// Rich text for the details pane: who recorded what, where and when (RecordingInfo).
QString describeRecording(const QString& path, const tracer::RecordingInfo& info);
// One line for the window title: the recorded command line, host and date.
QString recordingSummary(const tracer::RecordingInfo& info);

} // namespace layertrace::gui
