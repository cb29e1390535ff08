// Wire records → TraceEvents (see assembler.h).
#include <layertrace/assembler.h>

#include <layertrace/errors.h>

#include <unistd.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

namespace layertrace::tracer {

namespace {

template <typename T>
T fixed(const std::byte* data, std::size_t size) {
    if (size < sizeof(T)) {
        throw FormatError("wire stream", 0, "record shorter than its fixed part");
    }
    T out;
    std::memcpy(&out, data, sizeof(T));
    return out;
}

// NUL-terminated (or tail-bounded) text after the fixed part.
std::string tailString(const std::byte* data, std::size_t size, std::size_t fixedSize) {
    if (size <= fixedSize) {
        return {};
    }
    const char* s = reinterpret_cast<const char*>(data + fixedSize);
    const std::size_t max = size - fixedSize;
    return std::string(s, strnlen(s, max));
}

std::string hex(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

std::uint64_t maskBits(std::uint64_t bits, std::uint32_t size) {
    return size >= 8 || size == 0 ? bits : bits & ((std::uint64_t(1) << (size * 8)) - 1);
}

std::int64_t signExtend(std::uint64_t bits, unsigned bytes) {
    const unsigned shift = 64 - bytes * 8;
    return static_cast<std::int64_t>(bits << shift) >> shift;
}

std::string number(double d) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
}

// The exit a lost one stands in for.
EventKind exitOf(EventKind enter) {
    switch (enter) {
    case EventKind::PyCall: return EventKind::PyReturn;
    case EventKind::CCall: return EventKind::CReturn;
    case EventKind::InitEnter: return EventKind::InitExit;
    case EventKind::FfiCall: return EventKind::FfiReturn;
    case EventKind::ClosureEnter: return EventKind::ClosureExit;
    default: return EventKind::NativeExit;
    }
}

} // namespace

namespace {
template <typename Int>
void setNumber(FfiValue& out, const char* type, Int value) {
    char buf[24];
    out.type = type;
    out.value.assign(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, value).ptr - buf));
}
} // namespace

void formatFfiValue(const wire::FfiValue& v, FfiValue& out) {
    using wire::FfiType;
    switch (v.type) {
    case FfiType::Void:
        out.type = "void";
        out.value.clear();
        return;
    case FfiType::Int: return setNumber(out, "int", signExtend(v.bits, 4));
    case FfiType::SInt8: return setNumber(out, "int8", signExtend(v.bits, 1));
    case FfiType::SInt16: return setNumber(out, "int16", signExtend(v.bits, 2));
    case FfiType::SInt32: return setNumber(out, "int32", signExtend(v.bits, 4));
    case FfiType::SInt64: return setNumber(out, "int64", static_cast<std::int64_t>(v.bits));
    case FfiType::UInt8: return setNumber(out, "uint8", maskBits(v.bits, 1));
    case FfiType::UInt16: return setNumber(out, "uint16", maskBits(v.bits, 2));
    case FfiType::UInt32: return setNumber(out, "uint32", maskBits(v.bits, 4));
    case FfiType::UInt64: return setNumber(out, "uint64", v.bits);
    case FfiType::Float: {
        const auto b = static_cast<std::uint32_t>(v.bits);
        float f;
        std::memcpy(&f, &b, sizeof f);
        out = {"float", number(f)};
        return;
    }
    case FfiType::Double: {
        double d;
        std::memcpy(&d, &v.bits, sizeof d);
        out = {"double", number(d)};
        return;
    }
    case FfiType::LongDouble: out = {"long double", "size=" + std::to_string(v.size)}; return;
    case FfiType::Pointer: out = {"pointer", hex(v.bits)}; return;
    case FfiType::Struct: out = {"struct", "size=" + std::to_string(v.size)}; return;
    case FfiType::Complex: out = {"complex", "size=" + std::to_string(v.size)}; return;
    }
    out = {"type" + std::to_string(static_cast<unsigned>(v.type)), hex(v.bits)};
}

FfiValue formatFfiValue(const wire::FfiValue& v) {
    FfiValue out;
    formatFfiValue(v, out);
    return out;
}

Assembler::Assembler(Symbolizer& symbolizer, Classifier& classifier, EventSink& sink)
    : m_symbolizer(symbolizer), m_classifier(classifier), m_sink(sink) {}

std::string Assembler::str(std::uint32_t id) const {
    const auto it = m_strings.find(id);
    return it == m_strings.end() ? std::string() : it->second;
}

