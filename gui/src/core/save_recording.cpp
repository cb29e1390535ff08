// saveRecording: copy a finished recording; snapshot one that is still growing.
#include "core/save_recording.h"

#include <layertrace/errors.h>
#include <layertrace/recording.h>

#include <filesystem>
#include <memory>

namespace layertrace::gui {

namespace {

// Forwards a replay into the new file, keeping the final record out until we know whether the
// growing file had one (a session that ended while we copied).
class SnapshotSink : public tracer::EventSink {
public:
    explicit SnapshotSink(tracer::RecordingWriter& out) : m_out(out) {}
    void onStarted(std::uint32_t pid) override { m_out.onStarted(pid); }
    void onModule(const tracer::ModuleInfo& module) override { m_out.onModule(module); }
    void onEvent(const TraceEvent& event) override {
        ++m_events;
        m_out.onEvent(event);
    }
    void onReport(const tracer::ProbeReport& report) override { m_out.onReport(report); }
    void onDropped(std::uint32_t tid, std::uint64_t count) override {
        m_dropped += count;
        m_out.onDropped(tid, count);
    }
    void onFinished(const tracer::SessionResult& result) override { m_final = result; }

    std::uint64_t events() const { return m_events; }
    std::uint64_t dropped() const { return m_dropped; }
    const tracer::SessionResult& final() const { return m_final; }

private:
    tracer::RecordingWriter& m_out;
    std::uint64_t m_events = 0;
    std::uint64_t m_dropped = 0;
    tracer::SessionResult m_final;
};

void moveIntoPlace(const std::string& temporary, const std::string& destination) {
    std::error_code ec;
    std::filesystem::rename(temporary, destination, ec);
    if (ec) {
        std::filesystem::remove(temporary, ec);
        throw tracer::IoError(destination, "cannot write the recording: " + ec.message());
    }
}

} // namespace

SavedRecording saveRecording(const std::string& source, const std::string& destination, bool complete) {
    // Written next to the destination and renamed over it: an existing file is replaced only by
    // a complete one, and a failed save leaves nothing half-written behind.
    const std::string temporary = destination + ".part";
    SavedRecording saved;
    if (complete) {
        std::error_code ec;
        std::filesystem::copy_file(source, temporary, std::filesystem::copy_options::overwrite_existing, ec);
        if (ec) {
            std::filesystem::remove(temporary, ec);
            throw tracer::IoError(destination, "cannot write the recording: " + ec.message());
        }
        moveIntoPlace(temporary, destination);
        return saved;
    }

    tracer::RecordingReader reader(source);
    try {
        auto out = std::make_unique<tracer::RecordingWriter>(temporary, reader.info());
        SnapshotSink sink(*out);
        bool finished = false;
        try {
            finished = reader.replay(sink).finished;
        } catch (const tracer::RecordingError&) {
            // Expected: the growing file ends in a block that is still being written. Everything
            // before it was delivered.
        }
        tracer::SessionResult result = sink.final();
        if (!finished) {
            result = tracer::SessionResult();
            result.connected = true;
            result.events = sink.events();
            result.dropped = sink.dropped();
            result.streamError = "saved by layertrace-gui while the session was still running: the trace ends here";
        }
        out->onFinished(result);
        out->close();
        saved.events = sink.events();
        saved.snapshot = !finished;
    } catch (const tracer::Error&) {
        std::error_code ec;
        std::filesystem::remove(temporary, ec);
        throw;
    }
    moveIntoPlace(temporary, destination);
    return saved;
}

} // namespace layertrace::gui
