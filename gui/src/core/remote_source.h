// Watching a session served by `layertrace serve` (docs/cli/serve.md): the tracer's
// connectRemote() replays what the server streams into the same queue a live session feeds, so
// every view and the playback work on it unchanged, as they do for a recording.
#pragma once

#include "core/ingest.h"
#include "core/live_source.h"

#include <layertrace/remote.h>

#include <memory>
#include <thread>

namespace layertrace::gui {

class RemoteSource : public EventSource {
public:
    RemoteSource(tracer::HostPort server, std::string token, QString title);
    ~RemoteSource() override;

    void run(IngestSink& sink) override;
    // Returns at once: the connection is left to end on its own (see Link) and shows nothing more.
    void stop() override;
    QString title() const override { return m_title; }
    bool live() const override { return true; }

    // Valid once run() returned: not ok when the viewer never got the session (refused: exit 9,
    // unreachable: 6, with the message `layertrace view` prints). A stream that broke after the
    // session began is ok here; its message is the document's sourceError().
    const StartOutcome& outcome() const { return m_outcome; }
    // Valid once run() returned: what arrived (events, and the served session's result).
    const tracer::SessionResult& result() const { return m_result; }

    struct Link;

private:
    tracer::HostPort m_server;
    std::string m_token;
    QString m_title;
    std::shared_ptr<Link> m_link;
    std::thread m_connection;
    StartOutcome m_outcome{true, 0, {}};
    tracer::SessionResult m_result;
};

} // namespace layertrace::gui