ModuleInfo& Assembler::mapModule(std::uint32_t id, std::string path, std::uint64_t base) {
    if (path.empty() && m_pid != 0) {
        // dl_iterate_phdr reports the main program with an empty name.
        char buf[4096];
        const std::string link = "/proc/" + std::to_string(m_pid) + "/exe";
        const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
        if (n > 0) {
            path.assign(buf, static_cast<std::size_t>(n));
        }
    }
    bool changed = false;
    forgetDescriptions(); // an address may now lie in this object, or the object's role change
    ModuleInfo& m = m_symbolizer.addModule(id, path, base, &changed);
    if (baseName(path).rfind("liblayertrace_probe", 0) == 0) {
        // Our own probe: symbolized (its stubs may show in stacks) but not part of the program.
        m.role = Role::Native;
        m.reason = "the layertrace probe (not part of the traced program)";
        return m;
    }
    if (changed || m.role == Role::Unknown) {
        m_classifier.classifyObject(m);
        m_sink.onModule(m);
    }
    return m;
}

void Assembler::addMappedObject(const std::string& path, std::uint64_t base) { mapModule(0, path, base); }

const ModuleInfo& Assembler::pythonModule(const std::string& file) {
    const bool known = m_classifier.pythonFiles().count(file) != 0;
    const ModuleInfo& m = m_classifier.pythonFile(file);
    if (!known) {
        m_sink.onModule(m);
        announceRoleChanges(); // its package may have turned others into wrappers
    }
    return m;
}

const ModuleInfo& Assembler::codeModule(Code& code) {
    // The classifier keeps one entry per file (std::map: its address is stable) and updates its
    // role in place when the file turns out to be a wrapper, so the pointer always reads the
    // current role.
    if (code.module == nullptr) {
        code.module = &pythonModule(code.file);
    }
    return *code.module;
}

const Assembler::DescriptionRef& Assembler::describePython(std::uint32_t codeId) {
    auto it = m_codes.find(codeId);
    if (it == m_codes.end()) {
        Code unknown;
        unknown.name = "<code " + std::to_string(codeId) + ">";
        unknown.known = false;
        it = m_codes.emplace(codeId, std::move(unknown)).first; // a later PyCode record replaces it
    }
    Code& code = it->second;
    if (code.description != nullptr && code.describedAt == m_pythonGeneration) {
        return code.description;
    }
    auto d = std::make_shared<Description>();
    d->symbol = code.qualname.empty() ? code.name : code.qualname;
    if (code.known) {
        const ModuleInfo& m = codeModule(code); // may announce role changes: read after it
        d->module = m.name;
        d->modulePath = m.path;
        d->role = m.role;
        d->reason = m.reason;
        d->pythonFile = code.file;
    }
    code.description = std::move(d);
    code.describedAt = m_pythonGeneration;
    return code.description;
}

void Assembler::announceRoleChanges() {
    for (const std::string& path : m_classifier.takeRoleChanges()) {
        ++m_pythonGeneration; // Python descriptions read roles: made again when next used
        m_sink.onModule(m_classifier.pythonFiles().at(path));
    }
}

bool Assembler::inInterpreter(std::uint64_t address) const {
    const ModuleInfo* m = m_symbolizer.moduleAt(address);
    return m != nullptr && m->role == Role::Capi;
}

void Assembler::forgetDescriptions() {
    m_descriptions.clear();
    m_codeRefs.clear();
    ++m_codeRefGeneration;
}

const CodeRef& Assembler::codeRef(std::uint64_t address, bool returnAddress) {
    const std::uint64_t key = address * 2 + (returnAddress ? 1 : 0);
    if (const auto it = m_codeRefs.find(key); it != m_codeRefs.end()) {
        return it->second;
    }
    CodeRef& r = m_codeRefs[key];
    r.address = address;
    if (address == 0) {
        return r;
    }
    // A return address points after the call; look up the call instruction's byte.
    const Symbol& s = m_symbolizer.lookup(returnAddress ? address - 1 : address);
    if (s.module != nullptr) {
        r.module = s.module->name;
        r.modulePath = s.module->path;
        RoleDecision d = m_classifier.classifyFunction(*s.module, s.name, address);
        r.role = d.role;
        r.reason = std::move(d.reason);
    }
    r.symbol = s.display();
    return r;
}

Assembler::Description Assembler::describeNative(std::uint64_t address, const std::string& preferredSymbol,
                                                 bool calledFromInterpreter) {
    Description d;
    const Symbol& s = m_symbolizer.lookup(address);
    // The probe names hooks by their ELF symbol, mangled for C++: show what the source says.
    d.symbol = !preferredSymbol.empty() ? demangle(preferredSymbol) : s.display();
    d.sourceFile = s.file;
    d.sourceLine = s.line;
    if (s.module != nullptr) {
        d.module = s.module->name;
        d.modulePath = s.module->path;
        // DWARF is consulted only inside extensions you built: that is where glue and native share a file.
        const bool ownExtension = s.module->role == Role::Ext && !Classifier::isReadyMadeExtension(*s.module);
        RoleDecision r = m_classifier.classifyFunction(
            *s.module, d.symbol, address, calledFromInterpreter,
            ownExtension && s.module->elf.hasDebugInfo ? m_symbolizer.usesPyObject(address) : std::nullopt);
        d.role = r.role;
        d.reason = std::move(r.reason);
    } else {
        d.role = Role::Native;
        d.reason = "address " + hex(address) + " lies in no object the probe reported";
    }
    return d;
}

