// Bounded memory, asserted structurally (no timing): what the tracer keeps while streaming
// depends on the distinct code a trace touches and on the hand-over pool's fixed size, never
// on the trace's length.
#include "stream_builder.h"
#include "test_helpers.h"

#include <layertrace/assembler.h>
#include <layertrace/chunk_queue.h>
#include <layertrace/formatters.h>
#include <layertrace/spool_file.h>
#include <layertrace/stream.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

using namespace layertrace;
using namespace layertrace::tracer;
using test::StreamBuilder;

namespace {

constexpr std::uint64_t kFfiBase = 0x7f0000000000;
constexpr std::uint64_t kPlainBase = 0x7f0200000000;

struct CacheSizes {
    std::size_t symbols = 0, descriptions = 0, frameSlots = 0;
    std::uint64_t events = 0;
    std::size_t pathLines = 0;
};

// `calls` ffi_calls, each into one of two targets (which call each other through a hooked
// NativeEnter/NativeExit pair) from one of three call sites, formatted as path lines.
CacheSizes runCalls(int calls) {
    Symbolizer s;
    const std::uint64_t ffiCall = s.addressOf(s.addModule(1, LIBFFI_SO, kFfiBase), "ffi_call");
    ModuleInfo& plain = s.addModule(2, FIXTURE_PLAIN, kPlainBase);
    const std::uint64_t add = s.addressOf(plain, "plain_add");
    const std::uint64_t twice = s.addressOf(plain, "plain_twice");
    StreamBuilder b;
    b.batch(1).moduleMap(1, LIBFFI_SO, kFfiBase).moduleMap(2, FIXTURE_PLAIN, kPlainBase)
        .string(1, "ffi_call").string(2, "plain_add").string(3, "plain_twice")
        .hook(1, 1, 1, wire::HookKind::Ffi, ffiCall).hook(2, 2, 2, wire::HookKind::TargetSymbol, add)
        .hook(3, 3, 2, wire::HookKind::TargetSymbol, twice);
    std::uint64_t ts = 0;
    for (int i = 0; i < calls; ++i) {
        if (i % 500 == 0) {
            b.batch(1);
        }
        const std::uint64_t target = i % 2 ? add : twice;
        const std::uint64_t site = 0x401000 + 0x10 * static_cast<std::uint64_t>(i % 3);
        b.ffiCall(ts, 1, target, site, {StreamBuilder::value(wire::FfiType::SInt32, static_cast<std::uint64_t>(i))});
        b.nativeEnter(ts + 1, 2, add, target + 8).nativeExit(ts + 2, 2, add, 2);
        b.ffiReturn(ts + 3, target, StreamBuilder::value(wire::FfiType::SInt32, 2));
        ts += 10;
    }
    const std::vector<std::byte> bytes = b.bytes();

    std::ostringstream out;
    auto formatter = makeFormatter(OutputFormat::Path, out);
    Symbolizer symbolizer;
    Classifier classifier;
    Assembler assembler(symbolizer, classifier, *formatter);
    StreamFeeder feeder(assembler);
    constexpr std::size_t kChunk = 4096;
    for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
        feeder.feed(bytes.data() + at, std::min(kChunk, bytes.size() - at));
    }
    feeder.finish();
    formatter->onFinished({});
    CacheSizes sizes;
    sizes.symbols = symbolizer.cachedAddresses();
    sizes.descriptions = assembler.cachedDescriptions();
    sizes.frameSlots = assembler.frameSlots(1);
    sizes.events = assembler.eventCount();
    const std::string text = out.str();
    sizes.pathLines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    return sizes;
}

TEST(BoundedMemory, AssemblerCachesFollowDistinctCodeNotTraceLength) {
    const CacheSizes small = runCalls(300);
    const CacheSizes large = runCalls(6000);
    // Every call was delivered and printed: the caches did not replace work.
    EXPECT_EQ(small.events, 300u * 4);
    EXPECT_EQ(large.events, 6000u * 4);
    EXPECT_EQ(large.pathLines, 6000u);
    // Two targets, three call sites, one nested hook, ffi_call itself: a handful of entries,
    // the same after 20 times as many calls.
    EXPECT_GT(large.symbols, 0u);
    EXPECT_LE(large.symbols, 12u);
    EXPECT_LE(large.descriptions, 12u);
    EXPECT_EQ(small.symbols, large.symbols);
    EXPECT_EQ(small.descriptions, large.descriptions);
    // Frame slots follow the deepest nesting (ffi_call -> plain_add), not the number of calls.
    EXPECT_EQ(large.frameSlots, 2u);
}

