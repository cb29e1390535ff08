// Benchmark (not a test): how many events per second the tracer core turns from wire bytes into
// printed output (decode + symbolize + classify + assemble + format), with and without stacks.
// Run: build/<preset>/tests/tracer/tracer_bench_assembly [calls]
#include "stream_builder.h"
#include "test_helpers.h"

#include <layertrace/assembler.h>
#include <layertrace/formatters.h>
#include <layertrace/stream.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <streambuf>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

class NullBuffer : public std::streambuf {
protected:
    int overflow(int c) override { return c; }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

double threadCpuSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Wall seconds; *cpu gets this thread's CPU seconds (the number to compare on a shared machine).
double run(const std::vector<std::byte>& bytes, OutputFormat format, std::uint64_t* events, double* cpu) {
    NullBuffer nb;
    std::ostream out(&nb);
    auto formatter = makeFormatter(format, out);
    Symbolizer symbolizer;
    Classifier classifier;
    Assembler assembler(symbolizer, classifier, *formatter);
    StreamFeeder feeder(assembler);
    const auto start = std::chrono::steady_clock::now();
    const double cpuStart = threadCpuSeconds();
    constexpr std::size_t kChunk = 1 << 16; // like socket reads
    for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
        feeder.feed(bytes.data() + at, std::min(kChunk, bytes.size() - at));
    }
    feeder.finish();
    *events = assembler.eventCount();
    *cpu = threadCpuSeconds() - cpuStart;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::byte> stream(int calls, bool stacks) {
    constexpr std::uint64_t kFfi = 0x7f0000000000, kPlain = 0x7f0200000000;
    Symbolizer s;
    const std::uint64_t ffiCall = s.addressOf(s.addModule(1, LIBFFI_SO, kFfi), "ffi_call");
    ModuleInfo& plain = s.addModule(2, FIXTURE_PLAIN, kPlain);
    const std::uint64_t add = s.addressOf(plain, "plain_add");
    const std::uint64_t twice = s.addressOf(plain, "plain_twice");
    test::StreamBuilder b;
    b.batch(1).moduleMap(1, LIBFFI_SO, kFfi).moduleMap(2, FIXTURE_PLAIN, kPlain).moduleMap(3, PYTHON_EXE, 0)
        .string(1, "ffi_call").string(2, "plain_add").string(3, "plain_twice").string(4, "/app/user.py").string(5, "main")
        .pyCode(1, 5, 4, 1)
        .hook(1, 1, 1, wire::HookKind::Ffi, ffiCall).hook(2, 2, 2, wire::HookKind::TargetSymbol, add)
        .hook(3, 3, 2, wire::HookKind::TargetSymbol, twice);
    std::uint64_t ts = 0;
    for (int i = 0; i < calls; ++i) {
        if (i % 1000 == 0) {
            b.batch(1);
        }
        b.ffiCall(ts, 1, twice, 0, {test::StreamBuilder::value(wire::FfiType::SInt32, 1)});
        if (stacks) {
            b.stack({ffiCall, ffiCall + 0x40, 0x401000, 0x401100, 0x401200, 0x401300, 0x401400, 0x401500},
                    {wire::PyFrameRef{1, 3}, wire::PyFrameRef{1, 7}});
        }
        b.nativeEnter(ts + 1, 3, twice, ffiCall + 0x40).nativeEnter(ts + 2, 2, add, twice + 8)
            .nativeExit(ts + 3, 2, add, 2).nativeExit(ts + 4, 3, twice, 2)
            .ffiReturn(ts + 5, twice, test::StreamBuilder::value(wire::FfiType::SInt32, 2));
        ts += 10;
    }
    return b.bytes();
}

} // namespace

int main(int argc, char** argv) {
    const int calls = argc > 1 ? std::atoi(argv[1]) : 50000;
    for (bool stacks : {false, true}) {
        const auto bytes = stream(calls, stacks);
        for (auto [format, name] : {std::pair{OutputFormat::Path, "path"}, std::pair{OutputFormat::Jsonl, "jsonl"},
                                    std::pair{OutputFormat::Tree, "tree"}}) {
            std::uint64_t events = 0;
            double cpu = 0;
            const double seconds = run(bytes, format, &events, &cpu);
            std::printf("%-5s %-9s %8llu events  %6.1f MB  %7.3f s  %10.0f events/s  %10.0f events per CPU-second\n",
                        name, stacks ? "stacks" : "no-stacks", static_cast<unsigned long long>(events),
                        static_cast<double>(bytes.size()) / 1e6, seconds, static_cast<double>(events) / seconds,
                        cpu > 0 ? static_cast<double>(events) / cpu : 0.0);
        }
    }
}
