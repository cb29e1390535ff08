// Test helper: builds probe → tracer byte streams (batches of wire records) so assembler and
// formatter tests can feed exactly the records a probe would send.
// TODO(protocol): switch to layertrace_protocol's encoder once it is committed; this builder
// only writes the record layouts of protocol/include/layertrace/wire/records.h.
#pragma once

#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace layertrace::tracer::test {

class StreamBuilder {
public:
    // Starts a batch for thread `tid`; records added until the next batch() belong to it.
    StreamBuilder& batch(std::uint32_t tid) {
        closeBatch();
        m_batchStart = m_bytes.size();
        wire::BatchHeader h{wire::kMagic, tid, 0, 0};
        append(&h, sizeof h);
        m_open = true;
        return *this;
    }

    template <typename T>
    StreamBuilder& record(T rec, wire::RecordType type, const void* tail = nullptr, std::size_t tailSize = 0) {
        const std::size_t size = wire::paddedSize(sizeof(T) + tailSize);
        rec.header.type = type;
        rec.header.size = static_cast<std::uint16_t>(size);
        rec.header.reserved = 0;
        append(&rec, sizeof rec);
        if (tailSize != 0) {
            append(tail, tailSize);
        }
        m_bytes.resize(m_bytes.size() + (size - sizeof(T) - tailSize));
        ++m_count;
        return *this;
    }

    StreamBuilder& string(std::uint32_t id, const std::string& s) {
        wire::String r{};
        r.stringId = id;
        r.length = static_cast<std::uint32_t>(s.size());
        return record(r, wire::RecordType::String, s.data(), s.size());
    }
    StreamBuilder& moduleMap(std::uint32_t id, const std::string& path, std::uint64_t base) {
        wire::ModuleMap r{};
        r.moduleId = id;
        r.base = base;
        return record(r, wire::RecordType::ModuleMap, path.c_str(), path.size() + 1);
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
        return record(r, wire::RecordType::FfiCall, v.data(), v.size() * sizeof(wire::FfiValue));
    }
    StreamBuilder& ffiReturn(std::uint64_t ts, std::uint64_t target, wire::FfiValue value) {
        wire::FfiReturn r{};
        r.tsNs = ts;
        r.target = target;
        r.value = value;
        return record(r, wire::RecordType::FfiReturn);
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
        wire::Stack r{};
        r.nativeCount = static_cast<std::uint16_t>(ips.size());
        r.pythonCount = static_cast<std::uint16_t>(py.size());
        std::vector<std::byte> tail(ips.size() * 8 + py.size() * sizeof(wire::PyFrameRef));
        std::memcpy(tail.data(), std::data(ips), ips.size() * 8);
        std::memcpy(tail.data() + ips.size() * 8, std::data(py), py.size() * sizeof(wire::PyFrameRef));
        return record(r, wire::RecordType::Stack, tail.data(), tail.size());
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
    void append(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        m_bytes.insert(m_bytes.end(), b, b + n);
    }
    void closeBatch() {
        if (!m_open) {
            return;
        }
        wire::BatchHeader h;
        std::memcpy(&h, m_bytes.data() + m_batchStart, sizeof h);
        h.bytes = static_cast<std::uint32_t>(m_bytes.size() - m_batchStart - sizeof h);
        h.count = m_count;
        std::memcpy(m_bytes.data() + m_batchStart, &h, sizeof h);
        m_open = false;
        m_count = 0;
    }

    std::vector<std::byte> m_bytes;
    std::size_t m_batchStart = 0;
    std::uint32_t m_count = 0;
    bool m_open = false;
};

} // namespace layertrace::tracer::test
