// Recording format tests: every field survives a write/read round trip; a file cut at any byte or
// corrupted anywhere gives a RecordingError naming the damaged block's offset after delivering
// exactly the blocks before it; headers from newer versions or with unknown features are refused;
// blocks reach the disk while the writer is still open.
#include "recording_samples.h"

#include <layertrace/recording.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace layertrace::tracer::test {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "lt-rec-XXXXXX").string();
        m_root = ::mkdtemp(templ.data());
    }
    ~TempDir() { fs::remove_all(m_root); }
    std::string file(const std::string& name) const { return m_root + "/" + name; }

private:
    std::string m_root;
};

std::string readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeBytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::uint32_t le32(const std::string& b, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        v |= static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
    }
    return v;
}

// Offsets where each block starts, and the file size at the end.
std::vector<std::size_t> blockOffsets(const std::string& bytes) {
    std::vector<std::size_t> out;
    std::size_t at = recording::kFileHeaderSize;
    while (at < bytes.size()) {
        out.push_back(at);
        at += recording::kBlockHeaderSize + le32(bytes, at + 4);
    }
    EXPECT_EQ(at, bytes.size());
    return out;
}

std::string writeSample(const TempDir& dir, const Sample& s, RecordingWriterOptions o = {}) {
    const std::string path = dir.file("sample.ltr");
    RecordingWriter w(path, s.info, o);
    play(s, w);
    EXPECT_EQ(w.error(), "");
    return path;
}

TEST(RecordingRoundTrip, EveryFieldSurvives) {
    TempDir dir;
    const Sample s = makeSample();
    RecordingWriterOptions small;
    small.blockEvents = 4; // several blocks, so state carries across them
    const std::string path = writeSample(dir, s, small);

    RecordingReader reader(path);
    EXPECT_EQ(reader.header().formatVersion, recording::kFormatVersion);
    EXPECT_EQ(reader.header().minReaderVersion, recording::kMinReadableVersion);
    EXPECT_EQ(reader.header().headerSize, recording::kFileHeaderSize);
    EXPECT_EQ(reader.header().byteOrder, 1);
    EXPECT_EQ(reader.header().wordSize, 8);
    EXPECT_EQ(reader.header().incompatFeatures, recording::kIncompatZstd);
    EXPECT_EQ(reader.header().compatFeatures, recording::kCompatStacks | recording::kCompatFullMode);
    EXPECT_EQ(reader.header().createdUnixNs, s.info.startUnixNs);

    const RecordingInfo& info = reader.info();
    EXPECT_EQ(info.argv, s.info.argv);
    EXPECT_EQ(info.cwd, s.info.cwd);
    EXPECT_EQ(info.interpreter, s.info.interpreter);
    EXPECT_EQ(info.pythonVersion, s.info.pythonVersion);
    EXPECT_EQ(info.pid, s.pid);
    EXPECT_EQ(info.startUnixNs, s.info.startUnixNs);
    EXPECT_EQ(info.layertraceVersion, s.info.layertraceVersion);
    EXPECT_EQ(info.hostname, s.info.hostname);
    EXPECT_EQ(info.system, s.info.system);
    EXPECT_EQ(info.options, s.info.options);
    EXPECT_EQ(info.option("probe"), (std::vector<std::string>{"libfoo.so:*", "x:y"}));

    ReplaySink sink;
    const ReplayStats stats = reader.replay(sink);
    EXPECT_TRUE(stats.finished);
    EXPECT_GT(stats.blocks, 3u);
    EXPECT_EQ(stats.events, s.events.size());
    EXPECT_EQ(sink.pid, s.pid);
    ASSERT_EQ(sink.modules.size(), s.modules.size());
    for (std::size_t i = 0; i < s.modules.size(); ++i) {
        expectSameModule(sink.modules[i], s.modules[i]);
    }
    ASSERT_EQ(sink.events.size(), s.events.size());
    for (std::size_t i = 0; i < s.events.size(); ++i) {
        expectSameEvent(sink.events[i], s.events[i]);
    }
    ASSERT_EQ(sink.reports.size(), s.reports.size());
    for (std::size_t i = 0; i < s.reports.size(); ++i) {
        EXPECT_EQ(sink.reports[i].level, s.reports[i].level);
        EXPECT_EQ(sink.reports[i].message, s.reports[i].message);
        EXPECT_EQ(sink.reports[i].origin, s.reports[i].origin);
    }
    EXPECT_EQ(sink.dropped, s.dropped);
    EXPECT_EQ(sink.finishedCalls, 1);
    EXPECT_EQ(sink.result.exitStatus, s.result.exitStatus);
    EXPECT_EQ(sink.result.termSignal, s.result.termSignal);
    EXPECT_EQ(sink.result.connected, s.result.connected);
    EXPECT_EQ(sink.result.handshakeFailed, s.result.handshakeFailed);
    EXPECT_EQ(sink.result.events, s.result.events);
    EXPECT_EQ(sink.result.dropped, s.result.dropped);
    EXPECT_EQ(sink.result.streamError, s.result.streamError);
    EXPECT_EQ(sink.result.discardedExits, s.result.discardedExits);
    EXPECT_EQ(sink.result.goodbyeMissing, s.result.goodbyeMissing);
    EXPECT_EQ(sink.result.possiblyMissing, s.result.possiblyMissing);
    EXPECT_EQ(sink.result.lostExits, s.result.lostExits);
}

