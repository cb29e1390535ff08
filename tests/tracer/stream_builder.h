// Test helper: builds probe → tracer byte streams (Hello, then batches of wire records) with the
// protocol library's encoder, so assembler, formatter and session tests feed exactly the bytes a
// probe would send.
#pragma once

#include <layertrace/wire/encoder.h>
#include <layertrace/wire/handshake.h>
#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace layertrace::tracer::test {

class StreamBuilder {
public:
    // withHello: start the stream with a Hello (what the decoder expects first on a socket).
    explicit StreamBuilder(bool withHello = true, std::uint32_t pid = 4242) : m_buffer(kBatchCapacity) {
        if (withHello) {
            const wire::Hello h = wire::makeHello(pid, 0x030b00f0, 0, 0);
            append(&h, sizeof h);
        }
    }

    // Starts a batch for thread `tid`; records added until the next batch() belong to it.
    StreamBuilder& batch(std::uint32_t tid) {
        closeBatch();
        m_tid = tid;
        m_writer = wire::RecordWriter(m_buffer.data(), m_buffer.size());
        m_open = true;
        return *this;
    }

    template <typename T>
    StreamBuilder& record(T rec, wire::RecordType type, std::initializer_list<std::span<const std::byte>> tails = {}) {
        check(m_writer.append(type, rec, tails));
        return *this;
    }

