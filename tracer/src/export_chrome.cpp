// Chrome Trace Event JSON export (see export.h): streamed as events arrive, B/E per call with
// roles as categories, thread_name metadata per track, and s/f flow arrows for every hop between
// roles; calls still open at the end are closed at the last timestamp so B/E always balance.
#include <layertrace/export.h>

#include <layertrace/json.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <vector>

namespace layertrace::tracer {

namespace {

std::string micros(std::uint64_t ns) {
    // Chrome's ts unit is the microsecond; three decimals keep the nanoseconds exact.
    char buf[40];
    std::snprintf(buf, sizeof buf, "%" PRIu64 ".%03" PRIu64, ns / 1000, ns % 1000);
    return buf;
}

std::string valueText(const FfiValue& v) { return v.value.empty() ? v.type : v.type + " " + v.value; }

class ChromeExporter : public Exporter {
public:
    ChromeExporter(std::ostream& out, ExportOptions options) : m_out(out), m_options(std::move(options)) {}

    const ExportStats& stats() const override { return m_stats; }

    void onStarted(std::uint32_t pid) override { m_pid = pid; }

    void onEvent(const TraceEvent& ev) override {
        if (!m_haveOrigin) {
            m_origin = ev.tsNs;
            m_haveOrigin = true;
        }
        const std::uint64_t ts = ev.tsNs < m_origin ? 0 : ev.tsNs - m_origin;
        m_last = std::max(m_last, ts);
        Thread& t = thread(ev.tid);
        if (isEnter(ev.kind)) {
            const std::string name = displayName(ev);
            const std::string cat(roleName(ev.role));
            if (!t.open.empty() && t.open.back().role != ev.role) {
                const std::uint64_t id = ++m_flowId;
                const std::string flow = std::string(roleName(t.open.back().role)) + " -> " + cat;
                beginEvent();
                m_line = "{\"ph\":\"s\",\"cat\":\"hop\",\"name\":" + json::quoted(flow) + ",\"id\":" +
                         std::to_string(id) + common(ev.tid, ts) + "}";
                write();
                m_pendingFlow = id;
                m_pendingFlowName = flow;
            }
            beginEvent();
            m_line = "{\"ph\":\"B\",\"name\":" + json::quoted(name) + ",\"cat\":" + json::quoted(cat) +
                     common(ev.tid, ts) + ",\"args\":" + enterArgs(ev) + "}";
            write();
            ++m_stats.enters;
            if (m_pendingFlow != 0) {
                // Bound to the enclosing slice, which is now the callee's.
                beginEvent();
                m_line = "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"hop\",\"name\":" + json::quoted(m_pendingFlowName) +
                         ",\"id\":" + std::to_string(m_pendingFlow) + common(ev.tid, ts) + "}";
                write();
                ++m_stats.flows;
                m_pendingFlow = 0;
            }
            t.open.push_back(Open{name, cat, ev.role});
            return;
        }
        if (isExit(ev.kind)) {
            if (t.open.empty()) {
                return; // an exit whose enter came before the trace started
            }
            const Open o = t.open.back();
            t.open.pop_back();
            std::string args = "{\"duration_ns\":" + std::to_string(ev.durationNs);
            if (ev.ret) {
                args += ",\"ret\":" + json::quoted(valueText(*ev.ret));
            }
            if (ev.raised) {
                args += ",\"raised\":true";
            }
            if (ev.unwound) {
                args += ",\"unwound\":true";
            }
            if (ev.lost) {
                args += ",\"lost\":true";
                ++m_stats.lostExits;
            }
            args += "}";
            beginEvent();
            m_line = "{\"ph\":\"E\",\"name\":" + json::quoted(o.name) + ",\"cat\":" + json::quoted(o.cat) +
                     common(ev.tid, ts) + ",\"args\":" + args + "}";
            write();
            ++m_stats.exits;
            return;
        }
        std::string name;
        switch (ev.kind) {
        case EventKind::ThreadStart:
            t.name = ev.symbol;
            name = "thread start" + (ev.symbol.empty() ? std::string() : " \"" + ev.symbol + "\"");
            break;
        case EventKind::ThreadExit: name = "thread exit"; break;
        case EventKind::Dropped: name = std::to_string(ev.dropped) + " events dropped by the probe"; break;
        case EventKind::ModuleLoad: name = "load " + ev.module; break;
        default: name = std::string(kindName(ev.kind)); break;
        }
        beginEvent();
        m_line = "{\"ph\":\"i\",\"s\":\"t\",\"name\":" + json::quoted(name) + ",\"cat\":" +
                 json::quoted(roleName(ev.role)) + common(ev.tid, ts) + "}";
        write();
        ++m_stats.instants;
    }