TEST(RecordingRoundTrip, InterpreterFromTheModuleMapWhenNotGiven) {
    TempDir dir;
    Sample s = makeSample(1);
    s.info.interpreter.clear();
    s.info.pythonVersion.clear();
    const std::string path = writeSample(dir, s);
    RecordingReader reader(path);
    EXPECT_EQ(reader.info().interpreter, "/usr/bin/python3.11");
    EXPECT_EQ(reader.info().pythonVersion, "3.11");
}

// The probe's Hello carries PY_VERSION_HEX: the recording keeps the exact version, not the
// major.minor of the interpreter's file name, whether or not the interpreter was known up front.
TEST(RecordingRoundTrip, ExactPythonVersionFromTheProbe) {
    for (const bool interpreterKnown : {false, true}) {
        TempDir dir;
        Sample s = makeSample(1);
        if (!interpreterKnown) {
            s.info.interpreter.clear();
            s.info.pythonVersion.clear();
        }
        const std::string path = dir.file("exact.ltr");
        {
            RecordingWriter w(path, s.info);
            w.onStarted(s.pid);
            w.onConnected(s.pid, pythonVersionText(0x030B02F0u));
            play(s, w);
        }
        RecordingReader reader(path);
        EXPECT_EQ(reader.info().interpreter, "/usr/bin/python3.11") << interpreterKnown;
        EXPECT_EQ(reader.info().pythonVersion, "3.11.2") << interpreterKnown;
    }
}

TEST(RecordingRoundTrip, PythonVersionText) {
    EXPECT_EQ(pythonVersionText(0x030B02F0u), "3.11.2");
    EXPECT_EQ(pythonVersionText(0x030D00C1u), "3.13.0rc1");
    EXPECT_EQ(pythonVersionText(0x030C00A7u), "3.12.0a7");
    EXPECT_EQ(pythonVersionText(0), "");
}

TEST(RecordingRoundTrip, StringsAndFramesAreInterned) {
    TempDir dir;
    const Sample small = makeSample(1);
    const Sample big = makeSample(201);
    const auto a = fs::file_size(writeSample(dir, small));
    const auto b = fs::file_size(writeSample(dir, big));
    // 200 more iterations of 6 events with stacks: interning and zstd keep each well under the
    // size of its strings (an uncompressed, un-interned iteration is over 1 KB).
    EXPECT_LT(static_cast<double>(b - a) / 200.0, 120.0) << "bytes per iteration";
}