const Assembler::DescriptionRef& Assembler::described(const DescriptionKey& key) {
    if (const auto it = m_descriptions.find(key); it != m_descriptions.end()) {
        return it->second;
    }
    Description d;
    const auto hook = m_hooks.find(static_cast<std::uint32_t>(key.naming));
    const bool hooked = key.how != Naming::PyCFunction && key.how != Naming::Plain && hook != m_hooks.end();
    switch (key.how) {
    case Naming::Plain: d = describeNative(key.address, {}, key.calledFromInterpreter); break;
    case Naming::Init:
        d = describeNative(key.address, {}, false);
        if (d.modulePath.empty()) {
            // An extension's PyInit_* runs before its object is in any module map we saw.
            d.modulePath = str(static_cast<std::uint32_t>(key.naming));
            d.module = baseName(d.modulePath);
        }
        break;
    case Naming::Closure: d = describeClosure(key.address, key.naming, key.context); break;
    case Naming::Hook:
        d = describeNative(key.address, hooked ? hook->second.symbol : std::string(), key.calledFromInterpreter);
        break;
    case Naming::FfiEntry: {
        d = describeNative(key.address, hooked ? hook->second.symbol : std::string("ffi_call"), false);
        if (hooked && d.module.empty()) {
            if (const ModuleInfo* m = m_symbolizer.moduleById(hook->second.moduleId)) {
                d.module = m->name;
                d.modulePath = m->path;
            }
        }
        d.role = Role::Ffi;
        if (d.reason.empty() || d.reason.find("libffi") == std::string::npos) {
            d.reason = "ffi_call: libffi calling a foreign function";
        }
        break;
    }
    case Naming::PyCFunction: {
        // An ml_meth Python called is glue from now on: every description that may depend on it
        // is recomputed (key is still valid: it is ours, not the map's).
        if (m_classifier.noteMlMeth(key.address)) {
            forgetDescriptions();
        }
        const std::string owner = str(static_cast<std::uint32_t>(key.naming >> 32));
        const std::string name = str(static_cast<std::uint32_t>(key.naming));
        const std::string pyName = owner.empty() ? name : owner + "." + name;
        // A static ml_meth in a stripped object has no symbol: its Python name says more than
        // module+offset (the address stays in `address`).
        const Symbol& s = m_symbolizer.lookup(key.address);
        const bool unnamed = s.name.empty() && s.module != nullptr;
        d = describeNative(key.address, unnamed ? pyName : std::string(), false);
        d.pyName = pyName;
        break;
    }
    }
    return m_descriptions.emplace(key, std::make_shared<const Description>(std::move(d))).first->second;
}

Assembler::Description Assembler::describeClosure(std::uint64_t closure, std::uint64_t userFunc,
                                                  std::uint64_t caller) {
    Description d;
    d.role = Role::Ffi;
    // The hop is libffi's closure trampoline; it runs the extension's dispatcher (userFunc:
    // _ctypes' closure_fcn, cffi's invoke_callback), which calls Python. Name the trampoline
    // after the object that provides it: libffi, or the extension that bundles libffi.
    // The probe's dispatcher is called by libffi's closure code, so `caller` normally lies in
    // libffi (or in the extension bundling it); the trampoline itself is usually anonymous.
    const Symbol& from = m_symbolizer.lookup(caller ? caller - 1 : 0);
    const Symbol& at = m_symbolizer.lookup(closure);
    const ModuleInfo* ffi = nullptr;
    for (const Symbol* cand : {&from, &at}) {
        if (ffi == nullptr && cand->module != nullptr &&
            (cand->module->role == Role::Ffi || cand->module->elf.bundlesFfi)) {
            ffi = cand->module;
        }
    }
    if (const ModuleInfo* user = m_symbolizer.moduleAt(userFunc); ffi == nullptr && user && user->elf.bundlesFfi) {
        ffi = user;
    }
    for (const ModuleInfo* m : m_symbolizer.modules()) {
        if (ffi == nullptr && m->role == Role::Ffi) {
            ffi = m;
        }
    }
    if (ffi != nullptr) {
        d.module = ffi->name;
        d.modulePath = ffi->path;
    }
    // Named after libffi's own closure entry when it is visible (ffi_closure_unix64_inner in
    // an unstripped libffi), else "ffi_closure": the trampoline has no symbol of its own.
    d.symbol = from.name.rfind("ffi_closure", 0) == 0 ? from.name
               : at.name.rfind("ffi_closure", 0) == 0 ? at.name
                                                      : std::string("ffi_closure");
    const std::string dispatcher = codeRef(userFunc, false).symbol;
    d.reason = "FFI closure: native code calling back into Python through " +
               (dispatcher.empty() ? std::string("its dispatcher") : dispatcher);
    return d;
}

