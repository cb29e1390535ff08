// Benchmark (prints numbers, asserts nothing): how fast recordings are written, read and
// exported. Replays a recording (default: the callbacks demo fixture) into a RecordingWriter,
// a counting sink, and both exporters, and reports events/s and bytes/event for each.
#include <layertrace/export.h>
#include <layertrace/recording.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

class Count : public EventSink {
public:
    void onEvent(const TraceEvent&) override { ++events; }
    std::uint64_t events = 0;
};

// Holds the first 30,000 events (stacks make each one a few KB in memory).
class Keep : public EventSink {
public:
    void onModule(const ModuleInfo& m) override { modules.push_back(m); }
    void onEvent(const TraceEvent& e) override {
        if (events.size() < 30000) {
            events.push_back(e);
        }
    }
    std::vector<ModuleInfo> modules;
    std::vector<TraceEvent> events;
};

double seconds(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

} // namespace

int main(int argc, char** argv) {
    const std::string input = argc > 1 ? argv[1] : std::string(RECORDING_FIXTURE_DIR) + "/callbacks.ltr";
    const std::string output = (std::filesystem::temp_directory_path() / "lt-bench-recording.ltr").string();
    try {
        RecordingReader reader(input);
        Count count;
        auto t0 = std::chrono::steady_clock::now();
        reader.replay(count);
        const double read = seconds(t0);
        std::printf("read     %8.0f events/s  (%llu events in %.3f s, %s)\n", count.events / read,
                    static_cast<unsigned long long>(count.events), read, input.c_str());

        // The writer alone: the first events held in memory, then written (encode, intern, compress, write).
        Keep keep;
        reader.replay(keep);
        t0 = std::chrono::steady_clock::now();
        {
            RecordingWriter writer(output, reader.info());
            for (const auto& m : keep.modules) {
                writer.onModule(m);
            }
            for (const auto& e : keep.events) {
                writer.onEvent(e);
            }
            std::printf("         (%.3f s to encode; the rest is closing the file)\n", seconds(t0));
            writer.onFinished(SessionResult{});
        }
        const double write = seconds(t0);
        const auto size = std::filesystem::file_size(output);
        std::printf("write    %8.0f events/s  (%zu events in %.3f s; %.2f bytes/event)\n",
                    static_cast<double>(keep.events.size()) / write, keep.events.size(), write,
                    static_cast<double>(size) / static_cast<double>(keep.events.size()));

        for (const auto format : {ExportFormat::Chrome, ExportFormat::Speedscope}) {
            std::ofstream out(output + ".json");
            auto exporter = makeExporter(format, out);
            t0 = std::chrono::steady_clock::now();
            reader.replay(*exporter);
            const double t = seconds(t0);
            std::printf("%-8s %8.0f events/s  (%.3f s, read included)\n",
                        format == ExportFormat::Chrome ? "chrome" : "speedscope", count.events / t, t);
        }
        std::filesystem::remove(output);
        std::filesystem::remove(output + ".json");
    } catch (const Error& e) {
        std::fprintf(stderr, "bench_recording: %s\n", e.what());
        return e.exitCode();
    }
    return 0;
}