TEST(RecordingRoundTrip, RecordingInfoFromRunOptions) {
    RunOptions o;
    o.argv = {"python3", "user.py"};
    o.mode = TraceMode::Anchored;
    o.stacks = false;
    o.probeSpecs = {"libm.so*:cos"};
    o.wrapperGlobs = {"*/bindings.py"};
    const RecordingInfo info = recordingInfoFor(o, "9.9.9");
    EXPECT_EQ(info.argv, o.argv);
    EXPECT_FALSE(info.cwd.empty());
    EXPECT_EQ(info.layertraceVersion, "9.9.9");
    EXPECT_GT(info.startUnixNs, 1700000000000000000ull);
    EXPECT_EQ(info.option("mode"), std::vector<std::string>{"anchored"});
    EXPECT_EQ(info.option("stacks"), std::vector<std::string>{"0"});
    EXPECT_EQ(info.option("probe"), std::vector<std::string>{"libm.so*:cos"});
    EXPECT_EQ(info.option("wrapper"), std::vector<std::string>{"*/bindings.py"});
}

// The events a complete replay delivers from a file cut at each block boundary: what must come
// out of any damage inside the following block.
struct Layout {
    std::string bytes;
    std::vector<std::size_t> blocks;
    std::vector<std::size_t> eventsBefore; // events in blocks [0, k)
    std::vector<TraceEvent> all;
};

Layout layoutOf(const TempDir& dir, const std::string& path) {
    Layout l;
    l.bytes = readBytes(path);
    l.blocks = blockOffsets(l.bytes);
    ReplaySink full;
    RecordingReader(path).replay(full);
    l.all = full.events;
    for (std::size_t k = 0; k < l.blocks.size(); ++k) {
        const std::string cut = dir.file("cut-boundary.ltr");
        writeBytes(cut, l.bytes.substr(0, l.blocks[k]));
        ReplaySink sink;
        try {
            RecordingReader(cut).replay(sink);
            ADD_FAILURE() << "a file cut at block " << k << " replayed without error";
        } catch (const RecordingError& e) {
            EXPECT_EQ(e.offset(), l.blocks[k]) << e.what();
            EXPECT_NE(std::string(e.what()).find("without its final record"), std::string::npos) << e.what();
        }
        l.eventsBefore.push_back(sink.events.size());
    }
    return l;
}

// Which block contains byte `at`.
std::size_t blockAt(const Layout& l, std::size_t at) {
    std::size_t k = 0;
    while (k + 1 < l.blocks.size() && l.blocks[k + 1] <= at) {
        ++k;
    }
    return k;
}

void expectPrefix(const ReplaySink& sink, const Layout& l, std::size_t count) {
    ASSERT_EQ(sink.events.size(), count);
    for (std::size_t i = 0; i < count; ++i) {
        EXPECT_EQ(sink.events[i].seq, l.all[i].seq);
        EXPECT_EQ(sink.events[i].symbol, l.all[i].symbol);
    }
    EXPECT_EQ(sink.finishedCalls, 1);
    EXPECT_FALSE(sink.result.streamError.empty());
}

