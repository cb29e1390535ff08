// Test peer for session tests: a program that plays the probe's side of the socket protocol from
// a script (connect to $LAYERTRACE_SOCKET, Hello, read Welcome, send records, exit), so launch,
// transport, handshake and exit-status handling are tested without the real probe.
//   scripted_peer MODE LIB CALLS EXIT_CODE [WELCOME_OUT]
//   MODE: calls (send CALLS plain_add enter/exit pairs), badversion, silent (never connect)
#include "stream_builder.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace layertrace;

namespace {

bool writeAll(int fd, const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t w = ::write(fd, c, n);
        if (w <= 0) {
            return false;
        }
        c += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

bool readAll(int fd, void* p, std::size_t n) {
    auto* c = static_cast<char*>(p);
    while (n > 0) {
        const ssize_t r = ::read(fd, c, n);
        if (r <= 0) {
            return false;
        }
        c += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: scripted_peer MODE LIB CALLS EXIT_CODE [WELCOME_OUT]\n");
        return 100;
    }
    const std::string mode = argv[1];
    const char* lib = argv[2];
    const int calls = std::atoi(argv[3]);
    const int exitCode = std::atoi(argv[4]);
    if (mode == "silent") {
        return exitCode;
    }
    const char* path = std::getenv("LAYERTRACE_SOCKET");
    if (path == nullptr) {
        return 101;
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return 102;
    }
    wire::Hello hello{};
    hello.header.type = wire::RecordType::Hello;
    hello.header.size = sizeof hello;
    hello.magic = wire::kMagic;
    hello.version = mode == "badversion" ? 99 : wire::kVersion;
    hello.pointerSize = 8;
    hello.pid = static_cast<std::uint32_t>(::getpid());
    writeAll(fd, &hello, sizeof hello);
    if (mode == "badversion") {
        char c;
        while (::read(fd, &c, 1) > 0) {
        }
        return exitCode;
    }
    wire::Welcome welcome{};
    if (!readAll(fd, &welcome, sizeof welcome)) {
        return 103;
    }
    std::string specs(welcome.header.size - sizeof welcome, '\0');
    readAll(fd, specs.data(), specs.size());
    if (argc > 5) {
        if (FILE* f = std::fopen(argv[5], "w")) {
            std::fprintf(f, "mode=%u flags=%u specs=%u", static_cast<unsigned>(welcome.mode), welcome.flags,
                         welcome.probeSpecCount);
            for (std::size_t i = 0; i < specs.size(); i += std::strlen(specs.c_str() + i) + 1) {
                if (specs[i] != '\0') {
                    std::fprintf(f, " %s", specs.c_str() + i);
                }
            }
            std::fclose(f);
        }
    }
    void* handle = ::dlopen(lib, RTLD_NOW);
    void* fn = handle ? ::dlsym(handle, "plain_add") : nullptr;
    Dl_info info{};
    if (fn == nullptr || ::dladdr(fn, &info) == 0) {
        return 104;
    }
    const auto base = reinterpret_cast<std::uint64_t>(info.dli_fbase);
    const auto function = reinterpret_cast<std::uint64_t>(fn);
    const std::uint32_t tid = static_cast<std::uint32_t>(::gettid());
    tracer::test::StreamBuilder s(/*withHello=*/false);
    s.batch(tid).moduleMap(7, info.dli_fname, base).string(1, "plain_add").hook(3, 1, 7, wire::HookKind::TargetSymbol, function);
    std::uint64_t ts = 1000;
    for (int i = 0; i < calls; ++i) {
        if (i % 100 == 0) {
            s.batch(tid); // many batches, as a real sender thread produces
        }
        s.nativeEnter(ts, 3, function, 0).nativeExit(ts + 10, 3, function, static_cast<std::uint64_t>(i));
        ts += 20;
    }
    const auto& bytes = s.bytes();
    writeAll(fd, bytes.data(), bytes.size());
    ::close(fd);
    return exitCode;
}
