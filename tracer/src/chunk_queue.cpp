// Fixed pool of byte chunks between the socket reader and the decoder (see chunk_queue.h).
#include <layertrace/chunk_queue.h>

namespace layertrace::tracer {

ChunkQueue::ChunkQueue(std::size_t chunkSize, std::size_t maxChunks)
    : m_chunkSize(chunkSize == 0 ? 1 : chunkSize), m_maxChunks(maxChunks == 0 ? 1 : maxChunks) {
    m_all.reserve(m_maxChunks);
    m_free.reserve(m_maxChunks);
}

ChunkQueue::Chunk* ChunkQueue::acquire() {
    std::unique_lock lock(m_mutex);
    // Chunks are allocated on demand, so a slow trace never pays for the whole pool.
    m_space.wait(lock, [&] { return m_abandoned || !m_free.empty() || m_all.size() < m_maxChunks; });
    if (m_abandoned) {
        return nullptr;
    }
    if (m_free.empty()) {
        auto chunk = std::make_unique<Chunk>();
        chunk->data = std::make_unique<std::byte[]>(m_chunkSize);
        chunk->capacity = m_chunkSize;
        m_free.push_back(chunk.get());
        m_all.push_back(std::move(chunk));
    }
    Chunk* chunk = m_free.back();
    m_free.pop_back();
    chunk->size = 0;
    return chunk;
}

void ChunkQueue::push(Chunk* chunk) {
    if (chunk->size == 0) {
        release(chunk);
        return;
    }
    std::lock_guard lock(m_mutex);
    m_filled.push_back(chunk);
    m_ready.notify_one();
}

void ChunkQueue::close() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    m_ready.notify_all();
}

ChunkQueue::Chunk* ChunkQueue::pop() {
    std::unique_lock lock(m_mutex);
    m_ready.wait(lock, [&] { return m_closed || !m_filled.empty(); });
    if (m_filled.empty()) {
        return nullptr;
    }
    Chunk* chunk = m_filled.front();
    m_filled.pop_front();
    return chunk;
}

void ChunkQueue::release(Chunk* chunk) {
    std::lock_guard lock(m_mutex);
    chunk->size = 0;
    m_free.push_back(chunk);
    m_space.notify_one();
}

void ChunkQueue::abandon() {
    std::lock_guard lock(m_mutex);
    m_abandoned = true;
    for (Chunk* chunk : m_filled) {
        m_free.push_back(chunk);
    }
    m_filled.clear();
    m_space.notify_all();
}

std::size_t ChunkQueue::chunksAllocated() const {
    std::lock_guard lock(m_mutex);
    return m_all.size();
}

} // namespace layertrace::tracer
