// libFuzzer target for the wire decoder (protocol's StreamDecoder): arbitrary bytes, in either
// direction, fed in arbitrary splits; every record the decoder yields is read through every
// RecordView accessor so ASan/UBSan see any read the validator did not prove safe.
#include <layertrace/wire/decoder.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace {

using layertrace::wire::RecordType;
using layertrace::wire::RecordView;
using layertrace::wire::StreamDecoder;
using layertrace::wire::StreamDirection;

// Touches everything a consumer may read from a record; the sum keeps the reads from being
// optimised away.
std::uint64_t touch(const RecordView& r) {
    std::uint64_t sum = r.size() + r.offset() + static_cast<std::uint64_t>(r.type());
    for (char c : r.text()) {
        sum += static_cast<unsigned char>(c);
    }
    if (r.type() == RecordType::FfiCall) {
        for (std::size_t i = 0; i < r.ffiArgCount(); ++i) {
            sum += r.ffiArg(i).bits + static_cast<std::uint64_t>(r.ffiArg(i).type);
        }
    }
    if (r.type() == RecordType::Stack) {
        for (std::size_t i = 0; i < r.nativeFrameCount(); ++i) {
            sum += r.nativeFrame(i);
        }
        for (std::size_t i = 0; i < r.pythonFrameCount(); ++i) {
            sum += r.pythonFrame(i).codeId + r.pythonFrame(i).line;
        }
    }
    return sum;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    // Byte 0: direction, whether the handshake is assumed done (recording-style readers), and the
    // feed chunk size (1..64 bytes, or everything at once): the decoder must not care how the
    // bytes were split.
    const std::uint8_t control = data[0];
    const StreamDirection direction = (control & 1) ? StreamDirection::TracerToProbe : StreamDirection::ProbeToTracer;
    StreamDecoder decoder(direction);
    if (control & 2) {
        decoder.assumeHandshakeDone();
    }
    const std::size_t chunk = (control >> 2) == 0 ? size : (control >> 2);
    const auto* bytes = reinterpret_cast<const std::byte*>(data + 1);
    std::size_t left = size - 1;
    volatile std::uint64_t sink = 0;
    bool failed = false;
    while (left > 0 && !failed) {
        const std::size_t n = left < chunk ? left : chunk;
        decoder.feed(std::span<const std::byte>(bytes, n));
        bytes += n;
        left -= n;
        for (;;) {
            const StreamDecoder::Status status = decoder.next();
            if (status == StreamDecoder::Status::NeedMore) {
                break;
            }
            if (status == StreamDecoder::Status::Error) {
                sink = sink + decoder.error().offset + decoder.error().message().size();
                // Sticky: a failed decoder keeps saying so.
                if (decoder.next() != StreamDecoder::Status::Error) {
                    __builtin_trap();
                }
                failed = true;
                break;
            }
            if (status == StreamDecoder::Status::Record || status == StreamDecoder::Status::Handshake) {
                sink = sink + touch(decoder.record());
            }
            if (status == StreamDecoder::Status::BatchBegin) {
                sink = sink + decoder.batch().bytes + decoder.batch().count;
            }
        }
    }
    if (!failed) {
        sink = sink + (decoder.finish() ? 1 : decoder.error().message().size());
    }
    // consumed() never runs ahead of what was fed.
    if (decoder.consumed() > size - 1) {
        __builtin_trap();
    }
    return 0;
}