void Assembler::apply(TraceEvent& ev, const Description& d) {
    ev.role = d.role;
    ev.module = d.module;
    ev.modulePath = d.modulePath;
    ev.symbol = d.symbol;
    ev.reason = d.reason;
    ev.sourceFile = d.sourceFile;
    ev.sourceLine = d.sourceLine;
    ev.pyName = d.pyName;
}

void Assembler::innermostPython(const ThreadState& t, TraceEvent& ev) const {
    for (std::size_t i = t.open; i-- > 0;) {
        const Frame& f = t.frames[i];
        if (f.python) {
            ev.pyFile = f.description->pythonFile;
            ev.pyLine = f.line;
            return;
        }
    }
}

Assembler::ThreadState& Assembler::thread(std::uint32_t tid) {
    if (m_lastThread == nullptr || m_lastTid != tid) {
        m_lastThread = &m_threads[tid]; // std::map: the reference stays valid
        m_lastTid = tid;
    }
    return *m_lastThread;
}

std::size_t Assembler::frameSlots(std::uint32_t tid) const {
    const auto it = m_threads.find(tid);
    return it == m_threads.end() ? 0 : it->second.frames.size();
}

TraceEvent& Assembler::startEvent(ThreadState& t, EventKind kind, std::uint64_t tsNs) {
    flush(t);
    TraceEvent& ev = t.pending;
    clearUndescribed(ev);
    revalidateRefs(t);
    t.refSet = {};
    ev.kind = kind;
    ev.tsNs = tsNs;
    return ev;
}

void Assembler::clearUndescribed(TraceEvent& ev) {
    // TraceEvent::clear() but for what describePending and setPendingRef fill in, in declaration
    // order (keep in step with trace_event.h; recording_writer.cpp's size check fails first when
    // a field is added there).
    ev.seq = 0;
    ev.tsNs = 0;
    ev.tid = 0;
    ev.kind = EventKind::NativeEnter;
    ev.pyFile.clear();
    ev.pyLine = 0;
    ev.args.clear();
    ev.ret.reset();
    ev.stack.clear();
    ev.depth = 0;
    ev.durationNs = 0;
    ev.raised = false;
    ev.dropped = 0;
    ev.address = 0;
    ev.stackMerged = false;
    ev.stackUnmerged = false;
    ev.unwound = false;
    ev.lost = false;
}

void Assembler::describePending(ThreadState& t, const DescriptionRef& d) {
    if (t.pendingDescription != d) {
        apply(t.pending, *d);
        t.pendingDescription = d; // held: its address cannot be reused while we compare with it
    }
}

void Assembler::revalidateRefs(ThreadState& t) const {
    if (t.refsGeneration != m_codeRefGeneration) {
        // The code refs were copied from entries forgotten since: a new entry may now lie at the
        // same address, so the pointers prove nothing any more. What the slots hold stays (it may
        // be this event's) but matches no entry, so the next setPendingRef copies.
        static const CodeRef kForgotten;
        for (const CodeRef*& from : t.refFrom) {
            from = from != nullptr ? &kForgotten : nullptr;
        }
        t.refsGeneration = m_codeRefGeneration;
    }
}

void Assembler::setPendingRef(ThreadState& t, PendingRef which, const CodeRef& ref) {
    revalidateRefs(t);
    const auto i = static_cast<std::size_t>(which);
    t.refSet[i] = true;
    if (t.refFrom[i] != &ref) {
        (which == PendingRef::Caller ? t.pending.caller : t.pending.target) = ref;
        t.refFrom[i] = &ref;
    }
}

void Assembler::clearUnsetRefs(ThreadState& t) {
    for (std::size_t i = 0; i < t.refSet.size(); ++i) {
        if (!t.refSet[i] && t.refFrom[i] != nullptr) {
            (i == static_cast<std::size_t>(PendingRef::Caller) ? t.pending.caller : t.pending.target).clear();
            t.refFrom[i] = nullptr;
        }
    }
}

