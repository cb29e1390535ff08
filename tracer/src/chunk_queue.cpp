// Fixed pool of byte chunks between the socket reader and the decoder, with a spool file for
// what the pool cannot hold (see chunk_queue.h).
#include <layertrace/chunk_queue.h>

#include <layertrace/errors.h>
#include <layertrace/spool_file.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

namespace layertrace::tracer {

std::string byteSizeText(std::uint64_t bytes) {
    static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
    }
    double value = static_cast<double>(bytes) / 1024;
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(kUnits)) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    // Whole units without a decimal: the default limit reads "1 GiB", not "1.0 GiB".
    std::snprintf(text, sizeof text, value == static_cast<double>(static_cast<std::uint64_t>(value)) ? "%.0f %s" : "%.1f %s",
                  value, kUnits[unit]);
    return text;
}

ChunkQueue::ChunkQueue(std::size_t chunkSize, std::size_t maxChunks, SpoolOptions spool)
    : m_chunkSize(chunkSize == 0 ? 1 : chunkSize), m_maxChunks(maxChunks == 0 ? 1 : maxChunks),
      m_spoolOptions(std::move(spool)) {
    m_all.reserve(m_maxChunks + 2);
    m_free.reserve(m_maxChunks);
}

ChunkQueue::~ChunkQueue() = default;

ChunkQueue::Chunk* ChunkQueue::newChunkLocked() {
    auto chunk = std::make_unique<Chunk>();
    chunk->data = std::make_unique<std::byte[]>(m_chunkSize);
    chunk->capacity = m_chunkSize;
    m_all.push_back(std::move(chunk));
    return m_all.back().get();
}

ChunkQueue::Chunk* ChunkQueue::takePoolChunkLocked() {
    // Chunks are allocated on demand, so a slow trace never pays for the whole pool.
    if (m_free.empty()) {
        ++m_poolAllocated;
        m_free.push_back(newChunkLocked());
    }
    Chunk* chunk = m_free.back();
    m_free.pop_back();
    chunk->size = 0;
    return chunk;
}

bool ChunkQueue::spoolHasRoomLocked() const {
    if (m_spoolOptions.limit == 0 || m_spoolFailed) {
        return false;
    }
    // With nothing spooled the file starts again from offset 0 (acquire()).
    const std::uint64_t onDisk = m_spoolPieces == 0 ? 0 : spoolOnDiskLocked();
    return onDisk + m_chunkSize <= m_spoolOptions.limit;
}

void ChunkQueue::noteLocked(SpoolNotice::Kind kind, std::string text) {
    m_notices.push_back({kind, std::move(text)});
    m_noticesPending.store(true, std::memory_order_relaxed);
}

void ChunkQueue::spoolFailedLocked(const std::string& what) {
    m_spoolFailed = true;
    m_stats.failed = true;
    noteLocked(SpoolNotice::Kind::Failed,
               "spool: " + what + "; spilling stops (what it holds is still decoded), and while the tracer is "
                                  "behind the probe drops events again (free space, set TMPDIR, or --spool-limit)");
    m_space.notify_all();
}

bool ChunkQueue::openSpool() {
    std::string error;
    std::unique_ptr<SpoolFile> file = m_spoolOptions.open
                                          ? m_spoolOptions.open(&error)
                                          : SpoolFile::createIn(SpoolFile::defaultDirectory(), &error);
    std::lock_guard lock(m_mutex);
    if (!file) {
        spoolFailedLocked(error);
        return false;
    }
    m_spool = std::move(file);
    return true;
}

ChunkQueue::Chunk* ChunkQueue::acquire() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (m_abandoned) {
            return nullptr;
        }
        if (poolHasChunkLocked()) {
            return takePoolChunkLocked();
        }
        if (spoolHasRoomLocked()) {
            // The file is made (or emptied) by this thread, the only one that writes it, and
            // outside the lock: the consumer reads it only through spool pieces, and there are none.
            if (!m_spool) {
                lock.unlock();
                const bool opened = openSpool();
                lock.lock();
                if (!opened) {
                    continue;
                }
            }
            if (m_spoolPieces == 0 && m_spoolEnd != 0) {
                m_spoolEnd = 0;
                m_spoolOnDiskFrom = 0;
                lock.unlock();
                m_spool->truncate();
                lock.lock();
            }
            if (m_spillChunk == nullptr) {
                m_spillChunk = newChunkLocked();
            }
            m_spillChunk->size = 0;
            return m_spillChunk;
        }
        if (m_spool && !m_spoolFailed && !m_stats.limitReached) {
            m_stats.limitReached = true;
            noteLocked(SpoolNotice::Kind::LimitReached,
                       "spool: the spool file in " + m_spool->where() + " holds its limit of " +
                           byteSizeText(m_spoolOptions.limit) +
                           " (--spool-limit): the tracer reads again as it drains, and the probe drops events "
                           "meanwhile (--lossless: the program waits)");
        }
        m_space.wait(lock);
    }
}

void ChunkQueue::push(Chunk* chunk) {
    if (chunk->size == 0) {
        release(chunk);
        return;
    }
    if (chunk == m_spillChunk) {
        pushSpilled(chunk);
        return;
    }
    std::lock_guard lock(m_mutex);
    m_filled.push_back({chunk});
    m_ready.notify_one();
}

