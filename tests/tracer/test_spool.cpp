// The hand-over's spool (chunk_queue.h, spool_file.h): with the pool full the reader goes on
// into the spool file; the consumer gets every byte back in stream order; the spool's limit makes
// the reader wait again; a file that cannot be made or written stops spilling without losing a
// byte already received. The reader runs ahead of a consumer that takes nothing, so each test
// shows structurally (not by timing) whether the reader had to wait.
#include "test_helpers.h"

#include <layertrace/chunk_queue.h>
#include <layertrace/errors.h>
#include <layertrace/spool_file.h>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

constexpr std::size_t kChunkSize = 64;

// The reader's side of a session: `count` chunks, chunk i full (`fullChunks`) or of a size that
// varies like socket reads, each starting with its sequence number and filled with its low byte.
struct Reader {
    ChunkQueue& queue;
    int count;
    bool fullChunks = false;
    std::atomic<int> pushed{0};

    static std::size_t sizeOf(int i, bool full) { return full ? kChunkSize : sizeof(int) + static_cast<std::size_t>(i % 53); }

    void run() {
        for (int i = 0; i < count; ++i) {
            ChunkQueue::Chunk* chunk = queue.acquire();
            ASSERT_NE(chunk, nullptr);
            chunk->size = sizeOf(i, fullChunks);
            std::memset(chunk->data.get(), i & 0xff, chunk->size);
            std::memcpy(chunk->data.get(), &i, sizeof i);
            queue.push(chunk);
            pushed.store(i + 1);
        }
        queue.close();
    }
};

// Pops the whole stream and checks it is the reader's, byte for byte, in order. Spooled bytes
// come back in chunks of their own size, so the check is on the concatenated stream.
void expectWholeStream(ChunkQueue& queue, int count, bool fullChunks) {
    std::vector<std::byte> expected, got;
    for (int i = 0; i < count; ++i) {
        std::vector<std::byte> chunk(Reader::sizeOf(i, fullChunks), static_cast<std::byte>(i & 0xff));
        std::memcpy(chunk.data(), &i, sizeof i);
        expected.insert(expected.end(), chunk.begin(), chunk.end());
    }
    while (ChunkQueue::Chunk* chunk = queue.pop()) {
        got.insert(got.end(), chunk->data.get(), chunk->data.get() + chunk->size);
        queue.release(chunk);
    }
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "the stream came back out of order or changed";
}

// Waits (up to a minute: a slow, sanitized run) for the reader thread to end.
bool finishes(std::future<void>& done) { return done.wait_for(std::chrono::seconds(60)) == std::future_status::ready; }

// Waits (up to a minute) until the queue's spool has failed: the reader is then waiting for a
// pool chunk, having filled the pool without the consumer.
bool spoolFails(const ChunkQueue& queue) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!queue.spoolStats().failed && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return queue.spoolStats().failed;
}

SpoolOptions spoolIn(const std::string& dir, std::uint64_t limit) {
    return {limit, [dir](std::string* error) { return SpoolFile::createIn(dir, error); }};
}

std::vector<SpoolNotice::Kind> kinds(const std::vector<SpoolNotice>& notices) {
    std::vector<SpoolNotice::Kind> out;
    for (const auto& n : notices) {
        out.push_back(n.kind);
    }
    return out;
}

// A memfd holding at most `bytes`: writes past that fail (EPERM), as on a file system that
// filled up after `bytes`.
std::unique_ptr<SpoolFile> fileThatFillsAfter(std::size_t bytes) {
    const int fd = ::memfd_create("spool-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0 || ::fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) != 0) {
        ADD_FAILURE() << "memfd: " << std::strerror(errno);
    }
    return std::make_unique<SpoolFile>(fd, "a test file full after " + std::to_string(bytes) + " bytes");
}

} // namespace

TEST(Spool, ReaderNeverWaitsAndTheStreamComesBackInOrder) {
    test::TempTree tmp;
    constexpr std::size_t kPool = 4;
    constexpr int kChunks = 2000; // 500 times the pool, no byte taken until the reader is done
    ChunkQueue queue(kChunkSize, kPool, spoolIn(tmp.root(), 1 << 20));
    Reader reader{queue, kChunks};
    std::future<void> done = std::async(std::launch::async, [&] { reader.run(); });
    ASSERT_TRUE(finishes(done)) << "the reader waited for the consumer: " << reader.pushed.load() << " pushed";
    const SpoolStats stats = queue.spoolStats();
    EXPECT_GT(stats.spooledBytes, 0u);
    EXPECT_EQ(stats.peakBytes, stats.spooledBytes); // nothing read back yet
    EXPECT_FALSE(stats.limitReached);
    EXPECT_FALSE(stats.failed);
    EXPECT_EQ(kinds(queue.takeNotices()), std::vector{SpoolNotice::Kind::Started});
    expectWholeStream(queue, kChunks, false);
    // Memory: the pool, the chunk being spilled and the one read back; the rest was on disk.
    EXPECT_LE(queue.chunksAllocated(), kPool + 2);
    // The unlinked file left no name behind.
    EXPECT_TRUE(std::filesystem::is_empty(tmp.root()));
}

