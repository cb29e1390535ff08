// Live sessions: private socket directory, launching the program with the probe preloaded,
// peer-checked accept, handshake, and the reader thread feeding the assembler (see session.h).
#include <layertrace/session.h>

#include <layertrace/assembler.h>
#include <layertrace/attach.h>
#include <layertrace/chunk_queue.h>
#include <layertrace/errors.h>
#include <layertrace/stream.h>
#include <layertrace/wire/handshake.h>

#include "exec_chain.h"
#include "session_accounting.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

extern char** environ;

#ifndef LAYERTRACE_BUILD_PROBE_PATH
#define LAYERTRACE_BUILD_PROBE_PATH ""
#endif
#ifndef LAYERTRACE_INSTALL_PROBE
#define LAYERTRACE_INSTALL_PROBE ""
#endif

namespace layertrace::tracer {

namespace {

std::string errnoText(int err) { return std::strerror(err); }

bool isExecutableFile(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// execvp's lookup, done before fork so the error is one clear line and the child needs no malloc.
std::string resolveProgram(const std::string& program, const std::string& cwd) {
    if (program.empty()) {
        throw UsageError("no program given after --");
    }
    if (program.find('/') != std::string::npos) {
        const std::string path = program[0] == '/' || cwd.empty() ? program : cwd + "/" + program;
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            throw ProgramNotFoundError(program, "no such file");
        }
        if (!isExecutableFile(path)) {
            throw ProgramNotFoundError(program, "not an executable file (check its permissions)");
        }
        return path;
    }
    const char* envPath = std::getenv("PATH");
    std::string paths = envPath ? envPath : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= paths.size()) {
        const std::size_t colon = paths.find(':', start);
        std::string dir = paths.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (dir.empty()) {
            dir = ".";
        }
        const std::string candidate = dir + "/" + program;
        if (isExecutableFile(candidate)) {
            return candidate;
        }
        if (colon == std::string::npos) {
            break;
        }
        start = colon + 1;
    }
    throw ProgramNotFoundError(program, "not found on PATH");
}

// The directory for the socket: $XDG_RUNTIME_DIR (private by spec) or /tmp/layertrace-<uid>,
// which we create 0700 and refuse to use if someone else owns it or it is not private.
std::string privateDirectory() {
    std::string base;
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
        struct stat st {};
        if (::stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() && ::access(xdg, W_OK) == 0) {
            base = xdg;
        }
    }
    if (base.empty()) {
        base = "/tmp/layertrace-" + std::to_string(::getuid());
        if (::mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) {
            throw TransportError("cannot create " + base + ": " + errnoText(errno));
        }
        struct stat st {};
        if (::lstat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() ||
            (st.st_mode & 077) != 0) {
            throw TransportError(base + " is not a private directory owned by uid " + std::to_string(::getuid()) +
                                 " (remove it, or set XDG_RUNTIME_DIR)");
        }
    }
    std::string templ = base + "/layertrace-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
        throw TransportError("cannot create a private directory under " + base + ": " + errnoText(errno));
    }
    return std::string(buf.data());
}

// The program a process runs now (/proc/PID/exe), for the exec notice.
std::string executableOf(pid_t pid) {
    char path[PATH_MAX];
    const ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), path, sizeof path - 1);
    return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : "an unknown program";
}

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int statusFromWait(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return 1;
}

bool writeAll(int fd, const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

wire::WelcomeOptions welcomeOptions(const RunOptions& o) {
    wire::WelcomeOptions w;
    w.mode = o.mode == TraceMode::Full ? wire::TraceMode::Full : wire::TraceMode::Anchored;
    w.flags = (o.stacks ? wire::kWelcomeStacks : 0u) | (o.lossless ? wire::kWelcomeLossless : 0u) |
              (o.allCCalls ? wire::kWelcomeAllCCalls : 0u);
    w.probeSpecs = o.probeSpecs;
    return w;
}

// The application root for the classifier: the script's directory (first *.py argument), else cwd.
std::string appDirFor(const RunOptions& o) {
    std::string cwd = o.cwd;
    if (cwd.empty()) {
        char buf[PATH_MAX];
        if (::getcwd(buf, sizeof buf) != nullptr) {
            cwd = buf;
        }
    }
    for (const auto& a : o.argv) {
        if (a.size() > 3 && a.compare(a.size() - 3, 3, ".py") == 0) {
            std::string script = a[0] == '/' ? a : cwd + "/" + a;
            const auto slash = script.rfind('/');
            return script.substr(0, slash);
        }
    }
    return cwd;
}

} // namespace

