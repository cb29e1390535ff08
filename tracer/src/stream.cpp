// Batch framing of the probe → tracer stream (see stream.h and docs/wire-format.md).
#include <layertrace/stream.h>

#include <layertrace/errors.h>

#include <cstring>

namespace layertrace::tracer {

void StreamFeeder::feed(const std::byte* data, std::size_t size) {
    m_buffer.insert(m_buffer.end(), data, data + size);
    std::size_t pos = 0;
    while (m_buffer.size() - pos >= sizeof(wire::BatchHeader)) {
        wire::BatchHeader batch;
        std::memcpy(&batch, m_buffer.data() + pos, sizeof batch);
        if (batch.magic != wire::kMagic) {
            throw FormatError(m_source, m_offset + pos, "bad batch magic (stream out of sync)");
        }
        if (m_buffer.size() - pos - sizeof batch < batch.bytes) {
            break; // wait for the rest of the batch
        }
        const std::byte* rec = m_buffer.data() + pos + sizeof batch;
        std::size_t left = batch.bytes;
        std::uint64_t recOffset = m_offset + pos + sizeof batch;
        while (left > 0) {
            if (left < sizeof(wire::RecordHeader)) {
                throw FormatError(m_source, recOffset, "truncated record header inside a batch");
            }
            wire::RecordHeader h;
            std::memcpy(&h, rec, sizeof h);
            const std::size_t fixedPart = wire::fixedSize(h.type);
            if (h.size < sizeof h || h.size % wire::kRecordAlign != 0 || h.size > left ||
                (fixedPart != 0 && h.size < fixedPart)) {
                throw FormatError(m_source, recOffset,
                                  "record of type " + std::to_string(static_cast<unsigned>(h.type)) +
                                      " has bad size " + std::to_string(h.size));
            }
            try {
                if (fixedPart != 0) { // unknown types are skipped by size
                    m_assembler.record(batch.tid, rec, h.size);
                }
            } catch (const FormatError& e) {
                throw FormatError(m_source, recOffset, e.why());
            }
            rec += h.size;
            left -= h.size;
            recOffset += h.size;
        }
        m_assembler.endBatch(batch.tid);
        pos += sizeof batch + batch.bytes;
    }
    m_buffer.erase(m_buffer.begin(), m_buffer.begin() + static_cast<std::ptrdiff_t>(pos));
    m_offset += pos;
}

void StreamFeeder::finish() {
    m_assembler.finish();
    if (!m_buffer.empty()) {
        throw FormatError(m_source, m_offset,
                          "stream ended inside a batch (" + std::to_string(m_buffer.size()) + " bytes left)");
    }
}

} // namespace layertrace::tracer