void Assembler::enter(std::uint32_t tid, ThreadState& t, std::uint64_t key, bool python, DescriptionRef description) {
    clearUnsetRefs(t);
    TraceEvent& ev = t.pending;
    ev.tid = tid;
    ev.depth = static_cast<std::uint32_t>(t.open);
    t.lastTsNs = ev.tsNs;
    // Direct call from Python into native code: no native frame is open above the innermost
    // Python frame (or none at all, in anchored mode where Python frames are not tracked).
    const bool direct = !python && (t.open == 0 || t.frames[t.open - 1].python);
    if (!python) {
        innermostPython(t, ev);
    }
    if (t.open == t.frames.size()) {
        t.frames.emplace_back();
    }
    Frame& f = t.frames[t.open++];
    f.kind = ev.kind;
    f.key = key;
    f.tsNs = ev.tsNs;
    f.depth = ev.depth;
    f.python = python;
    f.line = ev.pyLine;
    f.description = std::move(description);
    t.hasPending = true;
    t.pendingDirect = direct;
}

void Assembler::closeLost(std::uint32_t tid, ThreadState& t, std::uint64_t tsNs) {
    const Frame& f = t.frames[t.open - 1];
    TraceEvent& ev = t.lost;
    ev.clear();
    ev.kind = exitOf(f.kind);
    ev.tid = tid;
    ev.tsNs = tsNs;
    ev.depth = f.depth;
    ev.durationNs = tsNs >= f.tsNs ? tsNs - f.tsNs : 0;
    ev.lost = true;
    apply(ev, *f.description);
    if (f.python) {
        ev.pyFile = f.description->pythonFile;
    } else {
        innermostPython(t, ev);
        if (ev.kind == EventKind::FfiReturn) {
            ev.target = codeRef(f.key, false);
        } else {
            ev.address = f.key;
        }
    }
    --t.open;
    ++m_lostExits;
    deliver(ev);
}

void Assembler::exit(std::uint32_t tid, ThreadState& t, std::uint64_t key, EventKind enterKind) {
    clearUnsetRefs(t);
    TraceEvent& ev = t.pending;
    ev.tid = tid;
    std::size_t match = t.open;
    for (std::size_t i = t.open; i-- > 0;) {
        const Frame& f = t.frames[i];
        if (f.kind == enterKind && (f.key == key || key == 0)) {
            match = i;
            break;
        }
    }
    if (match == t.open) {
        // Its enter never reached us: the probe dropped it (and counted the drop), or the call
        // was already running when tracing began (attach). Delivering the exit alone would break
        // the nesting every consumer relies on, so it goes the way of its enter.
        ++m_orphanExits;
        t.hasPending = false;
        return;
    }
    t.lastTsNs = ev.tsNs;
    // Calls above the match were left without an exit record (dropped by the probe, or a longjmp
    // past frames whose exit is not hooked): each gets a lost exit first, so every consumer sees
    // strict nesting.
    while (t.open > match + 1) {
        closeLost(tid, t, ev.tsNs);
    }
    const Frame& f = t.frames[match];
    ev.depth = f.depth;
    describePending(t, f.description);
    if (f.python) {
        ev.pyFile = f.description->pythonFile;
    }
    ev.durationNs = ev.tsNs >= f.tsNs ? ev.tsNs - f.tsNs : 0;
    if (!f.python) {
        innermostPython(t, ev);
    }
    t.open = match;
    t.hasPending = true;
    t.pendingDirect = false;
}