std::string findProbeLibrary(const std::string& overridePath) {
    auto usable = [](const std::string& p) { return !p.empty() && ::access(p.c_str(), R_OK) == 0; };
    if (!overridePath.empty()) {
        if (!usable(overridePath)) {
            throw ProbeMissingError(overridePath, "does not exist or is not readable");
        }
        return overridePath;
    }
    if (const char* env = std::getenv("LAYERTRACE_PROBE"); env != nullptr && *env != '\0') {
        if (!usable(env)) {
            throw ProbeMissingError(env, "(from LAYERTRACE_PROBE) does not exist or is not readable");
        }
        return env;
    }
    // Next to our own executable: <prefix>/bin/layertrace -> <prefix>/lib/layertrace/, and in a
    // build tree <build>/tracer/layertrace -> <build>/probes/.
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string dir(self, static_cast<std::size_t>(n));
        dir = dir.substr(0, dir.rfind('/'));
        const std::string parent = dir.substr(0, dir.rfind('/'));
        for (const std::string& c : {parent + "/lib/layertrace/liblayertrace_probe.so",
                                     parent + "/probes/liblayertrace_probe.so", dir + "/liblayertrace_probe.so"}) {
            if (usable(c)) {
                return c;
            }
        }
    }
    for (const std::string& c : {std::string(LAYERTRACE_BUILD_PROBE_PATH), std::string(LAYERTRACE_INSTALL_PROBE)}) {
        if (usable(c)) {
            return c;
        }
    }
    throw ProbeMissingError(std::string(LAYERTRACE_BUILD_PROBE_PATH), "was not found");
}

struct Session::Impl {
    RunOptions options;
    EventSink* sink = nullptr;
    std::string dir, socketPath;
    int listenFd = -1;
    int pidfd = -1;
    pid_t pid = -1;
    std::thread reader;
    std::mutex waitMutex;
    bool joined = false;
    std::atomic<bool> exited{false};
    SessionResult result;
    // The stream ended (EOF) inside a record: the probe's process vanished mid-send, which is
    // not a malformed stream (session_accounting.h).
    bool streamCutAtEnd = false;
    // Attached sessions (Session::attach): the probe's connection, for stop()'s Detach.
    bool attached = false;
    std::mutex probeMutex;
    int probeFd = -1;
    bool detachRequested = false;
    bool detachSent = false;
    // RunOptions::skipBacklogOnDetach: the bytes of the current image the socket reader had
    // received, and, from the detach on, how many of them the decoder skims (session.h).
    std::atomic<std::uint64_t> bytesReceived{0};
    std::atomic<std::uint64_t> skimUntil{0};