TEST(RecordingDamage, TruncatedAtEveryOffset) {
    TempDir dir;
    RecordingWriterOptions small;
    small.blockEvents = 3;
    const Layout l = layoutOf(dir, writeSample(dir, makeSample(), small));
    ASSERT_GT(l.blocks.size(), 4u);
    const std::string cut = dir.file("cut.ltr");
    for (std::size_t size = 0; size < l.bytes.size(); ++size) {
        SCOPED_TRACE("cut at " + std::to_string(size) + " of " + std::to_string(l.bytes.size()));
        writeBytes(cut, l.bytes.substr(0, size));
        if (size < recording::kFileHeaderSize) {
            EXPECT_THROW(RecordingReader{cut}, RecordingError);
            continue;
        }
        RecordingReader reader(cut);
        ReplaySink sink;
        try {
            reader.replay(sink);
            ADD_FAILURE() << "no error";
        } catch (const RecordingError& e) {
            if (size == recording::kFileHeaderSize) {
                EXPECT_EQ(e.offset(), size);
                expectPrefix(sink, l, 0);
                continue;
            }
            const std::size_t k = blockAt(l, size);
            const bool atBoundary = l.blocks[k] == size;
            EXPECT_EQ(e.offset(), l.blocks[k]) << e.what();
            EXPECT_NE(std::string(e.what()).find(atBoundary ? "final record" : "truncated"), std::string::npos)
                << e.what();
            EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << "names the file: " << e.what();
            expectPrefix(sink, l, l.eventsBefore[k]);
        }
    }
}

TEST(RecordingDamage, CorruptedByteInEveryBlock) {
    TempDir dir;
    RecordingWriterOptions small;
    small.blockEvents = 3;
    const Layout l = layoutOf(dir, writeSample(dir, makeSample(), small));
    const std::string bad = dir.file("bad.ltr");
    std::size_t checked = 0;
    for (std::size_t k = 0; k < l.blocks.size(); ++k) {
        const std::size_t end = k + 1 < l.blocks.size() ? l.blocks[k + 1] : l.bytes.size();
        // Every byte of small blocks; a sample of larger ones.
        const std::size_t step = std::max<std::size_t>(1, (end - l.blocks[k]) / 40);
        for (std::size_t at = l.blocks[k]; at < end; at += step) {
            SCOPED_TRACE("flipped byte " + std::to_string(at) + " in block " + std::to_string(k));
            std::string bytes = l.bytes;
            bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
            writeBytes(bad, bytes);
            ReplaySink sink;
            try {
                RecordingReader(bad).replay(sink);
                ADD_FAILURE() << "corruption not detected";
            } catch (const RecordingError& e) {
                EXPECT_GE(e.offset(), l.blocks[k]) << e.what();
                EXPECT_LT(e.offset(), end) << e.what();
                EXPECT_NE(std::string(e.what()).find("corrupted"), std::string::npos) << e.what();
                expectPrefix(sink, l, l.eventsBefore[k]);
            }
            ++checked;
        }
    }
    EXPECT_GT(checked, 100u);
}