void Assembler::attachStack(ThreadState& t, const std::byte* data, std::size_t size) {
    const auto st = fixed<wire::Stack>(data, size);
    const std::size_t need = sizeof(wire::Stack) + st.nativeCount * sizeof(std::uint64_t) +
                             st.pythonCount * sizeof(wire::PyFrameRef);
    if (need > size) {
        throw FormatError("wire stream", 0,
                          "Stack record claims " + std::to_string(st.nativeCount) + " native and " +
                              std::to_string(st.pythonCount) + " Python frames but has " +
                              std::to_string(size) + " bytes");
    }
    if (!t.hasPending) {
        return; // a stack with no event before it: nothing to attach it to
    }
    TraceEvent& ev = t.pending;
    std::vector<StackFrame> native;
    const std::byte* p = data + sizeof(wire::Stack);
    std::size_t evalFrames = 0;
    for (std::size_t i = 0; i < st.nativeCount; ++i, p += sizeof(std::uint64_t)) {
        std::uint64_t ip;
        std::memcpy(&ip, p, sizeof ip);
        // Every frame but the innermost holds a return address: symbolize the call before it.
        const Symbol& s = m_symbolizer.lookup(i == 0 ? ip : ip - 1);
        StackFrame f;
        f.ip = ip;
        f.function = s.display();
        f.file = s.file;
        f.line = s.line;
        if (s.module != nullptr) {
            f.module = s.module->name;
            f.offset = s.moduleOffset;
            f.role = m_classifier.classifyFunction(*s.module, s.name, ip).role;
        } else {
            f.role = Role::Unknown;
        }
        if (s.name == "_PyEval_EvalFrameDefault") {
            ++evalFrames;
        }
        native.push_back(std::move(f));
    }
    std::vector<StackFrame> python;
    for (std::size_t i = 0; i < st.pythonCount; ++i, p += sizeof(wire::PyFrameRef)) {
        wire::PyFrameRef ref;
        std::memcpy(&ref, p, sizeof ref);
        StackFrame f;
        f.python = true;
        f.line = static_cast<int>(ref.line);
        if (const auto it = m_codes.find(ref.codeId); it != m_codes.end()) {
            f.function = it->second.qualname.empty() ? it->second.name : it->second.qualname;
            f.file = it->second.file;
            const ModuleInfo& m = codeModule(it->second);
            f.module = m.name;
            f.role = m.role;
        } else {
            f.function = "<code " + std::to_string(ref.codeId) + ">";
        }
        python.push_back(std::move(f));
    }
    if (ev.pyFile.empty() && !python.empty()) {
        ev.pyFile = python.front().file;
        ev.pyLine = python.front().line;
    }
    // Merge: each _PyEval_EvalFrameDefault frame runs one or more Python frames. Without the
    // interpreter's entry-frame flags on the wire we only merge when the split is certain: one
    // Python frame per eval frame, or a single eval frame running all of them. Otherwise both
    // lists are kept, native first, and the event is flagged, rather than guess a wrong stack.
    std::vector<StackFrame> merged;
    if (python.empty()) {
        merged = std::move(native);
    } else if (evalFrames == python.size() || evalFrames == 1) {
        std::size_t next = 0;
        for (auto& f : native) {
            if (f.function != "_PyEval_EvalFrameDefault") {
                merged.push_back(std::move(f));
                continue;
            }
            const std::size_t take = evalFrames == 1 ? python.size() : 1;
            for (std::size_t k = 0; k < take && next < python.size(); ++k) {
                merged.push_back(python[next++]);
            }
        }
        ev.stackMerged = true;
    } else {
        merged = std::move(native);
        merged.insert(merged.end(), python.begin(), python.end());
        ev.stackUnmerged = true;
    }
    ev.stack = std::move(merged);
}

void Assembler::deliver(TraceEvent& ev) {
    ev.seq = m_seq++;
    m_sink.onEvent(ev);
}

void Assembler::flush(ThreadState& t) {
    if (!t.hasPending) {
        return;
    }
    t.hasPending = false;
    TraceEvent& ev = t.pending;
    if (t.pendingDirect && !ev.pyFile.empty()) {
        // Wrapper evidence: this Python file called FFI, your own extension, a third-party
        // extension or a plain library without anything native in between.
        const Role hop = ev.kind == EventKind::FfiCall ? Role::Ffi : ev.role;
        const ModuleInfo* obj = m_symbolizer.moduleByPath(ev.kind == EventKind::FfiCall ? ev.caller.modulePath
                                                                                        : ev.modulePath);
        const bool binding = ev.kind == EventKind::FfiCall || hop == Role::Glue || hop == Role::Native ||
                             (obj != nullptr && Classifier::isBindingTarget(*obj));
        if (binding) {
            // The classifier acts on the first such call of a file to a given module; the rest
            // would only repeat it.
            m_scratchKey.assign(ev.pyFile).append(1, '\0').append(roleName(hop)).append(" ").append(ev.module);
            if (m_directCallsNoted.count(m_scratchKey) == 0) {
                m_directCallsNoted.insert(m_scratchKey);
                pythonModule(ev.pyFile);
                m_classifier.noteDirectNativeCall(ev.pyFile, std::string(roleName(hop)) + " " + ev.module);
                announceRoleChanges();
            }
        }
    }
    t.pendingDirect = false;
    deliver(ev);
}

void Assembler::endBatch(std::uint32_t tid) {
    if (auto it = m_threads.find(tid); it != m_threads.end()) {
        flush(it->second);
    }
}

void Assembler::deliverDropped(std::uint32_t tid, ThreadState& t, std::uint64_t count) {
    flush(t);
    m_sink.onDropped(tid, count);
    TraceEvent ev;
    ev.kind = EventKind::Dropped;
    ev.tid = tid;
    ev.dropped = count;
    ev.depth = static_cast<std::uint32_t>(t.open);
    deliver(ev);
}

void Assembler::setSkimming(bool on) {
    if (m_skimming && !on) {
        markSkimmedGaps();
    }
    m_skimming = on;
}

void Assembler::markSkimmedGaps() {
    for (auto& [tid, t] : m_threads) {
        if (t.skimmed > 0) {
            m_skimmed += t.skimmed;
            deliverDropped(tid, t, std::exchange(t.skimmed, 0));
        }
    }
}

void Assembler::finish() {
    markSkimmedGaps();
    for (auto& [tid, t] : m_threads) {
        flush(t);
        while (t.open > 0) {
            closeLost(tid, t, t.lastTsNs);
        }
    }
}