    // The decoder skims every chunk received so far (skipBacklogOnDetach, Session::skipBacklog).
    void skimWhatWasReceived() {
        skimUntil.store(bytesReceived.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }

    // Sends Detach once the probe is connected and welcomed. probeMutex held.
    void sendDetachLocked() {
        if (probeFd < 0 || detachSent || !result.connected) {
            return;
        }
        const wire::Detach detach{{wire::RecordType::Detach, sizeof(wire::Detach), 0}};
        detachSent = writeAll(probeFd, &detach, sizeof detach);
    }

    void startReader();

    // The spool's notices (it started, reached its limit, failed), each kind said once a session
    // even when every exec'd image spools again.
    std::uint8_t spoolNoticesSaid = 0;
    SpoolStats spoolStats; // summed over the images (exec)
    void reportSpoolNotices(ChunkQueue& queue) {
        for (SpoolNotice& notice : queue.takeNotices()) {
            const auto bit = static_cast<std::uint8_t>(1u << static_cast<unsigned>(notice.kind));
            if ((spoolNoticesSaid & bit) == 0) {
                spoolNoticesSaid |= bit;
                sink->onReport({notice.kind == SpoolNotice::Kind::Started ? ProbeReport::Level::Info
                                                                          : ProbeReport::Level::Warning,
                                std::move(notice.text), ProbeReport::Origin::Tracer});
            }
        }
    }

    ~Impl() {
        if (listenFd >= 0) {
            ::close(listenFd);
        }
        if (pidfd >= 0) {
            ::close(pidfd);
        }
        cleanupSocket();
    }

    void cleanupSocket() {
        if (!socketPath.empty()) {
            ::unlink(socketPath.c_str());
            socketPath.clear();
        }
        if (!dir.empty()) {
            ::rmdir(dir.c_str());
            dir.clear();
        }
    }

    // Reads the socket until EOF (or, once the program has exited, until it stays quiet for a
    // second: its descendants may still hold the socket open), filling chunks of `queue`. With
    // every chunk waiting to be decoded it stops reading: the probe then waits or drops.
    void pump(int fd, ChunkQueue& queue) {
        bool programGone = false;
        for (;;) {
            pollfd fds[2] = {{fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
            const int r = ::poll(fds, programGone ? 1 : 2, programGone ? 1000 : -1);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                break;
            }
            if (!programGone && (fds[1].revents & POLLIN) && !(fds[0].revents & (POLLIN | POLLHUP))) {
                programGone = true;
                continue;
            }
            ChunkQueue::Chunk* chunk = queue.acquire();
            if (chunk == nullptr) {
                break; // the consumer gave up (bad stream)
            }
            const ssize_t n = ::read(fd, chunk->data.get(), chunk->capacity);
            if (n <= 0) {
                queue.release(chunk);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                break;
            }
            chunk->size = static_cast<std::size_t>(n);
            bytesReceived.fetch_add(chunk->size, std::memory_order_relaxed);
            queue.push(chunk);
        }
        queue.close();
    }

    // Waits for the probe to connect; -1 when the program exited first (attached: or when the
    // injected probe did not connect within 10 s).
    int acceptProbe() {
        for (;;) {
            pollfd fds[2] = {{listenFd, POLLIN, 0}, {pidfd, POLLIN, 0}};
            const int r = ::poll(fds, 2, attached ? 10000 : -1);
            if (r == 0) {
                result.streamError = "the probe injected into PID " + std::to_string(pid) +
                                     " did not connect within 10 s (its reason is on the target's stderr)";
                return -1;
            }
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return -1;
            }
            if (fds[0].revents & POLLIN) {
                const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) {
                    continue;
                }
                ucred cred{};
                socklen_t len = sizeof cred;
                if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::getuid() ||
                    cred.pid != pid) {
                    // Only our own user's processes may feed us events (the 0700 directory should
                    // already guarantee it, this is the second lock), and only the process we
                    // launched or attached to (or a program it exec'd, which keeps its PID): a
                    // descendant that found the socket is not part of the session.
                    ::close(fd);
                    continue;
                }
                return fd;
            }
            if (fds[1].revents & POLLIN) {
                return -1;
            }
        }
    }

    // One image of the launched process: the program, then each program it exec'd into (same
    // PID). Every id, address and thread of the stream restarts with a new image, so each has
    // its own symbolizer, classifier and assembler; event numbers go on where the last ended.
    struct Image {
        Symbolizer symbolizer;
        Classifier classifier;
        Assembler assembler;
        Image(const ClassifierOptions& options, EventSink& sink)
            : classifier(options), assembler(symbolizer, classifier, sink) {}
    };
    // Losses of the images before the current one (the result adds the current image's).
    std::uint64_t earlierImagesDropped = 0;
    std::uint64_t earlierImagesOrphanExits = 0;
    std::uint64_t earlierImagesLostExits = 0;
    // The programs the launched process went through, for the one line said about them.
    ExecChain execChain;
    // The last image that connected sent everything and exec'd a program that never connected:
    // its stream is complete without a Goodbye.
    bool lastImageEndedAtExec = false;

    // The launched process's images, one connection each, as one session. An attached probe is
    // not preloaded, so an exec ends its session (the new image has no probe).
    void run(std::unique_ptr<Image>& image, const ClassifierOptions& classifierOptions) {
        int fd = acceptProbe();
        if (attached) {
            closeListener();
        }
        if (fd >= 0) {
            execChain.started(static_cast<std::uint32_t>(pid), executableOf(pid));
        }
        while (fd >= 0) {
            const std::optional<std::string> execPath = readImage(fd, image->assembler);
            if (!execPath || attached) {
                break;
            }
            // The image said it was about to exec and its stream ended: the new image connects
            // from the same PID, or the process ends without it (a static or setuid program,
            // whose loader ignores LD_PRELOAD).
            fd = acceptProbe();
            if (fd < 0) {
                sink->onReport({ProbeReport::Level::Info,
                                "exec: PID " + std::to_string(pid) + " exec'd " + *execPath +
                                    ", which never connected (a static or setuid program ignores LD_PRELOAD; "
                                    "otherwise its probe said why on stderr): its events are not traced"});
                lastImageEndedAtExec = true;
                break;
            }
            // Said once the chain reaches a Python interpreter, or ends without one.
            execChain.execd(executableOf(pid));
            const std::uint64_t nextSeq = image->assembler.eventCount();
            earlierImagesDropped += image->assembler.droppedTotal();
            earlierImagesOrphanExits += image->assembler.orphanExits();
            earlierImagesLostExits += image->assembler.lostExits();
            image = std::make_unique<Image>(classifierOptions, *sink);
            image->assembler.continueSequence(nextSeq);
        }
        closeListener();
        if (result.connected && !lastImageEndedAtExec) {
            if (std::optional<std::string> note = execChain.ended(attached)) {
                sink->onReport({ProbeReport::Level::Info, *note, ProbeReport::Origin::Tracer});
            }
        }
    }

    // No more connections: later processes find no socket and their probes stay off.
    void closeListener() {
        if (listenFd >= 0) {
            ::close(listenFd);
            listenFd = -1;
        }
        cleanupSocket();
    }

    // Decodes one image's stream until it ends. Returns the path the image said it was about to
    // exec when that was the last thing it sent (the stream then ended at the exec).
    std::optional<std::string> readImage(int fd, Assembler& assembler) {
        StreamFeeder feeder(assembler, "stream from PID " + std::to_string(pid), [&](const wire::Hello& hello) {
            std::vector<std::byte> out(wire::kMaxRecordSize);
            wire::RecordWriter writer(out.data(), out.size());
            std::string why;
            if (!wire::appendWelcome(writer, welcomeOptions(options), &why)) {
                throw HandshakeError(hello.pid, why);
            }
            if (!writeAll(fd, writer.data(), writer.size())) {
                throw HandshakeError(hello.pid, "could not send Welcome: " + errnoText(errno));
            }
            {
                std::lock_guard<std::mutex> lock(probeMutex);
                probeFd = fd;
                result.connected = true;
                if (detachRequested) {
                    sendDetachLocked(); // stop() came while the probe was connecting
                }
            }
            assembler.setPid(hello.pid);
            sink->onConnected(hello.pid, pythonVersionText(hello.pythonVersionHex));
            if (std::optional<std::string> note = execChain.connected(hello.pythonVersionHex != 0, attached)) {
                sink->onReport({ProbeReport::Level::Info, *note, ProbeReport::Origin::Tracer});
            }
            // Cross-check: objects mapped before the probe's first ModuleMap record.
            for (const auto& [path, bias] : loadBiases(readProcMaps(hello.pid))) {
                assembler.addMappedObject(path, bias);
            }
        });
        feeder.setPeerPid(static_cast<std::uint32_t>(pid));

        // The socket is drained by its own thread into a queue, so that slow work on this thread
        // (ELF inspection of a newly mapped object, libdw loading line tables, a slow terminal,
        // a burst faster than decoding) never stalls the probe's sender and makes it drop events.
        // The queue is a fixed pool (ChunkQueue::maxBytes) and, past it, a spool file of at most
        // --spool-limit bytes: the tracer's memory does not follow the backlog. Only when the
        // spool is full (or off, or failed) does the reader wait, and the probe drop (or,
        // --lossless, wait).
        ChunkQueue queue(ChunkQueue::kDefaultChunkSize, ChunkQueue::kDefaultMaxChunks, SpoolOptions{options.spoolLimit, {}});
        std::optional<std::string> execPath;
        bytesReceived.store(0, std::memory_order_relaxed);
        skimUntil.store(0, std::memory_order_relaxed);
        std::uint64_t bytesFed = 0, bytesSkimmed = 0;
        std::thread io([&] { pump(fd, queue); });
        bool streamEnded = false;
        try {
            for (;;) {
                if (!queue.hasFilled()) {
                    sink->onIdle(); // caught up: buffered output goes out before we wait
                }
                ChunkQueue::Chunk* chunk = queue.pop();
                if (chunk == nullptr) {
                    break;
                }
                if (queue.hasNotices()) {
                    reportSpoolNotices(queue);
                }
                // A chunk wholly received before the detach is skimmed (skipBacklogOnDetach).
                bytesFed += chunk->size;
                assembler.setSkimming(bytesFed <= skimUntil.load(std::memory_order_relaxed));
                bytesSkimmed += assembler.skimming() ? chunk->size : 0;
                feeder.feed(chunk->data.get(), chunk->size);
                queue.release(chunk);
            }
            streamEnded = true;
            if (feeder.pendingExec()) {
                // Not the end of the session: what is pending waits for no Stack record any more,
                // and calls left open by the exec (they never return) are closed with lost exits,
                // so the new image's calls nest from depth 0 for every consumer.
                assembler.finish();
                execPath = feeder.pendingExec();
            } else {
                feeder.finish();
            }
        } catch (const HandshakeError& e) {
            result.connected = false;
            result.handshakeFailed = true;
            result.streamError = e.what();
        } catch (const Error& e) {
            result.streamError = e.what();
            streamCutAtEnd = streamEnded;
            assembler.finish();
        }
        if (assembler.skimmedTotal() > 0) {
            sink->onReport({ProbeReport::Level::Warning,
                            "detach: " + std::to_string(assembler.skimmedTotal()) +
                                " events were skipped, not decoded (the tracer was " +
                                byteSizeText(bytesSkimmed) + " behind the program); they count as dropped",
                            ProbeReport::Origin::Tracer});
        }
        // Stop the reader if we stopped early (bad stream), then let it finish.
        ::shutdown(fd, SHUT_RDWR);
        queue.abandon();
        io.join();
        reportSpoolNotices(queue);
        const SpoolStats spooled = queue.spoolStats();
        spoolStats.spooledBytes += spooled.spooledBytes;
        spoolStats.peakBytes = std::max(spoolStats.peakBytes, spooled.peakBytes);
        spoolStats.limitReached = spoolStats.limitReached || spooled.limitReached;
        spoolStats.failed = spoolStats.failed || spooled.failed;
        {
            std::lock_guard<std::mutex> lock(probeMutex);
            probeFd = -1;
        }
        ::close(fd);
        return execPath;
    }
};