std::string withHeaderField(std::string bytes, std::size_t at, std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i) {
        bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
    }
    // Keep the header's CRC valid so the field itself is what the reader judges.
    std::uint32_t crc = 0xffffffffu;
    for (std::size_t i = 0; i < recording::kFileHeaderSize - 4; ++i) {
        crc ^= static_cast<unsigned char>(bytes[i]);
        for (int b = 0; b < 8; ++b) {
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
    }
    crc = ~crc;
    for (int i = 0; i < 4; ++i) {
        bytes[recording::kFileHeaderSize - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    }
    return bytes;
}

void expectRefused(const std::string& path, const std::string& bytes, std::uint64_t offset, const std::string& text) {
    writeBytes(path, bytes);
    try {
        RecordingReader r(path);
        ADD_FAILURE() << "accepted; expected: " << text;
    } catch (const RecordingError& e) {
        EXPECT_EQ(e.offset(), offset) << e.what();
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
}

TEST(RecordingHeader, RefusesWhatItCannotRead) {
    TempDir dir;
    const std::string good = readBytes(writeSample(dir, makeSample(1)));
    const std::string p = dir.file("h.ltr");
    expectRefused(p, "{\"traceEvents\": []}\n" + std::string(64, ' '), 0, "not a layertrace recording");
    std::string crlf = good;
    crlf.erase(5, 1); // "\r\n" became "\n"
    expectRefused(p, crlf, 0, "text mode");
    expectRefused(p, withHeaderField(good, 10, recording::kFormatVersion + 1, 2), 10, "upgrade layertrace");
    expectRefused(p, withHeaderField(good, 24, recording::kIncompatZstd | 0x80, 4), 24, "does not know");
    expectRefused(p, withHeaderField(good, 16, 2, 1), 16, "byte order");
    std::string flipped = good;
    flipped[33] = static_cast<char>(flipped[33] ^ 1);
    expectRefused(p, flipped, 60, "checksum");
    // A newer minor version (readable by 1) with unknown compat bits is accepted.
    std::string newer = withHeaderField(withHeaderField(good, 8, recording::kFormatVersion + 1, 2), 20, 0xff00, 4);
    writeBytes(p, newer);
    RecordingReader r(p);
    ReplaySink sink;
    EXPECT_TRUE(r.replay(sink).finished);
    EXPECT_EQ(r.header().formatVersion, recording::kFormatVersion + 1);
}

TEST(RecordingWriterTest, BlocksReachTheDiskWhileRecording) {
    TempDir dir;
    const Sample s = makeSample(2);
    RecordingWriterOptions o;
    o.flushIntervalMs = 20;
    const std::string path = dir.file("live.ltr");
    RecordingWriter w(path, s.info, o);
    play(s, w, /*finish=*/false);
    // The background flusher writes the partial block without any further callback.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::size_t events = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        ReplaySink sink;
        try {
            RecordingReader(path).replay(sink);
        } catch (const RecordingError& e) {
            EXPECT_NE(std::string(e.what()).find("without its final record"), std::string::npos) << e.what();
        }
        events = sink.events.size();
        if (events == s.events.size()) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(events, s.events.size()) << "the flusher did not write the pending block";
    w.onFinished(s.result);
    ReplaySink sink;
    EXPECT_TRUE(RecordingReader(path).replay(sink).finished);
}

TEST(RecordingWriterTest, UnwritablePathIsAnIoError) {
    EXPECT_THROW(RecordingWriter("/nonexistent-dir/x.ltr", RecordingInfo{}), IoError);
    EXPECT_THROW(RecordingReader("/nonexistent-dir/x.ltr"), IoError);
}

TEST(RecordingDump, ShowsHeaderBlocksAndRecords) {
    TempDir dir;
    RecordingWriterOptions small;
    small.blockEvents = 5;
    const std::string path = writeSample(dir, makeSample(1), small);
    std::ostringstream out;
    RecordingReader(path).dump(out);
    const std::string text = out.str();
    EXPECT_NE(text.find("header @0: format " + std::to_string(recording::kFormatVersion) + ", min reader 1, header size 64"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("finished (53 bytes) exit 3 events 9 dropped 17 discarded_exits 5 lost_exits 7 connected "
                        "no-goodbye possibly_missing 43690"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("block 0 @64:"), std::string::npos) << text;
    EXPECT_NE(text.find("session_info"), std::string::npos);
    EXPECT_NE(text.find("#1 \"/tmp/demo dir/libstruct_demo.so\""), std::string::npos);
    EXPECT_NE(text.find("#1 native libstruct_demo.so:transform_record (/src/struct_demo.c:41)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(" seq 2 ts "), std::string::npos);
    EXPECT_NE(text.find("ffi_call ffi libffi.so.8:ffi_call depth 1 stack 3"), std::string::npos) << text;
    EXPECT_NE(text.find("finished"), std::string::npos);
    // Damage: dump prints up to it, then throws.
    std::string bytes = readBytes(path);
    const std::string cut = dir.file("cut.ltr");
    writeBytes(cut, bytes.substr(0, bytes.size() - 3));
    std::ostringstream partial;
    EXPECT_THROW(RecordingReader(cut).dump(partial), RecordingError);
    EXPECT_NE(partial.str().find("block 0 @64:"), std::string::npos);
}

} // namespace
} // namespace layertrace::tracer::test
