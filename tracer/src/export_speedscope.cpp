// speedscope export (see export.h): one evented profile per thread, open (O) and close (C) frame
// events in nanoseconds from the trace's first event, frames shared between threads and named
// "symbol [role module]" so the layer of each frame is visible in speedscope's flame views.
#include <layertrace/export.h>

#include <layertrace/json.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

namespace layertrace::tracer {

namespace {

class SpeedscopeExporter : public Exporter {
public:
    SpeedscopeExporter(std::ostream& out, ExportOptions options) : m_out(out), m_options(std::move(options)) {}

    const ExportStats& stats() const override { return m_stats; }

    void onStarted(std::uint32_t pid) override { m_pid = pid; }

    void onEvent(const TraceEvent& ev) override {
        if (!m_haveOrigin) {
            m_origin = ev.tsNs;
            m_haveOrigin = true;
        }
        Thread& t = m_threads[ev.tid];
        // speedscope needs non-decreasing times per profile; a thread's clock never goes back,
        // but clamp anyway so a skewed record cannot make the file invalid.
        std::uint64_t at = ev.tsNs < m_origin ? 0 : ev.tsNs - m_origin;
        if (!t.started) {
            t.start = at;
            t.started = true;
        }
        at = std::max(at, t.last);
        t.last = at;
        if (ev.kind == EventKind::ThreadStart && !ev.symbol.empty()) {
            t.name = ev.symbol;
        }
        if (isEnter(ev.kind)) {
            const std::size_t frame = frameIndex(ev);
            t.events.push_back(Ev{true, frame, at});
            t.open.push_back(frame);
            ++m_stats.enters;
        } else if (isExit(ev.kind) && !t.open.empty()) {
            // speedscope's close events carry no arguments: a lost exit closes its frame like
            // any other, and is only counted (the CLI summary says how many).
            t.events.push_back(Ev{false, t.open.back(), at});
            t.open.pop_back();
            ++m_stats.exits;
            m_stats.lostExits += ev.lost ? 1 : 0;
        }
    }

    void onFinished(const SessionResult&) override {
        std::string s = "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"shared\":{\"frames\":[";
        for (std::size_t i = 0; i < m_frames.size(); ++i) {
            const FrameInfo& f = m_frames[i];
            s += i ? ",\n" : "\n";
            s += "{\"name\":" + json::quoted(f.name);
            if (!f.file.empty()) {
                s += ",\"file\":" + json::quoted(f.file);
            }
            if (f.line > 0) {
                s += ",\"line\":" + std::to_string(f.line);
            }
            s += "}";
        }
        s += "]},\"profiles\":[";
        std::size_t index = 0;
        std::size_t active = 0;
        for (auto& [tid, t] : m_threads) {
            while (!t.open.empty()) {
                // Still open when the trace ended: close at the thread's last time so O/C balance.
                t.events.push_back(Ev{false, t.open.back(), t.last});
                t.open.pop_back();
                ++m_stats.exits;
                ++m_stats.closedAtEnd;
            }
            if (tid == m_pid) {
                active = index;
            }
            const std::string name = (t.name.empty() ? (tid == m_pid ? std::string("main") : "thread") : t.name) +
                                     " (tid " + std::to_string(tid) + ")";
            s += index ? ",\n" : "\n";
            s += "{\"type\":\"evented\",\"name\":" + json::quoted(name) + ",\"unit\":\"nanoseconds\",\"startValue\":" +
                 std::to_string(t.start) + ",\"endValue\":" + std::to_string(t.last) + ",\"events\":[";
            for (std::size_t i = 0; i < t.events.size(); ++i) {
                const Ev& e = t.events[i];
                s += i ? "," : "";
                s += e.open ? "{\"type\":\"O\",\"frame\":" : "{\"type\":\"C\",\"frame\":";
                s += std::to_string(e.frame) + ",\"at\":" + std::to_string(e.at) + "}";
            }
            s += "]}";
            ++index;
        }
        m_stats.threads = m_threads.size();
        s += "],\"name\":" + json::quoted(m_options.name.empty() ? "layertrace" : m_options.name) +
             ",\"activeProfileIndex\":" + std::to_string(active) +
             ",\"exporter\":" + json::quoted(m_options.exporter.empty() ? "layertrace" : m_options.exporter) + "}\n";
        m_out << s;
        m_out.flush();
    }

private:
    struct FrameInfo {
        std::string name, file;
        int line = 0;
    };
    struct Ev {
        bool open;
        std::size_t frame;
        std::uint64_t at;
    };
    struct Thread {
        std::vector<Ev> events;
        std::vector<std::size_t> open;
        std::string name;
        std::uint64_t start = 0, last = 0;
        bool started = false;
    };

    std::size_t frameIndex(const TraceEvent& ev) {
        const std::string symbol = !ev.pyName.empty() ? ev.pyName : ev.symbol.empty() ? ev.module : ev.symbol;
        // Python functions: their own file (full mode); native code: its object.
        const bool python = ev.kind == EventKind::PyCall;
        std::string file = python && !ev.pyFile.empty() ? ev.pyFile : ev.modulePath;
        const int line = python ? ev.pyLine : 0;
        auto key = std::make_tuple(symbol, std::string(roleName(ev.role)), ev.module, file, line);
        const auto it = m_frameIds.find(key);
        if (it != m_frameIds.end()) {
            return it->second;
        }
        FrameInfo f;
        f.name = symbol + " [" + std::string(roleName(ev.role)) + " " + ev.module + "]";
        f.file = std::move(file);
        f.line = line;
        m_frames.push_back(std::move(f));
        m_frameIds.emplace(std::move(key), m_frames.size() - 1);
        return m_frames.size() - 1;
    }

    std::ostream& m_out;
    ExportOptions m_options;
    ExportStats m_stats;
    std::uint32_t m_pid = 0;
    bool m_haveOrigin = false;
    std::uint64_t m_origin = 0;
    std::map<std::uint32_t, Thread> m_threads;
    std::vector<FrameInfo> m_frames;
    std::map<std::tuple<std::string, std::string, std::string, std::string, int>, std::size_t> m_frameIds;
};

} // namespace

std::unique_ptr<Exporter> makeSpeedscopeExporter(std::ostream& out, ExportOptions options) {
    return std::make_unique<SpeedscopeExporter>(out, std::move(options));
}

} // namespace layertrace::tracer