Session::Session(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

Session::~Session() {
    if (m_impl && m_impl->reader.joinable()) {
        stop();
        wait();
    }
}

std::uint32_t Session::pid() const { return static_cast<std::uint32_t>(m_impl->pid); }

std::unique_ptr<Session> Session::launch(const RunOptions& options, EventSink& sink) {
    if (options.argv.empty()) {
        throw UsageError("no program given after --");
    }
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->sink = &sink;
    {
        // Reject specs the handshake cannot carry before anything runs.
        std::vector<std::byte> scratch(wire::kMaxRecordSize);
        wire::RecordWriter writer(scratch.data(), scratch.size());
        std::string why;
        if (!wire::appendWelcome(writer, welcomeOptions(options), &why)) {
            throw UsageError(why);
        }
    }
    const std::string program = resolveProgram(options.argv[0], options.cwd);
    const std::string probe = findProbeLibrary(options.probeLibrary);

    impl->dir = privateDirectory();
    impl->socketPath = impl->dir + "/probe.sock";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (impl->socketPath.size() >= sizeof addr.sun_path) {
        throw TransportError("socket path too long: " + impl->socketPath + " (set XDG_RUNTIME_DIR to a shorter directory)");
    }
    std::memcpy(addr.sun_path, impl->socketPath.c_str(), impl->socketPath.size() + 1);
    impl->listenFd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (impl->listenFd < 0 || ::bind(impl->listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(impl->listenFd, 4) != 0) {
        throw TransportError("cannot listen on " + impl->socketPath + ": " + errnoText(errno));
    }

    // Everything the child needs is built before fork: a multi-threaded parent (the GUI) may
    // only call async-signal-safe functions in the child.
    std::vector<std::string> env;
    std::string preload = probe;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string kv(*e);
        const std::string key = kv.substr(0, kv.find('='));
        if (key == "LD_PRELOAD") {
            preload += " " + kv.substr(kv.find('=') + 1);
            continue;
        }
        if (key == "LAYERTRACE_SOCKET") {
            continue;
        }
        bool replaced = false;
        for (const auto& [k, v] : options.env) {
            replaced = replaced || k == key;
        }
        if (!replaced) {
            env.push_back(kv);
        }
    }
    for (const auto& [k, v] : options.env) {
        if (k == "LD_PRELOAD") {
            preload += " " + v;
        } else {
            env.push_back(k + "=" + v);
        }
    }
    env.push_back("LD_PRELOAD=" + preload);
    env.push_back("LAYERTRACE_SOCKET=" + impl->socketPath);
    std::vector<char*> envp;
    for (auto& s : env) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> argvCopy = options.argv;
    std::vector<char*> argv;
    for (auto& s : argvCopy) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);

    int execPipe[2];
    if (::pipe2(execPipe, O_CLOEXEC) != 0) {
        throw TransportError("pipe: " + errnoText(errno));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(execPipe[0]);
        ::close(execPipe[1]);
        throw TransportError("fork: " + errnoText(errno));
    }
    if (pid == 0) {
        ::close(execPipe[0]);
        int err = 0;
        if (options.programStdoutToStderr && ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
            err = errno;
        } else if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
            err = errno;
        } else {
            ::execve(program.c_str(), argv.data(), envp.data());
            err = errno;
        }
        [[maybe_unused]] const ssize_t w = ::write(execPipe[1], &err, sizeof err);
        ::_exit(127);
    }
    ::close(execPipe[1]);
    int childErr = 0;
    ssize_t got;
    do {
        got = ::read(execPipe[0], &childErr, sizeof childErr);
    } while (got < 0 && errno == EINTR);
    ::close(execPipe[0]);
    if (got == static_cast<ssize_t>(sizeof childErr)) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        throw ProgramNotFoundError(options.argv[0], (options.cwd.empty() ? "" : "in " + options.cwd + ": ") +
                                                        errnoText(childErr));
    }
    impl->pid = pid;
    impl->pidfd = pidfdOpen(pid);
    if (impl->pidfd < 0) {
        const int err = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw TransportError("pidfd_open(" + std::to_string(pid) + "): " + errnoText(err));
    }

    impl->startReader();
    return std::unique_ptr<Session>(new Session(std::move(impl)));
}

