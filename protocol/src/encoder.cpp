// Typed record writers for the records that carry variable tails (see encoder.h).
#include <layertrace/wire/encoder.h>

namespace layertrace::wire {

bool appendString(RecordWriter& w, std::uint32_t stringId, std::string_view text) noexcept {
    text = text.substr(0, std::min(text.size(), kMaxRecordSize - sizeof(String)));
    String r{};
    r.stringId = stringId;
    r.length = static_cast<std::uint32_t>(text.size());
    return w.append(RecordType::String, r, {asBytes(text)});
}

bool appendModuleMap(RecordWriter& w, std::uint32_t moduleId, std::uint64_t base, std::uint64_t tsNs,
                     std::string_view path) noexcept {
    path = clampText(path, sizeof(ModuleMap));
    ModuleMap r{};
    r.moduleId = moduleId;
    r.base = base;
    r.tsNs = tsNs;
    return w.append(RecordType::ModuleMap, r, {asBytes(path), kNul});
}

bool appendThreadInfo(RecordWriter& w, std::uint32_t tid, std::string_view name) noexcept {
    name = clampText(name, sizeof(ThreadInfo));
    ThreadInfo r{};
    r.tid = tid;
    return w.append(RecordType::ThreadInfo, r, {asBytes(name), kNul});
}

bool appendExec(RecordWriter& w, std::uint64_t tsNs, std::string_view path) noexcept {
    path = clampText(path, sizeof(Exec));
    Exec r{};
    r.tsNs = tsNs;
    return w.append(RecordType::Exec, r, {asBytes(path), kNul});
}

bool appendReport(RecordWriter& w, ReportLevel level, std::string_view message) noexcept {
    message = clampText(message, sizeof(Report));
    Report r{};
    r.level = level;
    return w.append(RecordType::Report, r, {asBytes(message), kNul});
}

bool appendFfiCall(RecordWriter& w, const FfiCall& call, std::span<const FfiValue> args) noexcept {
    args = args.first(std::min(args.size(), kMaxFfiArgs));
    FfiCall r = call;
    r.argCount = static_cast<std::uint16_t>(args.size());
    return w.append(RecordType::FfiCall, r, {asBytes(args)});
}

bool appendStack(RecordWriter& w, std::span<const std::uint64_t> nativeIps,
                 std::span<const PyFrameRef> pythonFrames) noexcept {
    nativeIps = nativeIps.first(std::min(nativeIps.size(), kMaxStackFrames));
    pythonFrames = pythonFrames.first(std::min(pythonFrames.size(), kMaxStackFrames));
    Stack r{};
    r.nativeCount = static_cast<std::uint16_t>(nativeIps.size());
    r.pythonCount = static_cast<std::uint16_t>(pythonFrames.size());
    return w.append(RecordType::Stack, r, {asBytes(nativeIps), asBytes(pythonFrames)});
}

} // namespace layertrace::wire
