// Feeding a probe's byte stream (after the handshake) into an Assembler: reassembles batches
// from arbitrary read() chunks and hands each bounds-checked record over. Shared by live
// sessions and tests that replay encoded streams.
#pragma once

#include <layertrace/assembler.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace layertrace::tracer {

class StreamFeeder {
public:
    explicit StreamFeeder(Assembler& assembler, std::string source = "probe stream")
        : m_assembler(assembler), m_source(std::move(source)) {}

    // Appends bytes as they arrive; complete batches are decoded immediately. Throws FormatError
    // naming the stream offset when the data is malformed.
    void feed(const std::byte* data, std::size_t size);
    // End of stream: throws FormatError if it ended inside a batch; delivers pending events.
    void finish();
    std::uint64_t bytesConsumed() const { return m_offset; }

private:
    Assembler& m_assembler;
    std::string m_source;
    std::vector<std::byte> m_buffer;
    std::uint64_t m_offset = 0; // stream offset of m_buffer[0]
};

} // namespace layertrace::tracer
