// The live event source: runs a program under the tracer's Session (probe preloaded) on the
// ingest worker thread and forwards every decoded event into the SPSC queue.
#pragma once

#include "core/ingest.h"

#include <layertrace/session.h>

#include <mutex>

namespace layertrace::gui {

class LiveSource : public EventSource, private tracer::EventSink {
public:
    LiveSource(tracer::RunOptions options, QString title);
    ~LiveSource() override;

    void run(IngestSink& sink) override;
    void stop() override;
    QString title() const override { return m_title; }
    bool live() const override { return true; }

    const tracer::SessionResult& result() const { return m_result; }

private:
    void onStarted(std::uint32_t pid) override;
    void onEvent(const TraceEvent& event) override;
    void onReport(const tracer::ProbeReport& report) override;
    void onFinished(const tracer::SessionResult& result) override;

    tracer::RunOptions m_options;
    QString m_title;
    IngestSink* m_sink = nullptr;
    std::mutex m_mutex; // guards m_session and m_stopRequested against stop() from the UI thread
    std::unique_ptr<tracer::Session> m_session;
    bool m_stopRequested = false;
    tracer::SessionResult m_result;
};

} // namespace layertrace::gui