void Session::Impl::startReader() {
    Impl* self = this;
    self->reader = std::thread([self] {
        ClassifierOptions copts;
        copts.appPaths = self->options.appPaths;
        copts.wrapperGlobs = self->options.wrapperGlobs;
        copts.appDir = appDirFor(self->options);
        auto image = std::make_unique<Image>(copts, *self->sink);
        self->sink->onStarted(static_cast<std::uint32_t>(self->pid));
        try {
            self->run(image, copts);
        } catch (const std::exception& e) {
            self->result.streamError = e.what();
        }
        if (self->attached) {
            // Not our child: no status to collect, only whether it is still there. A stream that
            // ended without our Detach means an exit in progress (the probe's Goodbye comes from
            // its destructor, before the process is gone): give it two seconds to finish.
            bool detached = false;
            {
                std::lock_guard<std::mutex> lock(self->probeMutex);
                detached = self->detachSent;
            }
            pollfd pfd{self->pidfd, POLLIN, 0};
            self->result.attached = true;
            self->result.targetExited = ::poll(&pfd, 1, detached ? 0 : 2000) > 0;
            // No wait status for a process that is not our child: its probe's Goodbye says when
            // it was dying of a signal (the fatal-signal flush).
            if (self->result.targetExited) {
                self->result.termSignal = image->assembler.goodbyeFatalSignal();
            }
        } else {
            int status = 0;
            while (::waitpid(self->pid, &status, 0) < 0 && errno == EINTR) {
            }
            self->result.exitStatus = statusFromWait(status);
            self->result.termSignal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        }
        self->exited = true;
        accountLosses(self->result, image->assembler, probeRingBytes(self->options, self->attached),
                      !self->attached || self->result.targetExited, self->streamCutAtEnd);
        if (self->lastImageEndedAtExec) {
            self->result.goodbyeMissing = false;
            self->result.possiblyMissing = 0;
        }
        self->result.dropped += self->earlierImagesDropped;
        self->result.discardedExits += self->earlierImagesOrphanExits;
        self->result.lostExits += self->earlierImagesLostExits;
        self->sink->onFinished(self->result);
    });
}

