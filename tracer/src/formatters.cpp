// Tree, path and JSON-lines output (see formatters.h).
#include <layertrace/formatters.h>

#include <layertrace/json.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace layertrace::tracer {

namespace {

std::size_t jsonSizeBound(const TraceEvent& ev);
char* writeEventJson(char* out, const TraceEvent& ev);

// One finished line to the stream's buffer. Straight to the streambuf: the ostream::write sentry
// costs as much as a short line's copy; a short write still marks the stream bad, as write does.
// In pieces under 1 KiB: libstdc++'s filebuf writes a piece of 1 KiB or more straight through
// with its own write(2), whatever its buffer's size, and a jsonl line with a stack is longer
// (one system call per event, measured: 50,000 writev for 100,000 events).
void writeLine(std::ostream& out, const char* data, std::size_t size) {
    constexpr std::size_t kPiece = 1000;
    std::streambuf& buffer = *out.rdbuf();
    while (size > 0) {
        const std::size_t piece = size < kPiece ? size : kPiece;
        const auto n = static_cast<std::streamsize>(piece);
        if (buffer.sputn(data, n) != n) {
            out.setstate(std::ios::badbit);
            return;
        }
        data += piece;
        size -= piece;
    }
}

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

// "850 ns", "1.25 us", "3.10 ms", "2.00 s": what printf("%.2f") gives, without printf (the tree
// prints one per exit).
void appendDuration(std::string& out, std::uint64_t ns) {
    char buf[48];
    char* end;
    const char* unit;
    if (ns < 1000) {
        end = std::to_chars(buf, buf + sizeof buf, ns).ptr;
        unit = " ns";
    } else {
        const bool us = ns < 1000000, ms = ns < 1000000000;
        const double scaled = static_cast<double>(ns) / (us ? 1e3 : ms ? 1e6 : 1e9);
        end = std::to_chars(buf, buf + sizeof buf, scaled, std::chars_format::fixed, 2).ptr;
        unit = us ? " us" : ms ? " ms" : " s";
    }
    out.append(buf, static_cast<std::size_t>(end - buf));
    out += unit;
}

void appendUnsigned(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void appendHex(std::string& out, std::uint64_t v) {
    char buf[24] = {'0', 'x'};
    const auto r = std::to_chars(buf + 2, buf + sizeof buf, v, 16);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void appendValueText(std::string& out, const FfiValue& v) {
    out += v.type;
    if (!v.value.empty()) {
        out += ' ';
        out += v.value;
    }
}

// Keys are literals: their length is known at compile time (no strlen per field).
template <std::size_t N>
void appendKey(std::string& out, const char (&key)[N]) {
    out.append(",\"", 2);
    out.append(key, N - 1);
    out.append("\":", 2);
}

template <std::size_t N>
void appendField(std::string& out, const char (&key)[N], std::string_view value) {
    appendKey(out, key);
    json::appendQuoted(out, value);
}

template <std::size_t N>
void appendHexField(std::string& out, const char (&key)[N], std::uint64_t value) {
    appendKey(out, key);
    out += '"';
    appendHex(out, value);
    out += '"';
}

template <std::size_t N>
void appendNumber(std::string& out, const char (&key)[N], std::uint64_t value) {
    appendKey(out, key);
    appendUnsigned(out, value);
}

class TreeFormatter : public EventSink {
public:
    TreeFormatter(std::ostream& out, FormatOptions options) : m_out(out), m_options(options) {}

    void onEvent(const TraceEvent& ev) override {
        // One reused line buffer: no allocation per event once it has grown.
        std::string& line = m_line;
        line.clear();
        line += '[';
        appendUnsigned(line, ev.tid);
        line += "] ";
        line.append(static_cast<std::size_t>(ev.depth) * 2, ' ');
        if (ev.kind == EventKind::ThreadStart) {
            line += "thread ";
            appendUnsigned(line, ev.tid);
            line += " \"";
            line += ev.symbol;
            line += "\"\n";
        } else if (ev.kind == EventKind::Dropped) {
            line += "!! ";
            appendUnsigned(line, ev.dropped);
            line += " events dropped by the probe\n";
        } else if (isExit(ev.kind)) {
            line += '}';
            if (ev.ret && !ev.ret->type.empty() && ev.ret->type != "void") {
                line += " = ";
                appendValueText(line, *ev.ret);
            }
            if (ev.lost) {
                line += " lost";
            } else if (ev.unwound) {
                line += " unwound";
            } else if (ev.raised) {
                line += " raised";
            }
            line += "  ";
            appendDuration(line, ev.durationNs);
            line += "  ";
            appendCodeText(line, ev.module, ev.symbol);
            line += '\n';
        } else {
            const std::string_view role = roleName(ev.role);
            if (m_options.color) {
                line += roleColor(ev.role);
            }
            line += role;
            line.append(role.size() < 7 ? 7 - role.size() : 0, ' ');
            if (m_options.color) {
                line += "\x1b[0m";
            }
            line += ' ';
            appendCodeText(line, ev.module, ev.symbol);
            if (ev.kind == EventKind::FfiCall) {
                line += '(';
                for (std::size_t i = 0; i < ev.args.size(); ++i) {
                    if (i) {
                        line += ", ";
                    }
                    appendValueText(line, ev.args[i]);
                }
                line += ')';
                if (!ev.target.empty()) {
                    line += " -> ";
                    line += roleName(ev.target.role);
                    line += ' ';
                    appendCodeText(line, ev.target.module, ev.target.symbol);
                }
            } else if (!ev.pyName.empty() && ev.pyName != ev.symbol) {
                line += " [";
                line += ev.pyName;
                line += ']';
            }
            if (ev.kind == EventKind::PyCall && ev.pyLine > 0) {
                line += " line ";
                appendUnsigned(line, static_cast<std::uint64_t>(ev.pyLine));
            }
            line += " {\n";
        }
        writeLine(m_out, line.data(), line.size());
    }

    void onIdle() override { m_out.flush(); }
    void onFinished(const SessionResult&) override { m_out.flush(); }

private:
    std::ostream& m_out;
    FormatOptions m_options;
    std::string m_line;
};

class PathFormatter : public EventSink {
public:
    PathFormatter(std::ostream& out, FormatOptions options)
        : m_out(out), m_options(options), m_builder([this](std::uint32_t tid, const std::vector<Hop>& hops) {
              std::string& line = m_line;
              line.clear();
              if (m_options.mainPid != 0 && tid != m_options.mainPid) {
                  line += "[tid ";
                  appendUnsigned(line, tid);
                  line += "] ";
              }
              if (m_options.color) {
                  for (std::size_t i = 0; i < hops.size(); ++i) {
                      line += i ? " -> " : "";
                      line += roleColor(hops[i].role);
                      line += roleName(hops[i].role);
                      line += "\x1b[0m ";
                      appendCodeText(line, hops[i].module, hops[i].symbol);
                  }
              } else {
                  appendPath(line, hops);
              }
              line += '\n';
              writeLine(m_out, line.data(), line.size());
          }) {}

    void onStarted(std::uint32_t pid) override {
        if (m_options.mainPid == 0) {
            m_options.mainPid = pid;
        }
    }
    void onModule(const ModuleInfo& m) override { m_builder.onModule(m); }
    void onEvent(const TraceEvent& ev) override { m_builder.onEvent(ev); }
    void onIdle() override { m_out.flush(); }
    void onFinished(const SessionResult&) override {
        m_builder.finish();
        m_out.flush();
    }

private:
    std::ostream& m_out;
    FormatOptions m_options;
    std::string m_line; // reused for every line
    PathBuilder m_builder;
};

class JsonlFormatter : public EventSink {
public:
    explicit JsonlFormatter(std::ostream& out) : m_out(out) {}
    void onModule(const ModuleInfo& m) override { m_out << moduleToJson(m) << '\n'; }
    void onEvent(const TraceEvent& ev) override {
        const std::size_t bound = jsonSizeBound(ev) + 1;
        if (m_line.size() < bound) {
            m_line.resize(bound); // only grows: no clearing or filling per event
        }
        char* end = writeEventJson(m_line.data(), ev);
        *end++ = '\n';
        writeLine(m_out, m_line.data(), static_cast<std::size_t>(end - m_line.data()));
    }
    void onIdle() override { m_out.flush(); }
    void onFinished(const SessionResult&) override { m_out.flush(); }

private:
    std::ostream& m_out;
    std::string m_line; // reused for every event
};

} // namespace

void appendCodeText(std::string& out, std::string_view module, std::string_view symbol) {
    out += module;
    if (symbol.empty()) {
        return;
    }
    // No symbol: the symbolizer says "module+0xoffset"; print it once, not "module:module+0x...".
    if (symbol.size() > module.size() && symbol.substr(0, module.size()) == module && symbol[module.size()] == '+') {
        out += symbol.substr(module.size());
        return;
    }
    out += ':';
    out += symbol;
}

std::string codeText(std::string_view module, std::string_view symbol) {
    std::string s;
    appendCodeText(s, module, symbol);
    return s;
}

std::string formatHop(const Hop& hop) {
    std::string s(roleName(hop.role));
    s += ' ';
    appendCodeText(s, hop.module, hop.symbol);
    return s;
}

void appendPath(std::string& out, const std::vector<Hop>& hops) {
    for (std::size_t i = 0; i < hops.size(); ++i) {
        if (i) {
            out += " -> ";
        }
        out += roleName(hops[i].role);
        out += ' ';
        appendCodeText(out, hops[i].module, hops[i].symbol);
    }
}

std::string formatPath(const std::vector<Hop>& hops) {
    std::string s;
    appendPath(s, hops);
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

namespace {
// The next free slot of a list whose storage is kept between uses.
Hop& nextSlot(std::vector<Hop>& hops, std::size_t& count) {
    if (count == hops.size()) {
        hops.emplace_back();
    }
    return hops[count++];
}

void setHop(Hop& h, Role role, std::string_view module, std::string_view symbol, std::string_view modulePath) {
    h.role = role;
    h.module.assign(module);
    h.symbol.assign(symbol);
    h.modulePath.assign(modulePath);
}

bool isPythonRole(Role role) {
    return role == Role::App || role == Role::Wrapper || role == Role::Pylib || role == Role::Unknown;
}
} // namespace

void PathBuilder::setPythonHop(Hop& h, const std::string& file, std::string_view function, Role fallback) const {
    h.modulePath.assign(file);
    h.symbol.assign(function);
    h.role = fallback;
    if (const auto it = m_python.find(file); it != m_python.end()) {
        h.module.assign(it->second.name);
        h.role = it->second.role;
    } else {
        const auto slash = file.rfind('/');
        h.module.assign(slash == std::string::npos ? std::string_view(file) : std::string_view(file).substr(slash + 1));
    }
}

void PathBuilder::add(ThreadPaths& t, Role role, std::string_view module, std::string_view symbol,
                      std::string_view modulePath) {
    if (t.hopCount != 0) {
        const Hop& last = t.hops[t.hopCount - 1];
        if (last.role == role && last.module == module && last.symbol == symbol) {
            return;
        }
        // Inside a ready-made extension (_ctypes, numpy) the internals are one hop: the learner's
        // question is "which extension", not which of its static functions.
        if (role == Role::Ext && last.role == Role::Ext && last.module == module) {
            return;
        }
    }
    if (t.hopCount >= m_maxHops) {
        ++t.truncated;
        return;
    }
    setHop(nextSlot(t.hops, t.hopCount), role, module, symbol, modulePath);
}

void PathBuilder::emit(std::uint32_t tid, ThreadPaths& t) {
    // Python roles may have changed (a file promoted to wrapper) since the hop was added.
    for (std::size_t i = 0; i < t.hopCount; ++i) {
        Hop& h = t.hops[i];
        if (!isPythonRole(h.role)) {
            continue; // native code: its role does not change, and m_python has only Python files
        }
        if (const auto it = m_python.find(h.modulePath); it != m_python.end()) {
            h.role = it->second.role;
        }
    }
    // Runs of Python frames of the same file and role collapse to their innermost frame:
    // user.py's <module> -> main is "main". Done here, after the roles were refreshed.
    std::size_t n = 0;
    for (std::size_t i = 0; i < t.hopCount; ++i) {
        const Hop& h = t.hops[i];
        if (i < t.chainLength && i + 1 < t.chainLength && t.hops[i + 1].role == h.role &&
            t.hops[i + 1].module == h.module) {
            continue;
        }
        if (n != 0 && m_line[n - 1] == h) {
            continue;
        }
        setHop(nextSlot(m_line, n), h.role, h.module, h.symbol, h.modulePath);
    }
    if (t.truncated != 0) {
        setHop(nextSlot(m_line, n), Role::Unknown, "...", std::to_string(t.truncated) + " more hops", {});
    }
    if (t.lostExits != 0) {
        // Some calls of this path were closed by the tracer, not by their own exit: the hops
        // entered after one of those may belong to a different call than they seem to.
        setHop(nextSlot(m_line, n), Role::Unknown, "...", std::to_string(t.lostExits) + " exits lost", {});
    }
    m_line.resize(n); // the callback sees exactly this path's hops
    m_callback(tid, m_line);
    t.chainLength = 0;
    t.active = false;
    t.hopCount = 0;
    t.truncated = 0;
    t.lostExits = 0;
}

void PathBuilder::onEvent(const TraceEvent& ev) {
    ThreadPaths& t = m_threads[ev.tid];
    if (ev.kind == EventKind::PyCall) {
        Hop& h = nextSlot(t.python, t.pythonOpen);
        setPythonHop(h, ev.modulePath, ev.symbol, ev.role);
        if (t.active) {
            add(t, h.role, h.module, h.symbol, h.modulePath);
        }
        return;
    }
    if (ev.kind == EventKind::PyReturn) {
        if (t.pythonOpen != 0) {
            --t.pythonOpen;
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
            t.hopCount = 0;
            for (auto it = ev.stack.rbegin(); it != ev.stack.rend(); ++it) {
                if (it->python) {
                    setPythonHop(nextSlot(t.hops, t.hopCount), it->file, it->function, it->role);
                }
            }
            if (t.hopCount == 0) {
                for (std::size_t i = 0; i < t.pythonOpen; ++i) {
                    const Hop& p = t.python[i];
                    setHop(nextSlot(t.hops, t.hopCount), p.role, p.module, p.symbol, p.modulePath);
                }
            }
            if (t.hopCount == 0 && !ev.pyFile.empty()) {
                setPythonHop(nextSlot(t.hops, t.hopCount), ev.pyFile, {}, Role::Unknown);
            }
            t.chainLength = t.hopCount;
        }
        if (ev.kind == EventKind::ClosureEnter) {
            // native -> libffi's closure trampoline -> the extension's dispatcher -> Python
            add(t, ev.role, ev.module, ev.symbol, ev.modulePath);
            if (!ev.target.module.empty()) {
                add(t, ev.target.role, ev.target.module, {}, ev.target.modulePath);
            }
        } else if (ev.kind == EventKind::FfiCall) {
            if (!ev.caller.module.empty()) {
                add(t, ev.caller.role, ev.caller.module, {}, ev.caller.modulePath);
            }
            add(t, ev.role, ev.module, ev.symbol, ev.modulePath);
            if (!ev.target.empty()) {
                add(t, ev.target.role, ev.target.module, ev.target.symbol, ev.target.modulePath);
            }
        } else {
            add(t, ev.role, ev.module, ev.symbol, ev.modulePath);
        }
        return;
    }
    if (isExit(ev.kind) && t.active) {
        t.lostExits += ev.lost ? 1 : 0;
        if (ev.depth <= t.depth) {
            emit(ev.tid, t);
        }
    }
}

void PathBuilder::finish() {
    for (auto& [tid, t] : m_threads) {
        if (t.active) {
            emit(tid, t);
        }
    }
}

namespace {

// Writes one JSON object into memory sized by jsonSizeBound: no capacity check per field, one
// buffer per line (--format jsonl writes every event this way).
class JsonWriter {
public:
    explicit JsonWriter(char* out) : m_p(out) {}
    char* end() const { return m_p; }

    template <std::size_t N>
    void raw(const char (&text)[N]) {
        std::memcpy(m_p, text, N - 1);
        m_p += N - 1;
    }
    void raw(char c) { *m_p++ = c; }
    void quoted(std::string_view s) { m_p = json::writeQuoted(m_p, s); }
    // A name of ours (roleName, kindName): plain identifiers, nothing to escape.
    void identifier(std::string_view s) {
        *m_p++ = '"';
        std::memcpy(m_p, s.data(), s.size());
        m_p += s.size();
        *m_p++ = '"';
    }
    void unsignedValue(std::uint64_t v) { m_p = std::to_chars(m_p, m_p + 20, v).ptr; }
    void hexValue(std::uint64_t v) {
        raw("\"0x");
        m_p = std::to_chars(m_p, m_p + 16, v, 16).ptr;
        raw('"');
    }
    // Keys are literals: their length is known at compile time.
    template <std::size_t N>
    void key(const char (&name)[N]) {
        raw(",\"");
        raw(name);
        raw("\":");
    }
    template <std::size_t N>
    void field(const char (&name)[N], std::string_view value) {
        key(name);
        quoted(value);
    }
    template <std::size_t N>
    void number(const char (&name)[N], std::uint64_t value) {
        key(name);
        unsignedValue(value);
    }
    template <std::size_t N>
    void hexField(const char (&name)[N], std::uint64_t value) {
        key(name);
        hexValue(value);
    }
    void value(const FfiValue& v) {
        raw("{\"type\":");
        quoted(v.type);
        raw(",\"value\":");
        quoted(v.value);
        raw('}');
    }
    template <std::size_t N>
    void ref(const char (&name)[N], const CodeRef& r) {
        key(name);
        raw("{\"role\":");
        identifier(roleName(r.role));
        field("module", r.module);
        field("symbol", r.symbol);
        hexField("address", r.address);
        raw('}');
    }

private:
    char* m_p;
};

// Room enough for an event's JSON: every string escaped at its worst, plus keys and numbers.
std::size_t jsonSizeBound(const TraceEvent& ev) {
    std::size_t text = ev.module.size() + ev.symbol.size() + ev.modulePath.size() + ev.pyName.size() +
                       ev.sourceFile.size() + ev.pyFile.size() + ev.reason.size() + ev.caller.module.size() +
                       ev.caller.symbol.size() + ev.target.module.size() + ev.target.symbol.size();
    for (const FfiValue& a : ev.args) {
        text += a.type.size() + a.value.size();
    }
    if (ev.ret) {
        text += ev.ret->type.size() + ev.ret->value.size();
    }
    for (const StackFrame& f : ev.stack) {
        text += f.function.size() + f.module.size() + f.file.size();
    }
    return json::maxQuotedSize(text) + 1024 + 64 * (ev.args.size() + 1) + 192 * ev.stack.size();
}

char* writeEventJson(char* out, const TraceEvent& ev) {
    JsonWriter w(out);
    w.raw("{\"seq\":");
    w.unsignedValue(ev.seq);
    w.number("ts_ns", ev.tsNs);
    w.number("tid", ev.tid);
    w.key("kind");
    w.identifier(kindName(ev.kind));
    w.key("role");
    w.identifier(roleName(ev.role));
    w.number("layer", static_cast<std::uint64_t>(ev.layer()));
    w.field("module", ev.module);
    w.field("symbol", ev.symbol);
    w.number("depth", ev.depth);
    if (!ev.modulePath.empty()) {
        w.field("module_path", ev.modulePath);
    }
    if (ev.address != 0) {
        w.hexField("address", ev.address);
    }
    if (!ev.pyName.empty()) {
        w.field("py_name", ev.pyName);
    }
    if (!ev.sourceFile.empty()) {
        w.field("src_file", ev.sourceFile);
        w.number("src_line", static_cast<std::uint64_t>(ev.sourceLine < 0 ? 0 : ev.sourceLine));
    }
    if (!ev.pyFile.empty()) {
        w.field("py_file", ev.pyFile);
        w.number("py_line", static_cast<std::uint64_t>(ev.pyLine < 0 ? 0 : ev.pyLine));
    }
    if (ev.kind == EventKind::FfiCall || !ev.args.empty()) {
        w.raw(",\"args\":[");
        for (std::size_t i = 0; i < ev.args.size(); ++i) {
            if (i) {
                w.raw(',');
            }
            w.value(ev.args[i]);
        }
        w.raw(']');
    }
    if (ev.ret) {
        w.raw(",\"ret\":");
        w.value(*ev.ret);
    }
    if (isExit(ev.kind)) {
        w.number("duration_ns", ev.durationNs);
    }
    if (ev.raised) {
        w.raw(",\"raised\":true");
    }
    if (ev.unwound) {
        w.raw(",\"unwound\":true");
    }
    if (ev.lost) {
        w.raw(",\"lost\":true");
    }
    if (ev.kind == EventKind::Dropped) {
        w.number("dropped", ev.dropped);
    }
    if (!ev.caller.empty()) {
        w.ref("caller", ev.caller);
    }
    if (!ev.target.empty()) {
        w.ref("target", ev.target);
    }
    if (!ev.reason.empty()) {
        w.field("reason", ev.reason);
    }
    if (!ev.stack.empty()) {
        w.raw(",\"stack\":[");
        for (std::size_t i = 0; i < ev.stack.size(); ++i) {
            const StackFrame& f = ev.stack[i];
            if (i) {
                w.raw(',');
            }
            w.raw('{');
            if (f.python) {
                w.raw("\"python\":true");
            } else {
                w.raw("\"python\":false");
            }
            w.field("function", f.function);
            w.field("module", f.module);
            w.key("role");
            w.identifier(roleName(f.role));
            if (!f.file.empty()) {
                w.field("file", f.file);
                w.number("line", static_cast<std::uint64_t>(f.line < 0 ? 0 : f.line));
            }
            if (!f.python) {
                w.hexField("ip", f.ip);
            }
            w.raw('}');
        }
        w.raw(']');
        if (ev.stackUnmerged) {
            w.raw(",\"stack_merged\":false");
        } else {
            w.raw(",\"stack_merged\":true");
        }
    }
    w.raw('}');
    return w.end();
}

} // namespace

void appendEventJson(std::string& out, const TraceEvent& ev) {
    const std::size_t old = out.size();
    out.resize(old + jsonSizeBound(ev));
    char* end = writeEventJson(out.data() + old, ev);
    out.resize(static_cast<std::size_t>(end - out.data()));
}

std::string eventToJson(const TraceEvent& ev) {
    std::string out;
    appendEventJson(out, ev);
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
        appendHexField(out, "base", m.base);
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
void TeeSink::onIdle() {
    for (auto* s : m_sinks) s->onIdle();
}

void TeeSink::onFinished(const SessionResult& result) {
    for (auto* s : m_sinks) s->onFinished(result);
}

} // namespace layertrace::tracer