void Assembler::record(std::uint32_t tid, const std::byte* data, std::size_t size) {
    const auto header = fixed<wire::RecordHeader>(data, size);
    ThreadState& t = thread(tid);
    using wire::RecordType;
    if (m_skimming && header.type >= RecordType::PyCall && header.type <= RecordType::Stack) {
        if (header.type == RecordType::Stack) {
            if (t.hasPending) {
                attachStack(t, data, size); // of the event assembled just before skimming began
            }
            return;
        }
        flush(t);
        ++t.skimmed;
        return;
    }
    switch (header.type) {
    case RecordType::ModuleMap: {
        const auto r = fixed<wire::ModuleMap>(data, size);
        mapModule(r.moduleId, tailString(data, size, sizeof r), r.base);
        return;
    }
    case RecordType::ModuleUnmap:
        forgetDescriptions();
        m_symbolizer.removeModule(fixed<wire::ModuleUnmap>(data, size).moduleId);
        return;
    case RecordType::ThreadInfo: {
        const auto r = fixed<wire::ThreadInfo>(data, size);
        ThreadState& named = m_threads[r.tid];
        named.name = tailString(data, size, sizeof r);
        flush(t);
        TraceEvent ev;
        ev.kind = EventKind::ThreadStart;
        ev.tid = r.tid;
        ev.symbol = named.name;
        deliver(ev);
        return;
    }
    case RecordType::String: {
        const auto r = fixed<wire::String>(data, size);
        if (sizeof r + r.length > size) {
            throw FormatError("wire stream", 0, "String record " + std::to_string(r.stringId) + " longer than its record");
        }
        m_strings[r.stringId].assign(reinterpret_cast<const char*>(data + sizeof r), r.length);
        return;
    }
    case RecordType::PyCode: {
        const auto r = fixed<wire::PyCode>(data, size);
        Code& code = m_codes[r.codeId];
        code = Code{};
        code.name = str(r.nameId);
        code.qualname = str(r.qualnameId);
        code.file = str(r.fileId);
        code.firstLine = r.firstLine;
        return;
    }
    case RecordType::HookInfo: {
        const auto r = fixed<wire::HookInfo>(data, size);
        m_hooks[r.hookId] = Hook{str(r.symbolId), r.moduleId, r.kind, r.address};
        forgetDescriptions(); // events of this hook are named after it from now on
        return;
    }
    case RecordType::Report: {
        const auto r = fixed<wire::Report>(data, size);
        ProbeReport rep;
        rep.level = r.level == wire::ReportLevel::Error     ? ProbeReport::Level::Error
                    : r.level == wire::ReportLevel::Warning ? ProbeReport::Level::Warning
                                                            : ProbeReport::Level::Info;
        rep.message = tailString(data, size, sizeof r);
        m_sink.onReport(rep);
        return;
    }
    case RecordType::Dropped: {
        const auto r = fixed<wire::Dropped>(data, size);
        m_dropped += r.count;
        deliverDropped(tid, t, r.count);
        return;
    }
    case RecordType::Goodbye: {
        const auto r = fixed<wire::Goodbye>(data, size);
        m_goodbye = true;
        m_goodbyeStatus = r.exitStatus;
        m_goodbyeFatalSignal = (r.flags & wire::kGoodbyeFatalSignal) != 0 ? r.exitStatus : 0;
        // The probe's own total includes drops that no later Dropped record reported (a thread
        // that dropped its last events and then ended).
        m_goodbyeDropped = r.totalDropped;
        return;
    }
    case RecordType::Stack: attachStack(t, data, size); return;
    case RecordType::PyCall: {
        const auto r = fixed<wire::PyCall>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::PyCall, r.tsNs);
        const DescriptionRef& d = describePython(r.codeId);
        describePending(t, d);
        ev.pyFile = d->pythonFile;
        ev.pyLine = static_cast<int>(r.line);
        enter(tid, t, r.codeId, true, d);
        return;
    }
    case RecordType::PyReturn: {
        const auto r = fixed<wire::PyReturn>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::PyReturn, r.tsNs);
        ev.raised = r.raised != 0;
        exit(tid, t, r.codeId, EventKind::PyCall);
        return;
    }
    case RecordType::CCall:
    case RecordType::CReturn:
    case RecordType::CRaise: {
        const auto r = fixed<wire::CCall>(data, size);
        const EventKind kind = header.type == RecordType::CCall     ? EventKind::CCall
                               : header.type == RecordType::CReturn ? EventKind::CReturn
                                                                    : EventKind::CRaise;
        TraceEvent& ev = startEvent(t, kind, r.tsNs);
        ev.raised = kind == EventKind::CRaise;
        ev.address = r.mlMeth;
        if (kind == EventKind::CCall) {
            DescriptionRef d = described({r.mlMeth, std::uint64_t(r.ownerId) << 32 | r.nameId, Naming::PyCFunction, false});
            describePending(t, d);
            enter(tid, t, r.mlMeth, false, std::move(d));
        } else {
            exit(tid, t, r.mlMeth, EventKind::CCall);
        }
        return;
    }
    case RecordType::InitEnter: {
        const auto r = fixed<wire::InitEnter>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::InitEnter, r.tsNs);
        ev.address = r.function;
        DescriptionRef d = described({r.function, r.pathId, Naming::Init, false});
        describePending(t, d);
        ev.pyName = str(r.nameId);
        t.pendingDescription.reset(); // pyName is no longer the description's
        enter(tid, t, r.function, false, std::move(d));
        return;
    }
    case RecordType::InitExit: {
        const auto r = fixed<wire::InitExit>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::InitExit, r.tsNs);
        ev.raised = r.raised != 0;
        ev.address = r.function;
        exit(tid, t, r.function, EventKind::InitEnter);
        return;
    }
    case RecordType::FfiCall: {
        const auto r = fixed<wire::FfiCall>(data, size);
        if (sizeof r + r.argCount * sizeof(wire::FfiValue) > size) {
            throw FormatError("wire stream", 0, "FfiCall claims " + std::to_string(r.argCount) +
                                                    " arguments but has " + std::to_string(size) + " bytes");
        }
        TraceEvent& ev = startEvent(t, EventKind::FfiCall, r.tsNs);
        const auto hook = m_hooks.find(r.entry);
        const std::uint64_t entryAddress = hook != m_hooks.end() ? hook->second.address : 0;
        ev.address = entryAddress;
        DescriptionRef d = described({entryAddress, r.entry, Naming::FfiEntry, false});
        describePending(t, d);
        setPendingRef(t, PendingRef::Caller, codeRef(r.caller, true));
        setPendingRef(t, PendingRef::Target, codeRef(r.target, false));
        ev.args.resize(r.argCount);
        for (std::size_t i = 0; i < r.argCount; ++i) {
            wire::FfiValue v;
            std::memcpy(&v, data + sizeof r + i * sizeof v, sizeof v);
            formatFfiValue(v, ev.args[i]);
        }
        enter(tid, t, r.target, false, std::move(d));
        return;
    }
    case RecordType::FfiReturn: {
        const auto r = fixed<wire::FfiReturn>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::FfiReturn, r.tsNs);
        setPendingRef(t, PendingRef::Target, codeRef(r.target, false));
        formatFfiValue(r.value, ev.ret.emplace());
        exit(tid, t, r.target, EventKind::FfiCall);
        return;
    }
    case RecordType::ClosureEnter: {
        const auto r = fixed<wire::ClosureEnter>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::ClosureEnter, r.tsNs);
        ev.address = r.closure;
        setPendingRef(t, PendingRef::Target, codeRef(r.userFunc, false));
        setPendingRef(t, PendingRef::Caller, codeRef(r.caller, true));
        DescriptionRef d = described({r.closure, r.userFunc, Naming::Closure, false, r.caller});
        describePending(t, d);
        enter(tid, t, r.closure, false, std::move(d));
        return;
    }
    case RecordType::ClosureExit: {
        const auto r = fixed<wire::ClosureExit>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::ClosureExit, r.tsNs);
        ev.address = r.closure;
        exit(tid, t, r.closure, EventKind::ClosureEnter);
        return;
    }
    case RecordType::NativeEnter: {
        const auto r = fixed<wire::NativeEnter>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::NativeEnter, r.tsNs);
        ev.address = r.function;
        DescriptionRef d = described({r.function, r.hookId, Naming::Hook, inInterpreter(r.caller ? r.caller - 1 : 0)});
        describePending(t, d);
        setPendingRef(t, PendingRef::Caller, codeRef(r.caller, true));
        enter(tid, t, r.function, false, std::move(d));
        return;
    }
    case RecordType::NativeExit: {
        const auto r = fixed<wire::NativeExit>(data, size);
        TraceEvent& ev = startEvent(t, EventKind::NativeExit, r.tsNs);
        ev.address = r.function;
        ev.unwound = r.unwound != 0;
        ev.raised = ev.unwound;
        if (!ev.unwound) {
            ev.ret = FfiValue{"rax", hex(r.returnValue)};
        }
        exit(tid, t, r.function, EventKind::NativeEnter);
        return;
    }
    case RecordType::Hello:
    case RecordType::Welcome:
    case RecordType::Detach:
    case RecordType::Exec: return; // handshake records and Exec are handled by the session
    }
    // Unknown record types are skipped by size: a newer probe may send more than we know.
}

} // namespace layertrace::tracer