std::unique_ptr<Session> Session::attach(std::uint32_t pid, const RunOptions& options, EventSink& sink,
                                         InjectionReport* report) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->sink = &sink;
    impl->attached = true;
    {
        std::vector<std::byte> scratch(wire::kMaxRecordSize);
        wire::RecordWriter writer(scratch.data(), scratch.size());
        std::string why;
        if (!wire::appendWelcome(writer, welcomeOptions(options), &why)) {
            throw UsageError(why);
        }
    }
    const PythonProcess target = inspectAttachTarget(pid);
    const std::string probe = findProbeLibrary(options.probeLibrary);
    // The classifier's application root comes from the target's own script and directory.
    impl->options.argv.clear();
    std::istringstream args(target.commandLine);
    for (std::string a; args >> a;) {
        impl->options.argv.push_back(a);
    }
    char cwd[PATH_MAX];
    const ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof cwd - 1);
    if (n > 0) {
        impl->options.cwd.assign(cwd, static_cast<std::size_t>(n));
    }
    impl->pid = static_cast<pid_t>(pid);
    impl->pidfd = pidfdOpen(impl->pid);
    if (impl->pidfd < 0) {
        throw AttachError(AttachFailure::NoSuchProcess, "no such process: PID " + std::to_string(pid));
    }
    impl->dir = privateDirectory();
    impl->socketPath = impl->dir + "/probe.sock";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (impl->socketPath.size() >= sizeof addr.sun_path) {
        throw TransportError("socket path too long: " + impl->socketPath + " (set XDG_RUNTIME_DIR to a shorter directory)");
    }
    std::memcpy(addr.sun_path, impl->socketPath.c_str(), impl->socketPath.size() + 1);
    impl->listenFd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (impl->listenFd < 0 || ::bind(impl->listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(impl->listenFd, 4) != 0) {
        throw TransportError("cannot listen on " + impl->socketPath + ": " + errnoText(errno));
    }
    // Listening first: the probe connects from its own thread as soon as it is in.
    const InjectionReport injected = injectProbe(pid, probe, impl->socketPath);
    if (report != nullptr) {
        *report = injected;
    }
    impl->startReader();
    return std::unique_ptr<Session>(new Session(std::move(impl)));
}