TEST(Spool, OrderHoldsWhileTheConsumerCatchesUpAndFallsBehindAgain) {
    test::TempTree tmp;
    constexpr int kChunks = 20000;
    ChunkQueue queue(kChunkSize, 3, spoolIn(tmp.root(), 1 << 20));
    Reader reader{queue, kChunks};
    std::thread thread([&] { reader.run(); });
    // A consumer that pauses now and then: the stream alternates between pool chunks and spool
    // pieces, and the spool empties and starts again from its beginning several times.
    std::vector<std::byte> got;
    std::size_t pops = 0;
    while (ChunkQueue::Chunk* chunk = queue.pop()) {
        got.insert(got.end(), chunk->data.get(), chunk->data.get() + chunk->size);
        queue.release(chunk);
        if (++pops % 500 == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    thread.join();
    std::vector<std::byte> expected;
    for (int i = 0; i < kChunks; ++i) {
        std::vector<std::byte> chunk(Reader::sizeOf(i, false), static_cast<std::byte>(i & 0xff));
        std::memcpy(chunk.data(), &i, sizeof i);
        expected.insert(expected.end(), chunk.begin(), chunk.end());
    }
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
    EXPECT_LE(queue.chunksAllocated(), 3u + 2);
}

TEST(Spool, ItsLimitMakesTheReaderWaitUntilItDrains) {
    test::TempTree tmp;
    constexpr std::size_t kPool = 2, kSpoolChunks = 3;
    constexpr int kChunks = 20;
    ChunkQueue queue(kChunkSize, kPool, spoolIn(tmp.root(), kSpoolChunks * kChunkSize));
    Reader reader{queue, kChunks, /*fullChunks=*/true};
    std::future<void> done = std::async(std::launch::async, [&] { reader.run(); });
    // The reader fills the pool and the spool, then waits: it says so before waiting.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!queue.spoolStats().limitReached && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(queue.spoolStats().limitReached);
    EXPECT_EQ(reader.pushed.load(), static_cast<int>(kPool + kSpoolChunks));
    EXPECT_EQ(queue.spoolStats().spooledBytes, kSpoolChunks * kChunkSize);
    EXPECT_EQ(kinds(queue.takeNotices()), (std::vector{SpoolNotice::Kind::Started, SpoolNotice::Kind::LimitReached}));
    // The consumer holds on to the two pool chunks it pops first: the reader can only go on
    // through the spool, which it does as soon as the consumer has read back some of it (the
    // file restarts from its beginning whenever it is emptied).
    std::vector<std::byte> got;
    std::vector<ChunkQueue::Chunk*> held;
    while (ChunkQueue::Chunk* chunk = queue.pop()) {
        got.insert(got.end(), chunk->data.get(), chunk->data.get() + chunk->size);
        if (held.size() < kPool) {
            held.push_back(chunk);
        } else {
            queue.release(chunk);
        }
    }
    ASSERT_TRUE(finishes(done));
    for (ChunkQueue::Chunk* chunk : held) {
        queue.release(chunk);
    }
    ASSERT_EQ(got.size(), kChunks * kChunkSize);
    for (int i = 0; i < kChunks; ++i) {
        int seq = -1;
        std::memcpy(&seq, got.data() + static_cast<std::size_t>(i) * kChunkSize, sizeof seq);
        EXPECT_EQ(seq, i);
    }
    const SpoolStats stats = queue.spoolStats();
    EXPECT_LE(stats.peakBytes, kSpoolChunks * kChunkSize);
    EXPECT_EQ(stats.spooledBytes, (kChunks - kPool) * kChunkSize);
}

TEST(Spool, AWriteErrorStopsSpillingAndLosesNothing) {
    constexpr std::size_t kPool = 2;
    constexpr int kChunks = 40;
    // The file holds three chunks, then refuses (a file system that filled up).
    ChunkQueue queue(kChunkSize, kPool, {1 << 20, [](std::string*) { return fileThatFillsAfter(3 * kChunkSize); }});
    Reader reader{queue, kChunks, /*fullChunks=*/true};
    std::future<void> done = std::async(std::launch::async, [&] { reader.run(); });
    ASSERT_TRUE(spoolFails(queue));
    // The chunk that could not be written waits for a pool chunk, as without a spool: the reader
    // is stuck there until the consumer frees one.
    EXPECT_EQ(reader.pushed.load(), static_cast<int>(kPool + 3));
    const std::vector<SpoolNotice> notices = queue.takeNotices();
    ASSERT_EQ(kinds(notices), (std::vector{SpoolNotice::Kind::Started, SpoolNotice::Kind::Failed}));
    EXPECT_NE(notices[1].text.find("cannot write the spool file in a test file full after 192 bytes at offset 192: "
                                   "Operation not permitted"),
              std::string::npos)
        << notices[1].text;
    expectWholeStream(queue, kChunks, true);
    ASSERT_TRUE(finishes(done));
    EXPECT_EQ(queue.spoolStats().spooledBytes, 3 * kChunkSize); // none after the failure
    EXPECT_LE(queue.chunksAllocated(), kPool + 2);
}

TEST(Spool, AFullDiskAtTheFirstWriteIsTodaysBehaviour) {
    constexpr int kChunks = 30;
    ChunkQueue queue(kChunkSize, 2, {1 << 20, [](std::string*) {
                                          return std::make_unique<SpoolFile>(::open("/dev/full", O_RDWR | O_CLOEXEC),
                                                                             "/dev/full");
                                      }});
    Reader reader{queue, kChunks};
    std::thread thread([&] { reader.run(); });
    const bool failed = spoolFails(queue);
    expectWholeStream(queue, kChunks, false);
    thread.join();
    ASSERT_TRUE(failed);
    EXPECT_EQ(reader.pushed.load(), kChunks);
    const std::vector<SpoolNotice> notices = queue.takeNotices();
    ASSERT_EQ(kinds(notices), std::vector{SpoolNotice::Kind::Failed});
    EXPECT_NE(notices[0].text.find("No space left on device"), std::string::npos) << notices[0].text;
    EXPECT_EQ(queue.spoolStats().spooledBytes, 0u);
}

TEST(Spool, AFileThatCannotBeMadeIsSaidOnceAndTheReaderWaitsAsWithout) {
    test::TempTree tmp;
    constexpr int kChunks = 30;
    ChunkQueue queue(kChunkSize, 2, spoolIn(tmp.root() + "/missing", 1 << 20));
    Reader reader{queue, kChunks};
    std::thread thread([&] { reader.run(); });
    const bool failed = spoolFails(queue);
    expectWholeStream(queue, kChunks, false);
    thread.join();
    ASSERT_TRUE(failed);
    EXPECT_EQ(reader.pushed.load(), kChunks);
    const std::vector<SpoolNotice> notices = queue.takeNotices();
    ASSERT_EQ(kinds(notices), std::vector{SpoolNotice::Kind::Failed});
    EXPECT_NE(notices[0].text.find("cannot create a spool file in " + tmp.root() + "/missing: No such file"),
              std::string::npos)
        << notices[0].text;
}

TEST(Spool, ReadBackErrorIsAnIoError) {
    // The spool's file was written, then reads fail: the bytes it held cannot be decoded, which
    // the session must say instead of delivering a stream with a hole in it.
    ChunkQueue queue(kChunkSize, 1, {1 << 20, [](std::string*) {
                                         // Write-only: writes succeed (and keep nothing), reads fail.
                                         return std::make_unique<SpoolFile>(::open("/dev/null", O_WRONLY | O_CLOEXEC),
                                                                            "/dev/null");
                                     }});
    Reader reader{queue, 3, /*fullChunks=*/true};
    std::thread thread([&] { reader.run(); });
    thread.join(); // one chunk in the pool, two written to /dev/null (which keeps nothing)
    ChunkQueue::Chunk* first = queue.pop();
    ASSERT_NE(first, nullptr);
    queue.release(first);
    EXPECT_THROW(queue.pop(), IoError);
}

TEST(Spool, TheFileIsUnlinkedPrivateAndOurs) {
    test::TempTree tmp;
    std::string error;
    std::unique_ptr<SpoolFile> file = SpoolFile::createIn(tmp.root(), &error);
    ASSERT_NE(file, nullptr) << error;
    EXPECT_EQ(file->where(), tmp.root());
    const char text[] = "spooled bytes";
    ASSERT_TRUE(file->write(4096, text, sizeof text, &error)) << error;
    char back[sizeof text] = {};
    ASSERT_TRUE(file->read(4096, back, sizeof back, &error)) << error;
    EXPECT_STREQ(back, text);
    EXPECT_TRUE(std::filesystem::is_empty(tmp.root())); // no name, not even for an instant
    // Found through /proc/self/fd: no links, mode 0600, our uid.
    bool found = false;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        char target[PATH_MAX] = {};
        if (::readlink(entry.path().c_str(), target, sizeof target - 1) <= 0 ||
            std::string(target).rfind(tmp.root() + "/", 0) != 0) {
            continue;
        }
        struct stat st {};
        ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
        EXPECT_EQ(st.st_nlink, 0u);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        EXPECT_EQ(st.st_uid, ::getuid());
        found = true;
    }
    EXPECT_TRUE(found);
    file.reset();
    EXPECT_TRUE(std::filesystem::is_empty(tmp.root()));
}

TEST(Spool, SizesAreSaidInBinaryUnits) {
    EXPECT_EQ(byteSizeText(0), "0 bytes");
    EXPECT_EQ(byteSizeText(1), "1 byte");
    EXPECT_EQ(byteSizeText(1023), "1023 bytes");
    EXPECT_EQ(byteSizeText(1024), "1 KiB");
    EXPECT_EQ(byteSizeText(1536), "1.5 KiB");
    EXPECT_EQ(byteSizeText(std::uint64_t(1) << 30), "1 GiB");
    EXPECT_EQ(byteSizeText(12 * (std::uint64_t(1) << 20) + (std::uint64_t(1) << 19)), "12.5 MiB");
}
