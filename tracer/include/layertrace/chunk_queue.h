// The bounded hand-over between a session's socket reader and its decoder: a fixed pool of
// byte chunks that the reader fills with read() and the decoder gives back once decoded. The
// pool never holds more than maxChunks × chunkSize bytes whatever the trace's length or the
// size of each read; when every chunk is waiting to be decoded the reader stops reading, the
// socket fills, and the probe waits (--lossless) or drops and counts (normal mode).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace layertrace::tracer {

class ChunkQueue {
public:
    struct Chunk {
        std::unique_ptr<std::byte[]> data;
        std::size_t capacity = 0;
        std::size_t size = 0; // bytes filled
    };

    static constexpr std::size_t kDefaultChunkSize = std::size_t(1) << 16; // one socket read
    static constexpr std::size_t kDefaultMaxChunks = 128;                    // 8 MiB in flight

    explicit ChunkQueue(std::size_t chunkSize = kDefaultChunkSize, std::size_t maxChunks = kDefaultMaxChunks);

    // Reader side: an empty chunk to fill, waiting while all of them hold undecoded bytes;
    // nullptr once the consumer abandoned the queue.
    Chunk* acquire();
    // Reader side: a filled chunk for the consumer (an empty one is simply given back).
    void push(Chunk* chunk);
    // Reader side: no more chunks will come.
    void close();

    // Consumer side: the next filled chunk, waiting for one; nullptr at the end of the stream.
    Chunk* pop();
    // Either side: `chunk` may be filled again.
    void release(Chunk* chunk);
    // Consumer side: it stops decoding (bad stream); the reader's acquire() returns nullptr.
    void abandon();

    // Chunks allocated so far: never more than maxChunks (what the bounded-memory test checks).
    std::size_t chunksAllocated() const;
    std::size_t maxBytes() const { return m_chunkSize * m_maxChunks; }

private:
    const std::size_t m_chunkSize;
    const std::size_t m_maxChunks;
    mutable std::mutex m_mutex;
    std::condition_variable m_ready, m_space;
    std::vector<std::unique_ptr<Chunk>> m_all;
    std::vector<Chunk*> m_free;
    std::deque<Chunk*> m_filled;
    bool m_closed = false;
    bool m_abandoned = false;
};

} // namespace layertrace::tracer
