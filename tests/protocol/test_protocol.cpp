// Tests of the wire protocol: encoder/decoder round trips of every record type, incremental
// feeding split at every byte, truncation and corrupted sizes, and the handshake rules.
#include <layertrace/wire/decoder.h>
#include <layertrace/wire/encoder.h>
#include <layertrace/wire/handshake.h>

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

namespace layertrace::wire {
namespace {

using Status = StreamDecoder::Status;

struct Decoded {
    std::vector<std::pair<std::uint32_t, std::vector<std::byte>>> records; // (tid, bytes)
    int batches = 0;
    bool handshake = false;
};

// Drains everything the decoder can give; fails the test on an error.
void drain(StreamDecoder& d, Decoded& out) {
    for (;;) {
        const Status s = d.next();
        switch (s) {
        case Status::NeedMore: return;
        case Status::Handshake: out.handshake = true; break;
        case Status::BatchBegin: ++out.batches; break;
        case Status::Record:
            out.records.emplace_back(d.batch().tid,
                                     std::vector<std::byte>(d.record().bytes().begin(), d.record().bytes().end()));
            break;
        case Status::BatchEnd: break;
        case Status::Error: FAIL() << d.error().message(); return;
        }
    }
}

// A probe->tracer stream holding every record type, in two batches.
struct SampleStream {
    std::vector<std::byte> bytes;
    std::vector<std::vector<std::byte>> records; // every record, in order, for comparisons
    std::vector<std::size_t> boundaries;         // offsets where the stream may legally end
};

void addBatch(SampleStream& s, std::uint32_t tid, const RecordWriter& w) {
    const std::size_t at = s.bytes.size();
    s.bytes.resize(at + sizeof(BatchHeader));
    encodeBatchHeader(s.bytes.data() + at, tid, static_cast<std::uint32_t>(w.size()), w.count());
    std::size_t pos = 0;
    while (pos < w.size()) {
        RecordHeader h;
        std::memcpy(&h, w.data() + pos, sizeof h);
        s.records.emplace_back(w.data() + pos, w.data() + pos + h.size);
        pos += h.size;
    }
    s.bytes.insert(s.bytes.end(), w.data(), w.data() + w.size());
    s.boundaries.push_back(s.bytes.size());
}

SampleStream makeSample() {
    SampleStream s;
    const Hello hello = makeHello(4242, 0x030b02f0, 0, 123456789);
    const auto* hb = reinterpret_cast<const std::byte*>(&hello);
    s.bytes.assign(hb, hb + sizeof hello);
    s.boundaries.push_back(s.bytes.size());

    std::array<std::byte, 8192> buf{};
    RecordWriter w(buf.data(), buf.size());
    EXPECT_TRUE(appendModuleMap(w, 1, 0x7f0000000000, 10, "/usr/lib/x86_64-linux-gnu/libffi.so.8"));
    EXPECT_TRUE(w.append(RecordType::ModuleUnmap, ModuleUnmap{{}, 1, 0, 11}));
    EXPECT_TRUE(appendThreadInfo(w, 77, "worker-1"));
    EXPECT_TRUE(appendString(w, 5, "transform"));
    EXPECT_TRUE(appendString(w, 6, "")); // empty strings are legal
    EXPECT_TRUE(w.append(RecordType::PyCode, PyCode{{}, 9, 5, 5, 6, 12, 0}));
    EXPECT_TRUE(w.append(RecordType::HookInfo, HookInfo{{}, 3, 5, 1, HookKind::Ffi, {}, 0x401000}));
    EXPECT_TRUE(appendReport(w, ReportLevel::Warning, "inline hook of foo failed: prologue too short"));
    EXPECT_TRUE(w.append(RecordType::Dropped, Dropped{{}, 17}));
    EXPECT_TRUE(w.append(RecordType::Goodbye, Goodbye{{}, 17, 3, kGoodbyeExitStatusKnown}));
    addBatch(s, kProcessTid, w);

    w.reset();
    EXPECT_TRUE(w.append(RecordType::PyCall, PyCall{{}, 100, 9, 12}));
    EXPECT_TRUE(w.append(RecordType::CCall, CCall{{}, 101, 0x1234, 5, 6}));
    EXPECT_TRUE(appendStack(w, std::array<std::uint64_t, 3>{0x10, 0x20, 0x30}, std::array<PyFrameRef, 2>{{{9, 13}, {9, 20}}}));
    EXPECT_TRUE(w.append(RecordType::CReturn, CCall{{}, 102, 0x1234, 5, 6}));
    EXPECT_TRUE(w.append(RecordType::CRaise, CCall{{}, 103, 0x1234, 5, 6}));
    EXPECT_TRUE(w.append(RecordType::InitEnter, InitEnter{{}, 104, 0x5000, 5, 6}));
    EXPECT_TRUE(w.append(RecordType::InitExit, InitExit{{}, 105, 0x5000, 1, 0}));
    const std::array<FfiValue, 2> args{{{FfiType::SInt32, {}, 4, 2}, {FfiType::SInt32, {}, 4, 3}}};
    EXPECT_TRUE(appendFfiCall(w, FfiCall{{}, 106, 0x6000, 0x7000, 3, 0, 2}, args));
    EXPECT_TRUE(w.append(RecordType::FfiReturn, FfiReturn{{}, 107, 0x6000, {FfiType::SInt32, {}, 4, 5}}));
    EXPECT_TRUE(w.append(RecordType::ClosureEnter, ClosureEnter{{}, 108, 0x8000, 0x8100, 0x8200}));
    EXPECT_TRUE(w.append(RecordType::ClosureExit, ClosureExit{{}, 109, 0x8000}));
    EXPECT_TRUE(w.append(RecordType::NativeEnter, NativeEnter{{}, 110, 0x9000, 0x9100, 4, 0}));
    EXPECT_TRUE(w.append(RecordType::NativeExit, NativeExit{{}, 111, 0x9000, 42, 4, 1}));
    EXPECT_TRUE(appendStack(w, {}, {}));
    EXPECT_TRUE(w.append(RecordType::PyReturn, PyReturn{{}, 112, 9, 1}));
    addBatch(s, 77, w);
    return s;
}

TEST(Protocol, RoundTripsEveryRecordType) {
    const SampleStream s = makeSample();
    StreamDecoder d(StreamDirection::ProbeToTracer);
    d.feed(s.bytes);
    Decoded out;
    drain(d, out);
    ASSERT_TRUE(out.handshake);
    EXPECT_EQ(out.batches, 2);
    ASSERT_EQ(out.records.size(), s.records.size());
    for (std::size_t i = 0; i < s.records.size(); ++i) {
        EXPECT_EQ(out.records[i].second, s.records[i]) << "record " << i;
    }
    EXPECT_TRUE(d.finish()) << d.error().message();
    EXPECT_EQ(d.consumed(), s.bytes.size());
}

TEST(Protocol, TypedAccessorsReadTails) {
    const SampleStream s = makeSample();
    StreamDecoder d(StreamDirection::ProbeToTracer);
    d.feed(s.bytes);
    int seen = 0;
    for (Status st = d.next(); st != Status::NeedMore; st = d.next()) {
        ASSERT_NE(st, Status::Error) << d.error().message();
        if (st != Status::Record) {
            continue;
        }
        const RecordView& r = d.record();
        switch (r.type()) {
        case RecordType::ModuleMap:
            EXPECT_EQ(r.text(), "/usr/lib/x86_64-linux-gnu/libffi.so.8");
            EXPECT_EQ(r.as<ModuleMap>().base, 0x7f0000000000u);
            ++seen;
            break;
        case RecordType::ThreadInfo: EXPECT_EQ(r.text(), "worker-1"); ++seen; break;
        case RecordType::Report: EXPECT_EQ(r.text(), "inline hook of foo failed: prologue too short"); ++seen; break;
        case RecordType::String:
            EXPECT_TRUE(r.text() == "transform" || r.text().empty());
            ++seen;
            break;
        case RecordType::FfiCall:
            ASSERT_EQ(r.ffiArgCount(), 2u);
            EXPECT_EQ(r.ffiArg(0).bits, 2u);
            EXPECT_EQ(r.ffiArg(1).bits, 3u);
            EXPECT_EQ(r.ffiArg(2).bits, 0u); // out of range: empty, never a wild read
            EXPECT_EQ(d.batch().tid, 77u);
            ++seen;
            break;
        case RecordType::Stack:
            if (r.nativeFrameCount() == 3) {
                EXPECT_EQ(r.nativeFrame(2), 0x30u);
                ASSERT_EQ(r.pythonFrameCount(), 2u);
                EXPECT_EQ(r.pythonFrame(1).line, 20u);
            } else {
                EXPECT_EQ(r.nativeFrameCount(), 0u);
                EXPECT_EQ(r.pythonFrameCount(), 0u);
            }
            ++seen;
            break;
        default: break;
        }
    }
    EXPECT_EQ(seen, 8);
}

// Feeding the stream in two pieces split at every byte yields the same records, and a stream
// cut at any offset is either a legal end (a boundary) or a clear "ended inside" error.
TEST(Protocol, TruncationAtEveryOffset) {
    const SampleStream s = makeSample();
    for (std::size_t cut = 0; cut <= s.bytes.size(); ++cut) {
        StreamDecoder d(StreamDirection::ProbeToTracer);
        Decoded out;
        d.feed(std::span(s.bytes).first(cut));
        drain(d, out);
        ASSERT_FALSE(d.failed()) << "cut " << cut << ": " << d.error().message();
        StreamDecoder ended = d; // what finish() says if the peer closed here
        const bool boundary = std::find(s.boundaries.begin(), s.boundaries.end(), cut) != s.boundaries.end();
        EXPECT_EQ(ended.finish(), boundary) << "cut " << cut << ": " << ended.error().message();
        if (!boundary) {
            EXPECT_LE(ended.error().offset, cut);
            EXPECT_NE(ended.error().what.find("ended"), std::string::npos) << ended.error().what;
        }
        d.feed(std::span(s.bytes).subspan(cut));
        drain(d, out);
        ASSERT_EQ(out.records.size(), s.records.size()) << "cut " << cut;
        for (std::size_t i = 0; i < s.records.size(); ++i) {
            ASSERT_EQ(out.records[i].second, s.records[i]) << "cut " << cut << " record " << i;
        }
        EXPECT_TRUE(d.finish());
    }
}

TEST(Protocol, DecodingAfterAnExternalHandshake) {
    const SampleStream s = makeSample();
    StreamDecoder d(StreamDirection::ProbeToTracer);
    d.assumeHandshakeDone();
    d.feed(std::span(s.bytes).subspan(sizeof(Hello)));
    Decoded out;
    drain(d, out);
    EXPECT_FALSE(out.handshake);
    EXPECT_EQ(out.records.size(), s.records.size());
    EXPECT_TRUE(d.finish());
}

TEST(Protocol, ByteByByteFeeding) {
    const SampleStream s = makeSample();
    StreamDecoder d(StreamDirection::ProbeToTracer);
    Decoded out;
    for (std::byte b : s.bytes) {
        d.feed(std::span(&b, 1));
        drain(d, out);
    }
    EXPECT_EQ(out.records.size(), s.records.size());
    EXPECT_TRUE(d.finish());
}

// Offsets of each record header inside the sample stream.
std::vector<std::size_t> recordOffsets(const SampleStream& s) {
    std::vector<std::size_t> offsets;
    std::size_t pos = sizeof(Hello);
    while (pos < s.bytes.size()) {
        BatchHeader b;
        std::memcpy(&b, s.bytes.data() + pos, sizeof b);
        std::size_t at = pos + sizeof b;
        while (at < pos + sizeof b + b.bytes) {
            offsets.push_back(at);
            RecordHeader h;
            std::memcpy(&h, s.bytes.data() + at, sizeof h);
            at += h.size;
        }
        pos = at;
    }
    return offsets;
}

// Every record with a corrupted size must be rejected with an error at (or before) that record,
// never decoded as something else and never read out of bounds.
TEST(Protocol, CorruptedSizesAreRejectedWithOffset) {
    const SampleStream s = makeSample();
    for (std::size_t at : recordOffsets(s)) {
        RecordHeader h;
        std::memcpy(&h, s.bytes.data() + at, sizeof h);
        for (std::uint16_t bad : {std::uint16_t(0), std::uint16_t(4), std::uint16_t(h.size + 1), std::uint16_t(h.size + 8),
                                  std::uint16_t(h.size - 8), std::uint16_t(0xfff8)}) {
            if (bad == h.size) {
                continue;
            }
            std::vector<std::byte> bytes = s.bytes;
            std::memcpy(bytes.data() + at + offsetof(RecordHeader, size), &bad, sizeof bad);
            StreamDecoder d(StreamDirection::ProbeToTracer);
            d.feed(bytes);
            Status st;
            while ((st = d.next()) != Status::NeedMore && st != Status::Error) {
            }
            const bool ended = st == Status::Error || !d.finish();
            ASSERT_TRUE(ended) << recordTypeName(h.type) << " size " << h.size << " -> " << bad << " accepted";
            EXPECT_LE(d.error().offset, at) << d.error().message();
            EXPECT_FALSE(d.error().what.empty());
        }
    }
}

TEST(Protocol, CountsAndTailsMustMatch) {
    std::array<std::byte, 1024> buf{};
    RecordWriter w(buf.data(), buf.size());
    std::string why;

    ASSERT_TRUE(appendString(w, 1, "abc"));
    String str;
    std::memcpy(&str, buf.data(), sizeof str);
    str.length = 200;
    std::memcpy(buf.data(), &str, sizeof str);
    EXPECT_FALSE(validateRecord(w.bytes(), &why));
    EXPECT_NE(why.find("String"), std::string::npos) << why;

    w.reset();
    ASSERT_TRUE(appendStack(w, std::array<std::uint64_t, 1>{1}, {}));
    Stack st;
    std::memcpy(&st, buf.data(), sizeof st);
    st.pythonCount = 3;
    std::memcpy(buf.data(), &st, sizeof st);
    EXPECT_FALSE(validateRecord(w.bytes(), &why));

    w.reset();
    ASSERT_TRUE(appendReport(w, ReportLevel::Info, "12345678")); // text fills the padding exactly
    std::memset(buf.data() + sizeof(Report), 'x', w.size() - sizeof(Report)); // drop the NUL
    EXPECT_FALSE(validateRecord(w.bytes(), &why));
    EXPECT_NE(why.find("NUL"), std::string::npos) << why;

    w.reset();
    const std::array<FfiValue, 1> arg{{{static_cast<FfiType>(99), {}, 4, 1}}};
    ASSERT_TRUE(appendFfiCall(w, FfiCall{}, arg));
    EXPECT_FALSE(validateRecord(w.bytes(), &why));
}

TEST(Protocol, BadBatchHeaders) {
    const SampleStream s = makeSample();
    const std::size_t batchAt = sizeof(Hello);
    auto expectError = [&](auto mutate, const char* fragment) {
        std::vector<std::byte> bytes = s.bytes;
        BatchHeader b;
        std::memcpy(&b, bytes.data() + batchAt, sizeof b);
        mutate(b);
        std::memcpy(bytes.data() + batchAt, &b, sizeof b);
        StreamDecoder d(StreamDirection::ProbeToTracer);
        d.feed(bytes);
        Status st;
        while ((st = d.next()) != Status::NeedMore && st != Status::Error) {
        }
        ASSERT_EQ(st, Status::Error) << fragment;
        EXPECT_NE(d.error().what.find(fragment), std::string::npos) << d.error().message();
    };
    expectError([](BatchHeader& b) { b.magic ^= 1; }, "magic");
    expectError([](BatchHeader& b) { b.bytes += 4; }, "multiple of 8");
    expectError([](BatchHeader& b) { b.count += 1; }, "announced");
    expectError([](BatchHeader& b) { b.count -= 1; }, "announced");
    expectError([](BatchHeader& b) { b.bytes -= 8; }, "crosses");
    expectError([](BatchHeader& b) { b.bytes = 1u << 30; }, "at most");
}

TEST(Protocol, HandshakeRequiresExactVersion) {
    Hello hello = makeHello(1, 0, 0, 0);
    std::string why;
    EXPECT_TRUE(checkHello(hello, &why));
    hello.version = kVersion + 1;
    EXPECT_FALSE(checkHello(hello, &why));
    EXPECT_NE(why.find("v" + std::to_string(kVersion + 1)), std::string::npos) << why;

    StreamDecoder d(StreamDirection::ProbeToTracer);
    d.feed(std::as_bytes(std::span(&hello, 1)));
    EXPECT_EQ(d.next(), Status::Error);
    EXPECT_EQ(d.error().offset, 0u);

    StreamDecoder notHello(StreamDirection::ProbeToTracer);
    const std::array<char, 8> garbage{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
    notHello.feed(std::as_bytes(std::span(garbage)));
    EXPECT_EQ(notHello.next(), Status::Error);
    EXPECT_NE(notHello.error().what.find("does not speak"), std::string::npos);
}

TEST(Protocol, WelcomeRoundTripAndControlRecords) {
    WelcomeOptions options;
    options.mode = TraceMode::Full;
    options.flags = kWelcomeStacks | kWelcomeLossless;
    options.probeSpecs = {"libstruct_demo.so:transform_*", "libm.so.6:cos"};
    std::array<std::byte, 1024> buf{};
    RecordWriter w(buf.data(), buf.size());
    std::string why;
    ASSERT_TRUE(appendWelcome(w, options, &why)) << why;
    ASSERT_TRUE(w.append(RecordType::Detach, Detach{}));

    StreamDecoder d(StreamDirection::TracerToProbe);
    d.feed(w.bytes());
    ASSERT_EQ(d.next(), Status::Handshake) << d.error().message();
    WelcomeOptions parsed;
    ASSERT_TRUE(parseWelcome(d.record().bytes(), &parsed, &why)) << why;
    EXPECT_EQ(parsed.mode, TraceMode::Full);
    EXPECT_EQ(parsed.flags, options.flags);
    EXPECT_EQ(parsed.probeSpecs, options.probeSpecs);
    ASSERT_EQ(d.next(), Status::Record);
    EXPECT_EQ(d.record().type(), RecordType::Detach);
    EXPECT_EQ(d.next(), Status::NeedMore);
    EXPECT_TRUE(d.finish());

    // Only documented control records are accepted from the tracer.
    RecordWriter w2(buf.data(), buf.size());
    ASSERT_TRUE(appendWelcome(w2, options, &why));
    ASSERT_TRUE(w2.append(RecordType::PyCall, PyCall{}));
    StreamDecoder d2(StreamDirection::TracerToProbe);
    d2.feed(w2.bytes());
    EXPECT_EQ(d2.next(), Status::Handshake);
    EXPECT_EQ(d2.next(), Status::Error);
    EXPECT_NE(d2.error().what.find("only Detach"), std::string::npos);

    options.probeSpecs = {std::string("a\0b", 3)};
    EXPECT_FALSE(appendWelcome(w2, options, &why));
}

TEST(Protocol, EncoderNeverOverflows) {
    std::array<std::byte, 40> buf{};
    RecordWriter w(buf.data(), 24);
    EXPECT_TRUE(w.append(RecordType::PyCall, PyCall{}));
    EXPECT_FALSE(w.append(RecordType::Dropped, Dropped{})); // 16 more bytes do not fit in 24
    EXPECT_EQ(w.size(), 24u);
    EXPECT_EQ(w.count(), 1u);
    EXPECT_EQ(buf[24], std::byte{0});
    std::vector<std::byte> big(1 << 17);
    RecordWriter wb(big.data(), big.size());
    const std::string huge(100000, 'x');
    ASSERT_TRUE(appendString(wb, 1, huge)); // cut to what fits in one record
    EXPECT_LE(wb.size(), kMaxRecordSize);
    EXPECT_TRUE(validateRecord(wb.bytes(), nullptr));
}

// Random byte corruption: the decoder must stop with an error or decode something valid,
// never crash (run under ASan in the asan preset). Deterministic seed.
TEST(Protocol, RandomCorruptionNeverCrashes) {
    const SampleStream s = makeSample();
    std::mt19937 rng(12345);
    int errors = 0;
    for (int round = 0; round < 3000; ++round) {
        std::vector<std::byte> bytes = s.bytes;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i) {
            bytes[rng() % bytes.size()] = static_cast<std::byte>(rng());
        }
        StreamDecoder d(StreamDirection::ProbeToTracer);
        std::size_t at = 0;
        Status st = Status::NeedMore;
        while (at < bytes.size() && st != Status::Error) {
            const std::size_t n = std::min<std::size_t>(1 + rng() % 64, bytes.size() - at);
            d.feed(std::span(bytes).subspan(at, n));
            at += n;
            while ((st = d.next()) != Status::NeedMore && st != Status::Error) {
                if (st == Status::Record) {
                    (void)d.record().text();
                    (void)d.record().pythonFrame(1);
                }
            }
        }
        if (st == Status::Error || !d.finish()) {
            ++errors;
            EXPECT_LE(d.error().offset, bytes.size());
        }
    }
    EXPECT_GT(errors, 0);
}

} // namespace
} // namespace layertrace::wire
