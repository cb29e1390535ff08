// An unlinked private file for the bytes the hand-over pool has no room for (see spool_file.h).
#include <layertrace/spool_file.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace layertrace::tracer {

SpoolFile::SpoolFile(int fd, std::string where) : m_fd(fd), m_where(std::move(where)) {}

SpoolFile::~SpoolFile() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

std::string SpoolFile::defaultDirectory() {
    const char* tmp = std::getenv("TMPDIR");
    return tmp != nullptr && *tmp != '\0' ? std::string(tmp) : std::string("/tmp");
}

std::unique_ptr<SpoolFile> SpoolFile::createIn(const std::string& directory, std::string* error) {
    // O_TMPFILE: the file never has a name, so no other process can open it even for an instant.
    int fd = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != EACCES && errno != EROFS) {
        // The file system has no O_TMPFILE: a named file, private (mkstemp makes it 0600 and
        // O_EXCL), unlinked at once.
        std::string templ = directory + "/layertrace-spool-XXXXXX";
        std::vector<char> name(templ.begin(), templ.end());
        name.push_back('\0');
        fd = ::mkostemp(name.data(), O_CLOEXEC);
        if (fd >= 0) {
            ::unlink(name.data());
        }
    }
    if (fd < 0) {
        *error = "cannot create a spool file in " + directory + ": " + std::strerror(errno) +
                 " (set TMPDIR to a writable directory)";
        return nullptr;
    }
    return std::make_unique<SpoolFile>(fd, directory);
}

namespace {

// All of `size` bytes through pread or pwrite from `offset`, across short transfers and EINTR.
// `atEnd` names a transfer of 0 bytes, which for a file of ours means something went wrong.
template <typename Buffer, typename Transfer>
bool transferAll(int fd, std::uint64_t offset, Buffer* p, std::size_t size, Transfer transfer, const char* atEnd,
                 std::string* error) {
    while (size > 0) {
        const ssize_t n = transfer(fd, p, size, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            *error = n == 0 ? std::string(atEnd) : std::strerror(errno);
            return false;
        }
        p += n;
        offset += static_cast<std::uint64_t>(n);
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

bool SpoolFile::write(std::uint64_t offset, const void* data, std::size_t size, std::string* error) {
    return transferAll(m_fd, offset, static_cast<const char*>(data), size, ::pwrite,
                       "the file system accepted no more bytes", error);
}

bool SpoolFile::read(std::uint64_t offset, void* data, std::size_t size, std::string* error) {
    return transferAll(m_fd, offset, static_cast<char*>(data), size, ::pread,
                       "the file is shorter than what was written to it", error);
}

bool SpoolFile::discard(std::uint64_t offset, std::size_t size) {
    return ::fallocate(m_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(size)) == 0;
}

void SpoolFile::truncate() {
    // A failure leaves the old bytes allocated; they are overwritten from offset 0 anyway.
    [[maybe_unused]] const int r = ::ftruncate(m_fd, 0);
}

} // namespace layertrace::tracer