void ChunkQueue::pushSpilled(Chunk* chunk) {
    // Only this (the reader's) thread changes m_spoolEnd and writes the file.
    const std::uint64_t at = m_spoolEnd;
    std::string error;
    const bool written = m_spool->write(at, chunk->data.get(), chunk->size, &error);
    std::unique_lock lock(m_mutex);
    if (written) {
        if (!m_filled.empty() && m_filled.back().chunk == nullptr && m_filled.back().end == at) {
            m_filled.back().end = at + chunk->size;
        } else {
            m_filled.push_back({nullptr, at, at + chunk->size});
            ++m_spoolPieces;
        }
        m_spoolEnd = at + chunk->size;
        m_spoolUnread += chunk->size;
        m_stats.peakBytes = std::max(m_stats.peakBytes, m_spoolUnread);
        if (m_stats.spooledBytes == 0) {
            noteLocked(SpoolNotice::Kind::Started,
                       "spool: the tracer is behind the program: what its memory cannot hold goes to an unlinked "
                       "file in " + m_spool->where() + " (up to " + byteSizeText(m_spoolOptions.limit) +
                           ", --spool-limit) and the output catches up later");
        }
        m_stats.spooledBytes += chunk->size;
        m_ready.notify_one();
        return;
    }
    spoolFailedLocked("cannot write the spool file in " + m_spool->where() + " at offset " + std::to_string(at) +
                      ": " + error);
    // Nothing received is lost: these bytes wait for a pool chunk, as all bytes do without a spool.
    m_space.wait(lock, [&] { return m_abandoned || poolHasChunkLocked(); });
    if (m_abandoned) {
        return;
    }
    Chunk* inMemory = takePoolChunkLocked();
    std::memcpy(inMemory->data.get(), chunk->data.get(), chunk->size);
    inMemory->size = chunk->size;
    m_filled.push_back({inMemory});
    m_ready.notify_one();
}

void ChunkQueue::close() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    m_ready.notify_all();
}

bool ChunkQueue::hasFilled() const {
    std::lock_guard lock(m_mutex);
    return !m_filled.empty();
}

ChunkQueue::Chunk* ChunkQueue::pop() {
    std::unique_lock lock(m_mutex);
    m_ready.wait(lock, [&] { return m_closed || !m_filled.empty(); });
    if (m_filled.empty()) {
        return nullptr;
    }
    if (Chunk* chunk = m_filled.front().chunk) {
        m_filled.pop_front();
        return chunk;
    }
    return readSpooled(lock);
}

ChunkQueue::Chunk* ChunkQueue::readSpooled(std::unique_lock<std::mutex>& lock) {
    if (m_readBackChunk == nullptr) {
        m_readBackChunk = newChunkLocked();
    }
    Chunk* out = m_readBackChunk;
    const std::uint64_t at = m_filled.front().begin;
    const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(m_filled.front().end - at, out->capacity));
    SpoolFile& file = *m_spool;
    const std::uint64_t onDiskFrom = m_spoolOnDiskFrom;
    // The piece stays queued while it is read, so the reader neither empties nor reuses the file.
    lock.unlock();
    std::string error;
    if (!file.read(at, out->data.get(), size, &error)) {
        throw IoError("the spool file in " + file.where(),
                      "cannot read back " + std::to_string(size) + " bytes at offset " + std::to_string(at) + ": " +
                          error + " (the trace after this point is lost)");
    }
    const bool discarded = file.discard(onDiskFrom, static_cast<std::size_t>(at + size - onDiskFrom));
    lock.lock();
    Piece& front = m_filled.front(); // the reader may have appended: references do not survive
    front.begin = at + size;
    if (front.begin == front.end) {
        m_filled.pop_front();
        --m_spoolPieces;
    }
    m_spoolUnread -= size;
    if (discarded) {
        m_spoolOnDiskFrom = at + size;
    }
    out->size = size;
    m_space.notify_one();
    return out;
}

void ChunkQueue::release(Chunk* chunk) {
    std::lock_guard lock(m_mutex);
    chunk->size = 0;
    if (chunk == m_spillChunk || chunk == m_readBackChunk) {
        return; // not pool chunks
    }
    m_free.push_back(chunk);
    m_space.notify_one();
}

void ChunkQueue::abandon() {
    std::lock_guard lock(m_mutex);
    m_abandoned = true;
    for (const Piece& piece : m_filled) {
        if (piece.chunk != nullptr) {
            m_free.push_back(piece.chunk);
        }
    }
    m_filled.clear();
    m_spoolPieces = 0;
    m_space.notify_all();
}

std::vector<SpoolNotice> ChunkQueue::takeNotices() {
    std::lock_guard lock(m_mutex);
    m_noticesPending.store(false, std::memory_order_relaxed);
    return std::exchange(m_notices, {});
}

SpoolStats ChunkQueue::spoolStats() const {
    std::lock_guard lock(m_mutex);
    return m_stats;
}

std::size_t ChunkQueue::chunksAllocated() const {
    std::lock_guard lock(m_mutex);
    return m_all.size();
}

} // namespace layertrace::tracer
