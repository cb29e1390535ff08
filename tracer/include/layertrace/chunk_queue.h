// The bounded hand-over between a session's socket reader and its decoder: a fixed pool of
// byte chunks that the reader fills with read() and the decoder gives back once decoded. The
// pool never holds more than maxChunks × chunkSize bytes whatever the trace's length or the
// size of each read.
//
// When every chunk is waiting to be decoded (the program produces faster than the decoder
// decodes), the reader goes on reading into one more chunk that it writes to a spool file
// (spool_file.h) instead, and the decoder reads those bytes back, in stream order, when it gets
// to them: the socket is drained at the reader's speed, so the probe does not drop, and memory
// stays at the pool plus two chunks. Only when the spool is off (limit 0), full (its limit) or
// failed (a write error) does the reader wait for a chunk, the socket fill, and the probe wait
// (--lossless) or drop and count (normal mode).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace layertrace::tracer {

class SpoolFile;

struct SpoolOptions {
    // Most bytes waiting on disk at once; 0: no spool (the reader waits when the pool is full).
    std::uint64_t limit = 0;
    // Makes the file, at the first spill; nullptr and `*error` when it cannot. Empty: an
    // unlinked file in SpoolFile::defaultDirectory(). Tests give a file that fails.
    std::function<std::unique_ptr<SpoolFile>(std::string* error)> open;
};

// What a queue's spool did (read by the consumer once the stream ended).
struct SpoolStats {
    std::uint64_t spooledBytes = 0; // written to the spool in all
    std::uint64_t peakBytes = 0;    // most waiting in it at once
    bool limitReached = false;      // the reader waited at least once because the spool was full
    bool failed = false;            // it could not be made or written; spilling stopped there
};

// A one-line notice of the spool for the session to report (as a ProbeReport).
struct SpoolNotice {
    enum class Kind : std::uint8_t { Started, LimitReached, Failed };
    Kind kind;
    std::string text;
};

class ChunkQueue {
public:
    struct Chunk {
        std::unique_ptr<std::byte[]> data;
        std::size_t capacity = 0;
        std::size_t size = 0; // bytes filled
    };

    static constexpr std::size_t kDefaultChunkSize = std::size_t(1) << 16; // one socket read
    static constexpr std::size_t kDefaultMaxChunks = 128;                    // 8 MiB in flight

    explicit ChunkQueue(std::size_t chunkSize = kDefaultChunkSize, std::size_t maxChunks = kDefaultMaxChunks,
                        SpoolOptions spool = {});
    ~ChunkQueue();

    // Reader side: an empty chunk to fill. With the pool all waiting to be decoded, the spill
    // chunk (its bytes go to the spool at push()) while the spool has room; else it waits for a
    // chunk to be given back. nullptr once the consumer abandoned the queue.
    Chunk* acquire();
    // Reader side: a filled chunk for the consumer (an empty one is simply given back). A spill
    // chunk is written to the spool; when that fails, spilling stops and its bytes wait for a
    // pool chunk like any others (nothing received is lost).
    void push(Chunk* chunk);
    // Reader side: no more chunks will come.
    void close();

    // Consumer side: the next chunk of the stream, waiting for one (spooled bytes come back in a
    // chunk of their own); nullptr at the end of the stream. Throws IoError when spooled bytes
    // cannot be read back.
    Chunk* pop();
    // Consumer side: whether a chunk (or spooled bytes) is waiting right now, so that pop() would
    // not block; the consumer tells its sinks it is idle when not.
    bool hasFilled() const;
    // Either side: `chunk` may be filled again.
    void release(Chunk* chunk);
    // Consumer side: it stops decoding (bad stream); the reader's acquire() returns nullptr.
    void abandon();

    // Consumer side: one-line notices of the spool (it started, reached its limit, failed) not
    // taken yet, for the session to report; hasNotices() is cheap enough for every chunk.
    bool hasNotices() const { return m_noticesPending.load(std::memory_order_relaxed); }
    std::vector<SpoolNotice> takeNotices();
    SpoolStats spoolStats() const;

    // Chunks allocated so far: never more than maxChunks, plus the spill and read-back chunks
    // once the spool was used (what the bounded-memory test checks).
    std::size_t chunksAllocated() const;
    std::size_t maxBytes() const { return m_chunkSize * m_maxChunks; }

private:
    // One piece of the stream in order: a chunk in memory, or bytes [begin, end) of the spool.
    struct Piece {
        Chunk* chunk = nullptr;
        std::uint64_t begin = 0, end = 0;
    };

    Chunk* newChunkLocked();
    bool poolHasChunkLocked() const { return !m_free.empty() || m_poolAllocated < m_maxChunks; }
    std::uint64_t spoolOnDiskLocked() const { return m_spoolEnd - m_spoolOnDiskFrom; }
    bool spoolHasRoomLocked() const;
    bool openSpool();
    void spoolFailedLocked(const std::string& what);
    void noteLocked(SpoolNotice::Kind kind, std::string text);
    void pushSpilled(Chunk* chunk);
    Chunk* takePoolChunkLocked();
    Chunk* readSpooled(std::unique_lock<std::mutex>& lock);

    const std::size_t m_chunkSize;
    const std::size_t m_maxChunks;
    SpoolOptions m_spoolOptions;
    mutable std::mutex m_mutex;
    std::condition_variable m_ready, m_space;
    std::vector<std::unique_ptr<Chunk>> m_all;
    std::size_t m_poolAllocated = 0;
    std::vector<Chunk*> m_free;
    std::deque<Piece> m_filled;
    bool m_closed = false;
    bool m_abandoned = false;

    // The spool. The reader alone writes it, at m_spoolEnd; the consumer alone reads it, from
    // the front spool piece. Offsets restart at 0 when a spill begins with nothing spooled.
    std::unique_ptr<SpoolFile> m_spool;
    Chunk* m_spillChunk = nullptr;
    Chunk* m_readBackChunk = nullptr;
    std::uint64_t m_spoolEnd = 0;
    std::uint64_t m_spoolOnDiskFrom = 0; // bytes before it were read back and given to the file system
    std::uint64_t m_spoolUnread = 0;
    std::size_t m_spoolPieces = 0; // spool pieces in m_filled
    bool m_spoolFailed = false;
    SpoolStats m_stats;
    std::vector<SpoolNotice> m_notices;
    std::atomic<bool> m_noticesPending{false};
};

// "1 GiB", "12.5 MiB", "300 KiB", "512 bytes": a byte count as the spool's notices say it.
std::string byteSizeText(std::uint64_t bytes);

} // namespace layertrace::tracer
