// Tree, path and JSON-lines output (see formatters.h).
#include <layertrace/formatters.h>

#include <layertrace/json.h>

#include <cinttypes>
#include <cstdio>

namespace layertrace::tracer {

namespace {

const char* roleColor(Role role) {
    switch (role) {
    case Role::App: return "\x1b[32m";
    case Role::Wrapper: return "\x1b[36m";
    case Role::Pylib: return "\x1b[37m";
    case Role::Ext: return "\x1b[33m";
    case Role::Glue: return "\x1b[35m";
    case Role::Capi: return "\x1b[34m";
    case Role::Ffi: return "\x1b[31m";
    case Role::Native: return "\x1b[1;31m";
    case Role::Unknown: break;
    }
    return "\x1b[0m";
}

std::string duration(std::uint64_t ns) {
    char buf[32];
    if (ns < 1000) {
        std::snprintf(buf, sizeof buf, "%" PRIu64 " ns", ns);
    } else if (ns < 1000000) {
        std::snprintf(buf, sizeof buf, "%.2f us", static_cast<double>(ns) / 1e3);
    } else if (ns < 1000000000) {
        std::snprintf(buf, sizeof buf, "%.2f ms", static_cast<double>(ns) / 1e6);
    } else {
        std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
    }
    return buf;
}

std::string hex(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

std::string valueText(const FfiValue& v) { return v.value.empty() ? v.type : v.type + " " + v.value; }

void appendField(std::string& out, const char* key, std::string_view value) {
    out += ",\"";
    out += key;
    out += "\":";
    json::appendQuoted(out, value);
}

void appendNumber(std::string& out, const char* key, std::uint64_t value) {
    out += ",\"";
    out += key;
    out += "\":";
    out += std::to_string(value);
}

void appendValue(std::string& out, const FfiValue& v) {
    out += "{\"type\":";
    json::appendQuoted(out, v.type);
    out += ",\"value\":";
    json::appendQuoted(out, v.value);
    out += '}';
}

void appendRef(std::string& out, const char* key, const CodeRef& r) {
    out += ",\"";
    out += key;
    out += "\":{\"role\":";
    json::appendQuoted(out, roleName(r.role));
    appendField(out, "module", r.module);
    appendField(out, "symbol", r.symbol);
    appendField(out, "address", hex(r.address));
    out += '}';
}

class TreeFormatter : public EventSink {
public:
    TreeFormatter(std::ostream& out, FormatOptions options) : m_out(out), m_options(options) {}

    void onEvent(const TraceEvent& ev) override {
        std::string line = "[" + std::to_string(ev.tid) + "] ";
        line.append(static_cast<std::size_t>(ev.depth) * 2, ' ');
        if (ev.kind == EventKind::ThreadStart) {
            m_out << line << "thread " << ev.tid << " \"" << ev.symbol << "\"\n";
            return;
        }
        if (ev.kind == EventKind::Dropped) {
            m_out << line << "!! " << ev.dropped << " events dropped by the probe\n";
            return;
        }
        if (isExit(ev.kind)) {
            line += "}";
            if (ev.ret && !ev.ret->type.empty() && ev.ret->type != "void") {
                line += " = " + valueText(*ev.ret);
            }
            if (ev.unwound) {
                line += " unwound";
            } else if (ev.raised) {
                line += " raised";
            }
            line += "  " + duration(ev.durationNs);
            m_out << line << "  " << codeText(ev.module, ev.symbol) << '\n';
            return;
        }
        std::string tag(roleName(ev.role));
        tag.resize(7, ' ');
        if (m_options.color) {
            line += roleColor(ev.role) + tag + "\x1b[0m";
        } else {
            line += tag;
        }
        line += " " + codeText(ev.module, ev.symbol);
        if (ev.kind == EventKind::FfiCall) {
            line += "(";
            for (std::size_t i = 0; i < ev.args.size(); ++i) {
                line += (i ? ", " : "") + valueText(ev.args[i]);
            }
            line += ")";
            if (!ev.target.empty()) {
                line += " -> " + std::string(roleName(ev.target.role)) + " " + codeText(ev.target.module, ev.target.symbol);
            }
        } else if (!ev.pyName.empty() && ev.pyName != ev.symbol) {
            line += " [" + ev.pyName + "]";
        }
        if (ev.kind == EventKind::PyCall && ev.pyLine > 0) {
            line += " line " + std::to_string(ev.pyLine);
        }
        m_out << line << " {\n";
    }

    void onFinished(const SessionResult&) override { m_out.flush(); }

private:
    std::ostream& m_out;
    FormatOptions m_options;
};

class PathFormatter : public EventSink {
public:
    PathFormatter(std::ostream& out, FormatOptions options)
        : m_out(out), m_options(options), m_builder([this](std::uint32_t tid, const std::vector<Hop>& hops) {
              if (m_options.mainPid != 0 && tid != m_options.mainPid) {
                  m_out << "[tid " << tid << "] ";
              }
              if (m_options.color) {
                  for (std::size_t i = 0; i < hops.size(); ++i) {
                      m_out << (i ? " -> " : "") << roleColor(hops[i].role) << roleName(hops[i].role) << "\x1b[0m "
                            << codeText(hops[i].module, hops[i].symbol);
                  }
                  m_out << '\n';
              } else {
                  m_out << formatPath(hops) << '\n';
              }
          }) {}

    void onStarted(std::uint32_t pid) override {
        if (m_options.mainPid == 0) {
            m_options.mainPid = pid;
        }
    }
    void onModule(const ModuleInfo& m) override { m_builder.onModule(m); }
    void onEvent(const TraceEvent& ev) override { m_builder.onEvent(ev); }
    void onFinished(const SessionResult&) override {
        m_builder.finish();
        m_out.flush();
    }

private:
    std::ostream& m_out;
    FormatOptions m_options;
    PathBuilder m_builder;
};

class JsonlFormatter : public EventSink {
public:
    explicit JsonlFormatter(std::ostream& out) : m_out(out) {}
    void onModule(const ModuleInfo& m) override { m_out << moduleToJson(m) << '\n'; }
    void onEvent(const TraceEvent& ev) override { m_out << eventToJson(ev) << '\n'; }
    void onFinished(const SessionResult&) override { m_out.flush(); }

private:
    std::ostream& m_out;
};

} // namespace

std::string codeText(std::string_view module, std::string_view symbol) {
    std::string s(module);
    if (symbol.empty()) {
        return s;
    }
    // No symbol: the symbolizer says "module+0xoffset"; print it once, not "module:module+0x...".
    if (symbol.size() > module.size() && symbol.substr(0, module.size()) == module && symbol[module.size()] == '+') {
        s += symbol.substr(module.size());
        return s;
    }
    s += ':';
    s += symbol;
    return s;
}

std::string formatHop(const Hop& hop) {
    std::string s(roleName(hop.role));
    s += ' ';
    s += codeText(hop.module, hop.symbol);
    return s;
}

std::string formatPath(const std::vector<Hop>& hops) {
    std::string s;
    for (std::size_t i = 0; i < hops.size(); ++i) {
        if (i) {
            s += " -> ";
        }
        s += formatHop(hops[i]);
    }
    return s;
}

bool pathMatches(const DemoPath& expected, const std::vector<Hop>& hops) {
    std::size_t next = 0;
    for (const Hop& h : hops) {
        if (next < expected.hops.size() && expected.hops[next].matches(h.role, h.module, h.symbol)) {
            ++next;
        }
    }
    return next == expected.hops.size();
}

PathBuilder::PathBuilder(Callback callback, std::size_t maxHops)
    : m_callback(std::move(callback)), m_maxHops(maxHops) {}

void PathBuilder::onModule(const ModuleInfo& module) {
    if (module.python) {
        m_python[module.path] = module;
    }
}

Hop PathBuilder::pythonHop(const std::string& file, const std::string& function, Role fallback) const {
    Hop h;
    h.modulePath = file;
    h.symbol = function;
    h.role = fallback;
    if (const auto it = m_python.find(file); it != m_python.end()) {
        h.module = it->second.name;
        h.role = it->second.role;
    } else {
        const auto slash = file.rfind('/');
        h.module = slash == std::string::npos ? file : file.substr(slash + 1);
    }
    return h;
}

void PathBuilder::add(ThreadPaths& t, Hop hop) {
    if (!t.hops.empty() && t.hops.back() == hop) {
        return;
    }
    // Inside a ready-made extension (_ctypes, numpy) the internals are one hop: the learner's
    // question is "which extension", not which of its static functions.
    if (!t.hops.empty() && hop.role == Role::Ext && t.hops.back().role == Role::Ext &&
        t.hops.back().module == hop.module) {
        return;
    }
    if (t.hops.size() >= m_maxHops) {
        ++t.truncated;
        return;
    }
    t.hops.push_back(std::move(hop));
}

void PathBuilder::emit(std::uint32_t tid, ThreadPaths& t) {
    // Python roles may have changed (a file promoted to wrapper) since the hop was added.
    for (auto& h : t.hops) {
        if (const auto it = m_python.find(h.modulePath); it != m_python.end()) {
            h.role = it->second.role;
        }
    }
    // Runs of Python frames of the same file and role collapse to their innermost frame:
    // user.py's <module> -> main is "main". Done here, after the roles were refreshed.
    std::vector<Hop> out;
    for (std::size_t i = 0; i < t.hops.size(); ++i) {
        if (i < t.chainLength && i + 1 < t.chainLength && t.hops[i + 1].role == t.hops[i].role &&
            t.hops[i + 1].module == t.hops[i].module) {
            continue;
        }
        if (!out.empty() && out.back() == t.hops[i]) {
            continue;
        }
        out.push_back(std::move(t.hops[i]));
    }
    if (t.truncated != 0) {
        out.push_back(Hop{Role::Unknown, "...", std::to_string(t.truncated) + " more hops", {}});
    }
    m_callback(tid, out);
    t.chainLength = 0;
    t.active = false;
    t.hops.clear();
    t.truncated = 0;
}

void PathBuilder::onEvent(const TraceEvent& ev) {
    ThreadPaths& t = m_threads[ev.tid];
    if (ev.kind == EventKind::PyCall) {
        Hop h = pythonHop(ev.modulePath, ev.symbol, ev.role);
        if (t.active) {
            add(t, h);
        }
        t.python.push_back(std::move(h));
        return;
    }
    if (ev.kind == EventKind::PyReturn) {
        if (!t.python.empty()) {
            t.python.pop_back();
        }
        return;
    }
    if (isEnter(ev.kind)) {
        // Calls into the interpreter's own C functions (len, isinstance, list.append) are not a
        // crossing into native code in the series' sense; every line of Python makes them.
        if (ev.role == Role::Capi) {
            return;
        }
        if (!t.active) {
            t.active = true;
            t.depth = ev.depth;
            // The event's own stack is the whole truth (Python calls made before tracing began
            // have no PyCall event); the frames tracked from PyCall/PyReturn are the fallback.
            std::vector<Hop> chain;
            for (auto it = ev.stack.rbegin(); it != ev.stack.rend(); ++it) {
                if (it->python) {
                    chain.push_back(pythonHop(it->file, it->function, it->role));
                }
            }
            if (chain.empty()) {
                chain = t.python;
            }
            if (chain.empty() && !ev.pyFile.empty()) {
                chain.push_back(pythonHop(ev.pyFile, {}, Role::Unknown));
            }
            t.hops = std::move(chain);
            t.chainLength = t.hops.size();
        }
        if (ev.kind == EventKind::ClosureEnter) {
            // native -> libffi's closure trampoline -> the extension's dispatcher -> Python
            add(t, Hop{ev.role, ev.module, ev.symbol, ev.modulePath});
            if (!ev.target.module.empty()) {
                add(t, Hop{ev.target.role, ev.target.module, {}, ev.target.modulePath});
            }
        } else if (ev.kind == EventKind::FfiCall) {
            if (!ev.caller.module.empty()) {
                add(t, Hop{ev.caller.role, ev.caller.module, {}, ev.caller.modulePath});
            }
            add(t, Hop{ev.role, ev.module, ev.symbol, ev.modulePath});
            if (!ev.target.empty()) {
                add(t, Hop{ev.target.role, ev.target.module, ev.target.symbol, ev.target.modulePath});
            }
        } else {
            add(t, Hop{ev.role, ev.module, ev.symbol, ev.modulePath});
        }
        return;
    }
    if (isExit(ev.kind) && t.active && ev.depth <= t.depth) {
        emit(ev.tid, t);
    }
}

void PathBuilder::finish() {
    for (auto& [tid, t] : m_threads) {
        if (t.active) {
            emit(tid, t);
        }
    }
}

std::string eventToJson(const TraceEvent& ev) {
    std::string out = "{\"seq\":" + std::to_string(ev.seq);
    appendNumber(out, "ts_ns", ev.tsNs);
    appendNumber(out, "tid", ev.tid);
    appendField(out, "kind", kindName(ev.kind));
    appendField(out, "role", roleName(ev.role));
    appendNumber(out, "layer", static_cast<std::uint64_t>(ev.layer()));
    appendField(out, "module", ev.module);
    appendField(out, "symbol", ev.symbol);
    appendNumber(out, "depth", ev.depth);
    if (!ev.modulePath.empty()) {
        appendField(out, "module_path", ev.modulePath);
    }
    if (ev.address != 0) {
        appendField(out, "address", hex(ev.address));
    }
    if (!ev.pyName.empty()) {
        appendField(out, "py_name", ev.pyName);
    }
    if (!ev.sourceFile.empty()) {
        appendField(out, "src_file", ev.sourceFile);
        appendNumber(out, "src_line", static_cast<std::uint64_t>(ev.sourceLine < 0 ? 0 : ev.sourceLine));
    }
    if (!ev.pyFile.empty()) {
        appendField(out, "py_file", ev.pyFile);
        appendNumber(out, "py_line", static_cast<std::uint64_t>(ev.pyLine < 0 ? 0 : ev.pyLine));
    }
    if (ev.kind == EventKind::FfiCall || !ev.args.empty()) {
        out += ",\"args\":[";
        for (std::size_t i = 0; i < ev.args.size(); ++i) {
            if (i) {
                out += ',';
            }
            appendValue(out, ev.args[i]);
        }
        out += ']';
    }
    if (ev.ret) {
        out += ",\"ret\":";
        appendValue(out, *ev.ret);
    }
    if (isExit(ev.kind)) {
        appendNumber(out, "duration_ns", ev.durationNs);
    }
    if (ev.raised) {
        out += ",\"raised\":true";
    }
    if (ev.unwound) {
        out += ",\"unwound\":true";
    }
    if (ev.kind == EventKind::Dropped) {
        appendNumber(out, "dropped", ev.dropped);
    }
    if (!ev.caller.empty()) {
        appendRef(out, "caller", ev.caller);
    }
    if (!ev.target.empty()) {
        appendRef(out, "target", ev.target);
    }
    if (!ev.reason.empty()) {
        appendField(out, "reason", ev.reason);
    }
    if (!ev.stack.empty()) {
        out += ",\"stack\":[";
        for (std::size_t i = 0; i < ev.stack.size(); ++i) {
            const StackFrame& f = ev.stack[i];
            out += i ? ",{" : "{";
            out += f.python ? "\"python\":true" : "\"python\":false";
            appendField(out, "function", f.function);
            appendField(out, "module", f.module);
            appendField(out, "role", roleName(f.role));
            if (!f.file.empty()) {
                appendField(out, "file", f.file);
                appendNumber(out, "line", static_cast<std::uint64_t>(f.line < 0 ? 0 : f.line));
            }
            if (!f.python) {
                appendField(out, "ip", hex(f.ip));
            }
            out += '}';
        }
        out += ']';
        out += ev.stackUnmerged ? ",\"stack_merged\":false" : ",\"stack_merged\":true";
    }
    out += '}';
    return out;
}

std::string moduleToJson(const ModuleInfo& m) {
    std::string out = "{\"kind\":\"module_load\"";
    appendField(out, "role", roleName(m.role));
    appendNumber(out, "layer", static_cast<std::uint64_t>(layerOf(m.role)));
    appendField(out, "module", m.name);
    appendField(out, "module_path", m.path);
    out += m.python ? ",\"python\":true" : ",\"python\":false";
    if (!m.python) {
        appendField(out, "base", hex(m.base));
    }
    appendField(out, "reason", m.reason);
    out += '}';
    return out;
}

std::unique_ptr<EventSink> makeFormatter(OutputFormat format, std::ostream& out, FormatOptions options) {
    switch (format) {
    case OutputFormat::Tree: return std::make_unique<TreeFormatter>(out, options);
    case OutputFormat::Path: return std::make_unique<PathFormatter>(out, options);
    case OutputFormat::Jsonl: return std::make_unique<JsonlFormatter>(out);
    }
    return std::make_unique<TreeFormatter>(out, options);
}

void TeeSink::onStarted(std::uint32_t pid) {
    for (auto* s : m_sinks) s->onStarted(pid);
}
void TeeSink::onConnected(std::uint32_t pid, const std::string& pythonVersion) {
    for (auto* s : m_sinks) s->onConnected(pid, pythonVersion);
}
void TeeSink::onModule(const ModuleInfo& module) {
    for (auto* s : m_sinks) s->onModule(module);
}
void TeeSink::onEvent(const TraceEvent& event) {
    for (auto* s : m_sinks) s->onEvent(event);
}
void TeeSink::onReport(const ProbeReport& report) {
    for (auto* s : m_sinks) s->onReport(report);
}
void TeeSink::onDropped(std::uint32_t tid, std::uint64_t count) {
    for (auto* s : m_sinks) s->onDropped(tid, count);
}
void TeeSink::onFinished(const SessionResult& result) {
    for (auto* s : m_sinks) s->onFinished(result);
}

} // namespace layertrace::tracer
