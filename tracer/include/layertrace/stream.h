// Feeding a probe's byte stream into an Assembler through the protocol library's incremental,
// bounds-checked StreamDecoder: Hello first (handed to a callback that answers it), then batches
// whose records go to the assembler. Shared by live sessions and by tests that replay streams.
#pragma once

#include <layertrace/assembler.h>
#include <layertrace/wire/decoder.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace layertrace::tracer {

class StreamFeeder {
public:
    // Called once with the validated Hello (exact magic and version already checked).
    using HelloHandler = std::function<void(const wire::Hello&)>;

    explicit StreamFeeder(Assembler& assembler, std::string source = "probe stream", HelloHandler onHello = {})
        : m_assembler(assembler), m_source(std::move(source)), m_onHello(std::move(onHello)),
          m_decoder(wire::StreamDirection::ProbeToTracer) {}

    // Appends bytes as they arrive (any split); complete items are decoded immediately. Throws
    // HandshakeError for a bad Hello and FormatError (naming the stream offset) for bad data.
    void feed(const std::byte* data, std::size_t size);
    // End of stream: delivers pending events; throws FormatError if it ended mid-batch.
    void finish();

    // The PID named in handshake errors (the launched program, before its Hello says otherwise).
    void setPeerPid(std::uint32_t pid) { m_peerPid = pid; }
    bool handshakeDone() const { return m_decoder.handshakeDone(); }
    std::uint64_t bytesConsumed() const { return m_decoder.consumed(); }
    // The path of the probe's Exec record when it is the last record so far: the image is
    // exec'ing (records after it mean the exec failed and the image goes on).
    const std::optional<std::string>& pendingExec() const { return m_pendingExec; }

private:
    Assembler& m_assembler;
    std::string m_source;
    HelloHandler m_onHello;
    wire::StreamDecoder m_decoder;
    std::uint32_t m_peerPid = 0;
    std::optional<std::string> m_pendingExec;
};

} // namespace layertrace::tracer