    StreamBuilder& string(std::uint32_t id, const std::string& s) { return check(wire::appendString(m_writer, id, s)); }
    StreamBuilder& moduleMap(std::uint32_t id, const std::string& path, std::uint64_t base) {
        return check(wire::appendModuleMap(m_writer, id, base, 0, path));
    }
    StreamBuilder& moduleUnmap(std::uint32_t id) {
        wire::ModuleUnmap r{};
        r.moduleId = id;
        return record(r, wire::RecordType::ModuleUnmap);
    }
    StreamBuilder& threadInfo(std::uint32_t tid, const std::string& name) {
        return check(wire::appendThreadInfo(m_writer, tid, name));
    }
    StreamBuilder& report(wire::ReportLevel level, const std::string& text) {
        return check(wire::appendReport(m_writer, level, text));
    }
    StreamBuilder& pyCode(std::uint32_t codeId, std::uint32_t nameId, std::uint32_t fileId, std::uint32_t line) {
        wire::PyCode r{};
        r.codeId = codeId;
        r.nameId = nameId;
        r.qualnameId = nameId;
        r.fileId = fileId;
        r.firstLine = line;
        return record(r, wire::RecordType::PyCode);
    }
    StreamBuilder& hook(std::uint32_t hookId, std::uint32_t symbolId, std::uint32_t moduleId, wire::HookKind kind,
                        std::uint64_t address) {
        wire::HookInfo r{};
        r.hookId = hookId;
        r.symbolId = symbolId;
        r.moduleId = moduleId;
        r.kind = kind;
        r.address = address;
        return record(r, wire::RecordType::HookInfo);
    }
    StreamBuilder& pyCall(std::uint64_t ts, std::uint32_t code, std::uint32_t line) {
        wire::PyCall r{};
        r.tsNs = ts;
        r.codeId = code;
        r.line = line;
        return record(r, wire::RecordType::PyCall);
    }
    StreamBuilder& pyReturn(std::uint64_t ts, std::uint32_t code, bool raised = false) {
        wire::PyReturn r{};
        r.tsNs = ts;
        r.codeId = code;
        r.raised = raised ? 1 : 0;
        return record(r, wire::RecordType::PyReturn);
    }
    StreamBuilder& cCall(wire::RecordType type, std::uint64_t ts, std::uint64_t mlMeth, std::uint32_t nameId,
                         std::uint32_t ownerId) {
        wire::CCall r{};
        r.tsNs = ts;
        r.mlMeth = mlMeth;
        r.nameId = nameId;
        r.ownerId = ownerId;
        return record(r, type);
    }
    StreamBuilder& ffiCall(std::uint64_t ts, std::uint32_t entryHook, std::uint64_t target, std::uint64_t caller,
                           std::initializer_list<wire::FfiValue> args) {
        wire::FfiCall r{};
        r.tsNs = ts;
        r.target = target;
        r.caller = caller;
        r.entry = entryHook;
        r.argCount = static_cast<std::uint16_t>(args.size());
        std::vector<wire::FfiValue> v(args);
        return check(wire::appendFfiCall(m_writer, r, v));
    }
    StreamBuilder& ffiReturn(std::uint64_t ts, std::uint64_t target, wire::FfiValue value) {
        wire::FfiReturn r{};
        r.tsNs = ts;
        r.target = target;
        r.value = value;
        return record(r, wire::RecordType::FfiReturn);
    }
    StreamBuilder& closureEnter(std::uint64_t ts, std::uint64_t closure, std::uint64_t userFunc, std::uint64_t caller) {
        wire::ClosureEnter r{};
        r.tsNs = ts;
        r.closure = closure;
        r.userFunc = userFunc;
        r.caller = caller;
        return record(r, wire::RecordType::ClosureEnter);
    }
    StreamBuilder& closureExit(std::uint64_t ts, std::uint64_t closure) {
        wire::ClosureExit r{};
        r.tsNs = ts;
        r.closure = closure;
        return record(r, wire::RecordType::ClosureExit);
    }
    StreamBuilder& nativeEnter(std::uint64_t ts, std::uint32_t hookId, std::uint64_t function, std::uint64_t caller) {
        wire::NativeEnter r{};
        r.tsNs = ts;
        r.function = function;
        r.caller = caller;
        r.hookId = hookId;
        return record(r, wire::RecordType::NativeEnter);
    }
    StreamBuilder& nativeExit(std::uint64_t ts, std::uint32_t hookId, std::uint64_t function, std::uint64_t ret,
                              bool unwound = false) {
        wire::NativeExit r{};
        r.tsNs = ts;
        r.function = function;
        r.returnValue = ret;
        r.hookId = hookId;
        r.unwound = unwound ? 1 : 0;
        return record(r, wire::RecordType::NativeExit);
    }
    StreamBuilder& stack(std::initializer_list<std::uint64_t> ips, std::initializer_list<wire::PyFrameRef> py) {
        std::vector<std::uint64_t> n(ips);
        std::vector<wire::PyFrameRef> p(py);
        return check(wire::appendStack(m_writer, n, p));
    }
    StreamBuilder& dropped(std::uint64_t count) {
        wire::Dropped r{};
        r.count = count;
        return record(r, wire::RecordType::Dropped);
    }

    const std::vector<std::byte>& bytes() {
        closeBatch();
        return m_bytes;
    }

    static wire::FfiValue value(wire::FfiType type, std::uint64_t bits, std::uint32_t size = 4) {
        wire::FfiValue v{};
        v.type = type;
        v.size = size;
        v.bits = bits;
        return v;
    }

private:
    static constexpr std::size_t kBatchCapacity = 1u << 20;

    StreamBuilder& check(bool ok) {
        if (!ok) {
            throw std::runtime_error("StreamBuilder: record did not fit (start a new batch)");
        }
        return *this;
    }
    void append(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        m_bytes.insert(m_bytes.end(), b, b + n);
    }
    void closeBatch() {
        if (!m_open) {
            return;
        }
        std::byte header[sizeof(wire::BatchHeader)];
        wire::encodeBatchHeader(header, m_tid, static_cast<std::uint32_t>(m_writer.size()), m_writer.count());
        append(header, sizeof header);
        append(m_writer.data(), m_writer.size());
        m_open = false;
    }

    std::vector<std::byte> m_buffer;
    wire::RecordWriter m_writer{nullptr, 0};
    std::vector<std::byte> m_bytes;
    std::uint32_t m_tid = 0;
    bool m_open = false;
};

} // namespace layertrace::tracer::test
