// The disk side of a session's hand-over (chunk_queue.h): an unlinked, private file that holds
// the stream's bytes the in-memory pool has no room for, written at increasing offsets and read
// back in the same order. Unlinked from the start (O_TMPFILE, else mkstemp + unlink) and mode
// 0600, so only this process sees it and nothing is left behind, whatever way the tracer ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace layertrace::tracer {

class SpoolFile {
public:
    // Takes `fd` (a file open for reading and writing); `where` names it in messages.
    SpoolFile(int fd, std::string where);
    ~SpoolFile();
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;

    // A new unlinked file in `directory`; nullptr and `*error` (one line) when it cannot be made.
    static std::unique_ptr<SpoolFile> createIn(const std::string& directory, std::string* error);
    // $TMPDIR, else /tmp: where a session's spool file goes.
    static std::string defaultDirectory();

    // All of `size` bytes at `offset`; false with `*error` set (errno's text) otherwise.
    bool write(std::uint64_t offset, const void* data, std::size_t size, std::string* error);
    // All of `size` bytes from `offset`; false with `*error` set otherwise.
    bool read(std::uint64_t offset, void* data, std::size_t size, std::string* error);
    // Gives the disk blocks of a range already read back to the file system (a hole); false when
    // the file system cannot punch holes, and the range then stays on disk until truncate().
    bool discard(std::uint64_t offset, std::size_t size);
    // Empties the file: nothing is waiting in it.
    void truncate();

    const std::string& where() const { return m_where; }

private:
    int m_fd;
    std::string m_where;
};

} // namespace layertrace::tracer