    void onFinished(const SessionResult& result) override {
        for (auto& [tid, t] : m_threads) {
            while (!t.open.empty()) {
                const Open o = t.open.back();
                t.open.pop_back();
                beginEvent();
                m_line = "{\"ph\":\"E\",\"name\":" + json::quoted(o.name) + ",\"cat\":" + json::quoted(o.cat) +
                         common(tid, m_last) + ",\"args\":{\"open_at_end\":true}}";
                write();
                ++m_stats.exits;
                ++m_stats.closedAtEnd;
            }
            beginEvent();
            const std::string name = !t.name.empty() ? t.name : tid == m_pid ? "main" : "thread " + std::to_string(tid);
            m_line = "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(m_pid) +
                     ",\"tid\":" + std::to_string(tid) + ",\"args\":{\"name\":" + json::quoted(name) + "}}";
            write();
        }
        beginEvent();
        m_line = "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(m_pid) + ",\"tid\":" +
                 std::to_string(m_pid) + ",\"args\":{\"name\":" +
                 json::quoted(m_options.name.empty() ? "layertrace" : m_options.name) + "}}";
        write();
        m_stats.threads = m_threads.size();
        if (!m_begun) {
            m_out << "{\"traceEvents\":[";
        }
        m_out << "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"exporter\":" << json::quoted(m_options.exporter)
              << ",\"origin_ts_ns\":" << m_origin << ",\"exit_status\":" << result.exitStatus
              << ",\"dropped\":" << result.dropped << "}}\n";
        m_out.flush();
    }

private:
    struct Open {
        std::string name, cat;
        Role role;
    };
    struct Thread {
        std::vector<Open> open;
        std::string name;
    };

    Thread& thread(std::uint32_t tid) { return m_threads[tid]; }

    static std::string displayName(const TraceEvent& ev) {
        if (!ev.pyName.empty()) {
            return ev.pyName;
        }
        if (ev.symbol.empty()) {
            return ev.module;
        }
        return ev.symbol;
    }

    std::string common(std::uint32_t tid, std::uint64_t ts) const {
        return ",\"pid\":" + std::to_string(m_pid) + ",\"tid\":" + std::to_string(tid) + ",\"ts\":" + micros(ts);
    }

    static std::string enterArgs(const TraceEvent& ev) {
        std::string a = "{\"kind\":" + json::quoted(kindName(ev.kind)) + ",\"role\":" + json::quoted(roleName(ev.role)) +
                        ",\"layer\":" + std::to_string(static_cast<int>(ev.layer())) +
                        ",\"module\":" + json::quoted(ev.module) + ",\"symbol\":" + json::quoted(ev.symbol);
        if (!ev.modulePath.empty()) {
            a += ",\"module_path\":" + json::quoted(ev.modulePath);
        }
        if (!ev.pyFile.empty()) {
            a += ",\"py_file\":" + json::quoted(ev.pyFile) + ",\"py_line\":" + std::to_string(ev.pyLine);
        }
        if (!ev.args.empty()) {
            std::string list;
            for (std::size_t i = 0; i < ev.args.size(); ++i) {
                list += (i ? ", " : "") + valueText(ev.args[i]);
            }
            a += ",\"args\":" + json::quoted(list);
        }
        if (!ev.caller.empty()) {
            a += ",\"caller\":" + json::quoted(std::string(roleName(ev.caller.role)) + " " + ev.caller.module +
                                               (ev.caller.symbol.empty() ? "" : ":" + ev.caller.symbol));
        }
        if (!ev.target.empty()) {
            a += ",\"target\":" + json::quoted(std::string(roleName(ev.target.role)) + " " + ev.target.module +
                                               (ev.target.symbol.empty() ? "" : ":" + ev.target.symbol));
        }
        if (!ev.stack.empty()) {
            // The innermost frame with a source location: where in the code this call happened.
            for (const auto& f : ev.stack) {
                if (!f.file.empty()) {
                    a += ",\"source\":" + json::quoted(f.file + ":" + std::to_string(f.line));
                    break;
                }
            }
        }
        if (!ev.reason.empty()) {
            a += ",\"reason\":" + json::quoted(ev.reason);
        }
        return a + "}";
    }

    void beginEvent() {
        if (!m_begun) {
            m_out << "{\"traceEvents\":[\n";
            m_begun = true;
            m_first = true;
        }
    }
    void write() {
        if (!m_first) {
            m_out << ",\n";
        }
        m_first = false;
        m_out << m_line;
    }

    std::ostream& m_out;
    ExportOptions m_options;
    ExportStats m_stats;
    std::uint32_t m_pid = 0;
    bool m_haveOrigin = false;
    std::uint64_t m_origin = 0;
    std::uint64_t m_last = 0;
    std::map<std::uint32_t, Thread> m_threads;
    std::uint64_t m_flowId = 0;
    std::uint64_t m_pendingFlow = 0;
    std::string m_pendingFlowName;
    bool m_begun = false;
    bool m_first = true;
    std::string m_line;
};

} // namespace

std::unique_ptr<Exporter> makeChromeExporter(std::ostream& out, ExportOptions options) {
    return std::make_unique<ChromeExporter>(out, std::move(options));
}

std::unique_ptr<Exporter> makeExporter(ExportFormat format, std::ostream& out, ExportOptions options) {
    return format == ExportFormat::Chrome ? makeChromeExporter(out, std::move(options))
                                          : makeSpeedscopeExporter(out, std::move(options));
}

} // namespace layertrace::tracer
