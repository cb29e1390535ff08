// libFuzzer target for the recording reader (.ltr): arbitrary file contents are opened, their
// info decoded, replayed into a sink that reads every field and dumped; the only acceptable
// outcomes are success or a layertrace Error (RecordingError/FormatError/IoError) with a message.
#include <layertrace/errors.h>
#include <layertrace/recording.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <streambuf>
#include <string>

namespace {

using namespace layertrace;
using namespace layertrace::tracer;

// Reads everything it is given; counts keep the reads alive.
class TouchingSink : public EventSink {
public:
    std::uint64_t sum = 0;
    bool finished = false;
    void onStarted(std::uint32_t pid) override { sum += pid; }
    void onModule(const ModuleInfo& m) override { sum += m.path.size() + m.name.size() + m.reason.size() + m.base; }
    void onEvent(const TraceEvent& e) override {
        sum += e.symbol.size() + e.module.size() + e.stack.size() + e.args.size() + e.depth + e.tid;
        for (const auto& f : e.stack) {
            sum += f.function.size() + f.module.size();
        }
    }
    void onReport(const ProbeReport& r) override { sum += r.message.size(); }
    void onDropped(std::uint32_t tid, std::uint64_t count) override { sum += tid + count; }
    void onFinished(const SessionResult& r) override {
        if (finished) {
            __builtin_trap(); // exactly once, by contract
        }
        finished = true;
        sum += r.streamError.size() + r.events;
    }
};

class NullBuffer : public std::streambuf {
protected:
    int overflow(int c) override { return c; }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The reader takes a path: the input lives in an anonymous memory file.
    static const int fd = ::memfd_create("ltr-fuzz", 0);
    if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
        return 0;
    }
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    volatile std::uint64_t keep = 0;
    try {
        RecordingReader reader(path);
        try {
            keep = keep + reader.info().argv.size() + reader.info().options.size();
        } catch (const Error& e) {
            keep = keep + std::string(e.what()).size();
        }
        TouchingSink sink;
        try {
            const ReplayStats stats = reader.replay(sink);
            keep = keep + stats.events + sink.sum;
        } catch (const Error& e) {
            keep = keep + std::string(e.what()).size() + sink.sum;
        }
        if (!sink.finished) {
            __builtin_trap(); // onFinished must come even when the file is damaged
        }
        NullBuffer null;
        std::ostream out(&null);
        try {
            reader.dump(out);
        } catch (const Error& e) {
            keep = keep + std::string(e.what()).size();
        }
    } catch (const Error& e) {
        keep = keep + std::string(e.what()).size(); // not a recording: fine, it said why
    }
    return 0;
}