TEST(BoundedMemory, ChunkQueueNeverAllocatesMoreThanItsPool) {
    constexpr std::size_t kChunkSize = 64, kMaxChunks = 4;
    ChunkQueue queue(kChunkSize, kMaxChunks); // no spool (--spool-limit 0): the reader waits
    EXPECT_EQ(queue.maxBytes(), kChunkSize * kMaxChunks);
    constexpr int kChunks = 2000; // 500 times the pool
    std::thread reader([&] {
        for (int i = 0; i < kChunks; ++i) {
            ChunkQueue::Chunk* chunk = queue.acquire();
            ASSERT_NE(chunk, nullptr);
            // Sizes vary like socket reads; each chunk carries its sequence number.
            chunk->size = sizeof(int) + static_cast<std::size_t>(i % 7);
            std::memcpy(chunk->data.get(), &i, sizeof i);
            queue.push(chunk);
        }
        queue.close();
    });
    int expected = 0;
    while (ChunkQueue::Chunk* chunk = queue.pop()) {
        int got = -1;
        std::memcpy(&got, chunk->data.get(), sizeof got);
        EXPECT_EQ(got, expected++);
        EXPECT_LE(queue.chunksAllocated(), kMaxChunks);
        queue.release(chunk);
    }
    reader.join();
    EXPECT_EQ(expected, kChunks);
    EXPECT_LE(queue.chunksAllocated(), kMaxChunks);
}

TEST(BoundedMemory, ChunkQueueWithASpoolKeepsMemoryToThePoolAndDiskToTheLimit) {
    // A session's queue: a backlog beyond the pool goes to the spool file, never to memory, and
    // the file never holds more than the limit.
    test::TempTree tmp;
    constexpr std::size_t kChunkSize = 64, kMaxChunks = 4, kLimit = 8 * kChunkSize;
    ChunkQueue queue(kChunkSize, kMaxChunks,
                     {kLimit, [dir = tmp.root()](std::string* error) { return SpoolFile::createIn(dir, error); }});
    constexpr int kChunks = 4000; // 1000 times the pool
    std::thread reader([&] {
        for (int i = 0; i < kChunks; ++i) {
            ChunkQueue::Chunk* chunk = queue.acquire();
            ASSERT_NE(chunk, nullptr);
            chunk->size = kChunkSize - static_cast<std::size_t>(i % 5);
            std::memcpy(chunk->data.get(), &i, sizeof i);
            queue.push(chunk);
        }
        queue.close();
    });
    std::vector<std::byte> stream; // spooled bytes come back in read-back chunks of their own
    std::size_t pops = 0;
    while (ChunkQueue::Chunk* chunk = queue.pop()) {
        stream.insert(stream.end(), chunk->data.get(), chunk->data.get() + chunk->size);
        EXPECT_LE(queue.chunksAllocated(), kMaxChunks + 2); // + the spill and read-back chunks
        EXPECT_LE(queue.spoolStats().peakBytes, kLimit);
        queue.release(chunk);
        if (++pops % 200 == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1)); // fall behind now and then
        }
    }
    reader.join();
    int expected = 0;
    for (std::size_t at = 0; at < stream.size(); at += kChunkSize - static_cast<std::size_t>(expected++ % 5)) {
        int got = -1;
        std::memcpy(&got, stream.data() + at, sizeof got);
        ASSERT_EQ(got, expected) << "at byte " << at;
    }
    EXPECT_EQ(expected, kChunks);
    EXPECT_GT(queue.spoolStats().spooledBytes, 0u);
}

TEST(BoundedMemory, AbandonedChunkQueueStopsTheReader) {
    ChunkQueue queue(16, 2);
    ChunkQueue::Chunk* a = queue.acquire();
    ChunkQueue::Chunk* b = queue.acquire();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    a->size = 1;
    queue.push(a);
    // The pool is exhausted; the consumer gives up, so the reader must not wait forever.
    std::thread reader([&] { EXPECT_EQ(queue.acquire(), nullptr); });
    queue.abandon();
    reader.join();
    EXPECT_EQ(queue.chunksAllocated(), 2u);
}

} // namespace
