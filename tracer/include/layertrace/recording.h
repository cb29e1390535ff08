// Recording files (.ltr): a RecordingWriter that is an EventSink (tee a live session into it) and
// a RecordingReader that replays a file into any EventSink, with no need for the original process,
// machine or object files. The byte format is specified in docs/recording-format.md.
#pragma once

#include <layertrace/errors.h>
#include <layertrace/session.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace layertrace::tracer {

// Format constants a reader or a test may need (the rest is private to the implementation).
namespace recording {
inline constexpr std::uint16_t kFormatVersion = 3;     // what this build writes (2: loss accounting in `finished`; 3: lost exits)
inline constexpr std::uint16_t kMinReadableVersion = 1; // oldest version this build reads
inline constexpr std::uint32_t kFileHeaderSize = 64;
inline constexpr std::uint32_t kBlockHeaderSize = 24;
// Incompatible features: a reader that does not know a set bit must refuse the file.
inline constexpr std::uint32_t kIncompatZstd = 1u << 0; // block payloads are zstd frames
// Compatible features: informative; unknown bits are ignored.
inline constexpr std::uint32_t kCompatStacks = 1u << 0;   // events carry stacks (not --no-stacks)
inline constexpr std::uint32_t kCompatFullMode = 1u << 1; // recorded with --mode full
} // namespace recording

// A recording that cannot be read on from `offset` (bytes from the start of the file): truncated,
// corrupted, or written by an incompatible version. Everything before the damage was delivered.
class RecordingError : public FormatError {
public:
    RecordingError(const std::string& file, std::uint64_t offset, const std::string& what)
        : FormatError(file, offset, what) {}
};

// Who recorded what, where: enough to tell the trace's origin without the original machine.
struct RecordingInfo {
    std::vector<std::string> argv;    // the traced command line
    std::string cwd;                  // where it ran
    std::string interpreter;          // path of the interpreter object (from the module map)
    std::string pythonVersion;        // "3.11.2" as the probe reported it ("3.11" from the interpreter's name without one); empty if unknown
    std::uint32_t pid = 0;            // the traced process
    std::uint64_t startUnixNs = 0;    // wall clock when recording began
    std::string layertraceVersion;    // of the tracer that wrote the file
    std::string hostname;             // uname: where it was recorded
    std::string system;               // "Linux 6.1.0 x86_64"
    // Session options as key/value pairs: mode, stacks, lossless, probe (repeatable), app, wrapper.
    std::vector<std::pair<std::string, std::string>> options;

    // The values of option `key`, in order.
    std::vector<std::string> option(const std::string& key) const;
};

// Fills argv, cwd, options, start time, host and version from the options a session runs with.
RecordingInfo recordingInfoFor(const RunOptions& options, const std::string& layertraceVersion);

// The fixed file header, as read.
struct RecordingHeader {
    std::uint16_t formatVersion = 0;
    std::uint16_t minReaderVersion = 0;
    std::uint32_t headerSize = 0;
    std::uint8_t byteOrder = 0; // 1 = little endian (the only order written)
    std::uint8_t wordSize = 0;  // pointer size of the traced process, bytes
    std::uint32_t compatFeatures = 0;
    std::uint32_t incompatFeatures = 0;
    std::uint64_t createdUnixNs = 0;
};

struct RecordingWriterOptions {
    // A block is compressed and written when it holds this many events, this many bytes, or its
    // oldest record is this old (checked by a background flusher too, so an idle program's last
    // events reach the disk): a crash loses at most that much.
    std::uint32_t blockEvents = 4096;
    std::uint32_t blockBytes = 1u << 20;
    std::uint32_t flushIntervalMs = 100;
    int zstdLevel = 3;
};

// Where a RecordingWriter's bytes go when they do not go to a file (layertrace serve sends them to
// a viewer's socket): called with the file header, then each whole block, from the thread that
// completed it. Returns an empty string on success, else why the bytes could not be delivered;
// after a failure nothing more is written.
using RecordingByteOutput = std::function<std::string(const char* data, std::size_t size)>;

// An EventSink that writes everything it receives to a recording file, flushing blocks while the
// session runs. Callbacks may come from one thread at a time (the session's reader thread); the
// writer's own flusher thread synchronises with them. Throws IoError when the file cannot be
// created; a write failure later is reported by error() and through close().
class RecordingWriter : public EventSink {
public:
    RecordingWriter(const std::string& path, RecordingInfo info, RecordingWriterOptions options = {});
    // The same bytes, handed to `output` instead of a file; `name` stands for the path in errors.
    RecordingWriter(const std::string& name, RecordingByteOutput output, RecordingInfo info,
                    RecordingWriterOptions options = {});
    ~RecordingWriter() override; // closes (without an end record if onFinished never came)
    RecordingWriter(const RecordingWriter&) = delete;
    RecordingWriter& operator=(const RecordingWriter&) = delete;

    void onStarted(std::uint32_t pid) override;
    // Keeps the probe's exact Python version ("3.11.2") for the interpreter record.
    void onConnected(std::uint32_t pid, const std::string& pythonVersion) override;
    void onModule(const ModuleInfo& module) override;
    void onEvent(const TraceEvent& event) override;
    void onReport(const ProbeReport& report) override;
    void onDropped(std::uint32_t tid, std::uint64_t count) override;
    // Writes the final record and closes the file.
    void onFinished(const SessionResult& result) override;

    // Flushes pending records as one block now.
    void flush();
    // Flushes, stops the flusher and closes the file; throws IoError if any write failed.
    void close();

    const std::string& path() const;
    std::uint64_t bytesWritten() const; // file size so far
    std::uint64_t blocksWritten() const;
    std::string error() const; // first write error, empty if none

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

struct ReplayStats {
    std::uint64_t blocks = 0;
    std::uint64_t records = 0;
    std::uint64_t events = 0;
    std::uint64_t modules = 0;
    std::uint64_t reports = 0;
    bool finished = false; // the final SessionResult record was present
};

// Reads a recording. Opening reads and checks the header (RecordingError if it is not a
// recording or too new; IoError if it cannot be opened). Front ends open a file by calling
// replay() with the same EventSink they give a live Session (a GUI from its worker thread, as
// for live sessions); a sink that throws stops the replay. Recording a live session is teeing
// a RecordingWriter next to the other sinks (TeeSink), as `layertrace run -o` does.
class RecordingReader {
public:
    explicit RecordingReader(std::string path);
    ~RecordingReader();
    RecordingReader(const RecordingReader&) = delete;
    RecordingReader& operator=(const RecordingReader&) = delete;

    const std::string& path() const { return m_path; }
    const RecordingHeader& header() const { return m_header; }
    // The session info (decoded from the first block on first use).
    const RecordingInfo& info();

    // Delivers every record, in recorded order, to `sink`: onStarted, onModule, onEvent, onReport,
    // onDropped as they were received, and onFinished exactly once (with the recorded result, or
    // a result whose streamError names the damage). On damage, throws RecordingError after
    // delivering everything before it; a file without its final record (the tracer or machine
    // stopped mid-session) is such damage, reported at the end of the last complete block.
    ReplayStats replay(EventSink& sink);

    // Debugging view: the header, each block's offset and header, each record's offset, type,
    // size and a short decoded summary. Throws RecordingError at damage after printing what came before.
    void dump(std::ostream& out);

private:
    std::string m_path;
    RecordingHeader m_header;
    std::unique_ptr<RecordingInfo> m_info;
};

} // namespace layertrace::tracer