void Session::stop() {
    if (m_impl->pid <= 0 || m_impl->exited) {
        return;
    }
    if (m_impl->attached) {
        // Detach: the probe restores everything, sends Goodbye and closes; the target goes on.
        // A probe that does not answer within 5 s is cut off (the reader then ends).
        std::lock_guard<std::mutex> lock(m_impl->probeMutex);
        m_impl->detachRequested = true;
        if (m_impl->options.skipBacklogOnDetach && !m_impl->detachSent) {
            m_impl->skimWhatWasReceived();
        }
        m_impl->sendDetachLocked();
        if (m_impl->detachSent) {
            pollfd pfd{m_impl->probeFd, POLLRDHUP, 0};
            if (::poll(&pfd, 1, 5000) == 0) {
                ::shutdown(m_impl->probeFd, SHUT_RDWR);
            }
        }
        return;
    }
    ::syscall(SYS_pidfd_send_signal, m_impl->pidfd, SIGTERM, nullptr, 0);
    pollfd pfd{m_impl->pidfd, POLLIN, 0};
    if (::poll(&pfd, 1, 3000) == 0) {
        ::syscall(SYS_pidfd_send_signal, m_impl->pidfd, SIGKILL, nullptr, 0);
    }
}

void Session::skipBacklog() {
    if (m_impl->attached) {
        m_impl->skimWhatWasReceived();
    }
}

SessionResult Session::wait() {
    std::lock_guard<std::mutex> lock(m_impl->waitMutex);
    if (!m_impl->joined && m_impl->reader.joinable()) {
        m_impl->reader.join();
        m_impl->joined = true;
    }
    return m_impl->result;
}

SpoolStats Session::spoolStats() const {
    std::lock_guard<std::mutex> lock(m_impl->waitMutex);
    return m_impl->joined ? m_impl->spoolStats : SpoolStats{};
}

std::string pythonVersionText(std::uint32_t hex) {
    if (hex == 0) {
        return {};
    }
    std::string text = std::to_string(hex >> 24) + "." + std::to_string((hex >> 16) & 0xff) + "." +
                       std::to_string((hex >> 8) & 0xff);
    const std::uint32_t level = (hex >> 4) & 0xf; // 0xA alpha, 0xB beta, 0xC candidate, 0xF final
    if (level >= 0xa && level <= 0xc) {
        text += (level == 0xa ? "a" : level == 0xb ? "b" : "rc") + std::to_string(hex & 0xf);
    }
    return text;
}

} // namespace layertrace::tracer
