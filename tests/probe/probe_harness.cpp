// Test-side tracer for the probe tests (see probe_harness.h).
#include "probe_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace layertrace::probe::test {

wire::RecordType Record::type() const {
    wire::RecordHeader h{};
    std::memcpy(&h, bytes.data(), sizeof h);
    return h.type;
}

std::vector<const Record*> RunResult::ofType(wire::RecordType type) const {
    std::vector<const Record*> found;
    for (const auto& r : records) {
        if (r.type() == type) {
            found.push_back(&r);
        }
    }
    return found;
}

std::map<std::uint32_t, std::string> RunResult::strings() const {
    std::map<std::uint32_t, std::string> found;
    for (const Record* r : ofType(wire::RecordType::String)) {
        found[r->as<wire::String>().stringId] = std::string(r->view().text());
    }
    return found;
}

std::map<std::uint32_t, std::string> RunResult::codeNames() const {
    const auto s = strings();
    std::map<std::uint32_t, std::string> found;
    for (const Record* r : ofType(wire::RecordType::PyCode)) {
        const auto c = r->as<wire::PyCode>();
        const auto it = s.find(c.qualnameId);
        found[c.codeId] = it != s.end() ? it->second : "?";
    }
    return found;
}

std::string RunResult::mappingOf(std::uint64_t address) const {
    std::istringstream in(maps);
    std::string line;
    while (std::getline(in, line)) {
        unsigned long long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx", &lo, &hi) == 2 && address >= lo && address < hi) {
            const auto slash = line.find('/');
            return slash == std::string::npos ? "" : line.substr(slash);
        }
    }
    return "";
}

std::string probePath() { return LAYERTRACE_PROBE_PATH; }

TempDir::TempDir() {
    char tmpl[] = "/tmp/layertrace-probe-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    m_path = tmpl; // mkdtemp creates it 0700: the layout `layertrace run` uses
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

namespace {

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

long remainingMs(std::chrono::steady_clock::time_point deadline) {
    return std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
}

} // namespace

RunResult runTraced(const RunOptions& options) {
    RunResult result;
    TempDir dir;
    const std::string socketPath = dir.path() + "/probe.sock";
    const std::string scriptPath = dir.path() + "/script.py";
    const std::string outPath = dir.path() + "/out", errPath = dir.path() + "/err";
    std::ofstream(scriptPath) << options.script;

    const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socketPath.c_str(), sizeof addr.sun_path - 1);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 1) != 0) {
        throw std::runtime_error("cannot listen on " + socketPath);
    }

    const pid_t pid = fork();
    if (pid == 0) {
        const int out = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out, 1);
        dup2(err, 2);
        setenv("LD_PRELOAD", probePath().c_str(), 1);
        if (options.connectProbe) {
            setenv("LAYERTRACE_SOCKET", socketPath.c_str(), 1);
        } else {
            unsetenv("LAYERTRACE_SOCKET");
        }
        unsetenv("PYTHONPATH");
        for (const auto& [k, v] : options.env) {
            setenv(k.c_str(), v.c_str(), 1);
        }
        execl(options.python.c_str(), options.python.c_str(), scriptPath.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    result.childPid = pid;
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + std::chrono::seconds(options.timeoutSeconds);

    // Accept the probe, or notice the child finished without connecting.
    int conn = -1;
    for (;;) {
        pollfd p[2] = {{listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
        const int n = poll(p, 2, static_cast<int>(remainingMs(deadline)));
        if (n == 0) {
            result.timedOut = true;
            break;
        }
        if (p[0].revents & POLLIN) {
            conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            break;
        }
        if (p[1].revents & POLLIN) {
            break; // exited before connecting
        }
    }
    close(listener);

    if (conn >= 0) {
        result.connected = true;
        wire::StreamDecoder decoder(wire::StreamDirection::ProbeToTracer);
        bool welcomed = false, goodbye = false, detached = false;
        long received = 0;
        std::vector<std::byte> buf(1 << 16);
        for (;;) {
            if (options.closeAfterBytes >= 0 && received >= options.closeAfterBytes && welcomed) {
                break; // the tracer vanishes
            }
            if (options.stallAfterBytes >= 0 && received >= options.stallAfterBytes && welcomed) {
                // A hung tracer: connected, never reading again, until the program is gone.
                pollfd p{pidfd, POLLIN, 0};
                if (poll(&p, 1, static_cast<int>(remainingMs(deadline))) == 0) {
                    result.timedOut = true;
                }
                break;
            }
            if (options.detachAfterBytes >= 0 && received >= options.detachAfterBytes && welcomed && !detached) {
                const wire::Detach detach{{wire::RecordType::Detach, sizeof(wire::Detach), 0}};
                send(conn, &detach, sizeof detach, MSG_NOSIGNAL);
                detached = true;
            }
            if (options.readPauseMs > 0 && welcomed) {
                std::this_thread::sleep_for(std::chrono::milliseconds(options.readPauseMs));
            }
            pollfd p{conn, POLLIN, 0};
            const int n = poll(&p, 1, static_cast<int>(remainingMs(deadline)));
            if (n == 0) {
                result.timedOut = true;
                break;
            }
            const ssize_t got = recv(conn, buf.data(), buf.size(), 0);
            if (got <= 0) {
                const bool ended = decoder.finish();
                result.streamClean = ended && goodbye;
                if (!ended) {
                    result.streamError = decoder.error().message();
                }
                break;
            }
            received += got;
            decoder.feed(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(got)));
            for (auto s = decoder.next(); s != wire::StreamDecoder::Status::NeedMore; s = decoder.next()) {
                if (s == wire::StreamDecoder::Status::Error) {
                    result.streamError = decoder.error().message();
                    break;
                }
                if (s == wire::StreamDecoder::Status::Handshake) {
                    result.hello = decoder.record().as<wire::Hello>();
                    std::byte wbuf[4096];
                    wire::RecordWriter w(wbuf, sizeof wbuf);
                    std::string why;
                    if (!wire::appendWelcome(w, options.welcome, &why)) {
                        throw std::runtime_error(why);
                    }
                    send(conn, w.data(), w.size(), MSG_NOSIGNAL);
                    welcomed = true;
                } else if (s == wire::StreamDecoder::Status::Record) {
                    Record r;
                    r.tid = decoder.batch().tid;
                    r.bytes.assign(decoder.record().bytes().begin(), decoder.record().bytes().end());
                    goodbye = goodbye || r.type() == wire::RecordType::Goodbye;
                    result.records.push_back(std::move(r));
                }
            }
            if (!result.streamError.empty()) {
                break;
            }
        }
        close(conn);
    }

    // Wait for the program (it must finish on its own, whatever the tracer did).
    pollfd p{pidfd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(remainingMs(deadline))) == 0) {
        result.timedOut = true;
        kill(pid, SIGKILL);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.childSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    close(pidfd);
    result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = readFile(outPath);
    result.err = readFile(errPath);
    if (const auto at = result.out.find("--maps--\n"); at != std::string::npos) {
        result.maps = result.out.substr(at + 9);
        result.out.erase(at);
    }
    return result;
}

} // namespace layertrace::probe::test
