// A native program whose ffi_call the probe hooks: Google Benchmark of one ffi_call (run untraced and
// under `layertrace run`, the difference is what one hooked call costs), and with --stream N a
// synthetic producer of 2N events for the lossless probe -> tracer throughput run.
// libffi is linked normally: the probe patches it from its constructor, before main.
#include <ffi.h>

#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// The foreign function. noinline and used through a pointer only, like a ctypes target.
__attribute__((noinline)) int addInts(int a, int b) {
    benchmark::DoNotOptimize(a);
    return a + b;
}

struct AddCall {
    ffi_cif cif{};
    ffi_type* argTypes[2] = {&ffi_type_sint32, &ffi_type_sint32};
    int a = 2, b = 3;
    void* args[2] = {&a, &b};
    ffi_arg result = 0;

    AddCall() {
        if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint32, argTypes) != FFI_OK) {
            std::fprintf(stderr, "bench_hooked_call: ffi_prep_cif failed\n");
            std::exit(3);
        }
    }
    int call() {
        ffi_call(&cif, FFI_FN(addInts), &result, args);
        return static_cast<int>(result);
    }
};

// One ffi_call of int add(int, int): under the probe this is the hooked path (FfiCall + FfiReturn
// events, plus a stack when stacks are on).
void BM_FfiCallAdd(benchmark::State& state) {
    AddCall call;
    for (auto _ : state) {
        ++call.a;
        benchmark::DoNotOptimize(call.call());
    }
}
BENCHMARK(BM_FfiCallAdd);

// The same ffi_call from 8 frames deeper: how stack capture grows with depth.
__attribute__((noinline)) int deeper(AddCall& call, int depth) {
    if (depth == 0) {
        return call.call();
    }
    const int r = deeper(call, depth - 1);
    benchmark::DoNotOptimize(r);
    return r;
}

void BM_FfiCallAddDepth8(benchmark::State& state) {
    AddCall call;
    for (auto _ : state) {
        ++call.a;
        benchmark::DoNotOptimize(deeper(call, 8));
    }
}
BENCHMARK(BM_FfiCallAddDepth8);

double monotonicSeconds() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// --stream N --result FILE [--gap-ns G]: N ffi_calls, back to back or G ns apart (a producer slower
// than the tracer, to see whether the tracer's memory follows the trace's length); writes when the
// loop started (CLOCK_MONOTONIC, so the driver can time until the tracer has everything) and how
// long the loop took.
int stream(long calls, const char* resultPath, long gapNs) {
    AddCall call;
    const double start = monotonicSeconds();
    const double gap = static_cast<double>(gapNs) * 1e-9;
    long sum = 0;
    for (long i = 0; i < calls; ++i) {
        call.a = static_cast<int>(i);
        sum += call.call();
        if (gap > 0) {
            const double next = start + gap * static_cast<double>(i + 1);
            while (monotonicSeconds() < next) {
            }
        }
    }
    const double seconds = monotonicSeconds() - start;
    // CPU of the whole process (this thread and the probe's sender), so the driver can tell the
    // tracer's share of the machine from ours.
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    FILE* f = std::fopen(resultPath, "w");
    if (f == nullptr) {
        std::fprintf(stderr, "bench_hooked_call: cannot write %s\n", resultPath);
        return 3;
    }
    std::fprintf(f, "{\"calls\": %ld, \"seconds\": %.9f, \"start_monotonic\": %.9f, \"cpu_seconds\": %.6f, \"checksum\": %ld}\n",
                 calls, seconds, start, cpu, sum);
    std::fclose(f);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--stream") == 0) {
        const bool paced = argc == 7 && std::strcmp(argv[5], "--gap-ns") == 0;
        if ((argc != 5 && !paced) || std::strcmp(argv[3], "--result") != 0) {
            std::fprintf(stderr, "usage: bench_hooked_call --stream CALLS --result FILE [--gap-ns NS]\n");
            return 2;
        }
        const long gapNs = paced ? std::strtol(argv[6], nullptr, 10) : 0;
        const long calls = std::strtol(argv[2], nullptr, 10);
        if (calls <= 0) {
            std::fprintf(stderr, "bench_hooked_call: CALLS must be a positive number, got %s\n", argv[2]);
            return 2;
        }
        return stream(calls, argv[4], gapNs);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 2;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
