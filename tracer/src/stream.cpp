// Decoding the probe → tracer stream with layertrace_protocol's StreamDecoder (see stream.h).
#include <layertrace/stream.h>

#include <layertrace/errors.h>

namespace layertrace::tracer {

void StreamFeeder::feed(const std::byte* data, std::size_t size) {
    m_decoder.feed({data, size});
    for (;;) {
        switch (m_decoder.next()) {
        case wire::StreamDecoder::Status::NeedMore: return;
        case wire::StreamDecoder::Status::Error: {
            const wire::DecodeError& e = m_decoder.error();
            if (!m_decoder.handshakeDone()) {
                throw HandshakeError(m_peerPid, e.message());
            }
            throw FormatError(m_source, e.offset, e.what);
        }
        case wire::StreamDecoder::Status::Handshake: {
            const wire::Hello hello = m_decoder.record().as<wire::Hello>();
            if (m_onHello) {
                m_onHello(hello);
            }
            break;
        }
        case wire::StreamDecoder::Status::BatchBegin: break;
        case wire::StreamDecoder::Status::Record: {
            const wire::RecordView& r = m_decoder.record();
            if (r.type() == wire::RecordType::Exec) {
                m_pendingExec = std::string(r.text());
            } else {
                m_pendingExec.reset();
            }
            try {
                m_assembler.record(m_decoder.batch().tid, r.bytes().data(), r.size());
            } catch (const FormatError& e) {
                throw FormatError(m_source, r.offset(), e.why());
            }
            break;
        }
        case wire::StreamDecoder::Status::BatchEnd: m_assembler.endBatch(m_decoder.batch().tid); break;
        }
    }
}

void StreamFeeder::finish() {
    m_assembler.finish();
    if (!m_decoder.finish() && m_decoder.handshakeDone()) {
        const wire::DecodeError& e = m_decoder.error();
        throw FormatError(m_source, e.offset, e.what);
    }
}

} // namespace layertrace::tracer
