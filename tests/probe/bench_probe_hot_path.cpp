// Benchmarks of the probe's hot path: encoding + pushing one event into a thread ring, and the
// cost of one Python profile event measured in a real traced interpreter. Numbers, not tests.
#include "probe_harness.h"
#include "event_clock.h"
#include "ring_buffer.h"

#include <layertrace/wire/encoder.h>

#include <benchmark/benchmark.h>

#include <time.h>

#include <string>
#include <vector>

namespace {

using namespace layertrace;

std::uint64_t now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// One NativeEnter: timestamp, encode on the stack, push into the SPSC ring (what emitNativeEnter
// does minus the thread lookup). The "consumer" frees the ring when it fills.
void BM_RingPushNativeEnter(benchmark::State& state) {
    std::vector<std::byte> storage(1 << 20);
    probe::RecordRing ring;
    ring.init(storage.data(), storage.size());
    for (auto _ : state) {
        alignas(8) std::byte buf[64];
        wire::RecordWriter w(buf, sizeof buf);
        w.append(wire::RecordType::NativeEnter, wire::NativeEnter{{}, now(), 0x401000, 0x402000, 7, 0});
        if (!ring.push(w.data(), w.size())) {
            ring.release(ring.head());
            ring.push(w.data(), w.size());
        }
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_RingPushNativeEnter);

// The same with the probe's own event clock (the calibrated TSC once calibrated) and the inline
// fixed-size push the Python events use: a PyCall.
void BM_RingPushPyCallTsc(benchmark::State& state) {
    // Calibrate as the sender does: a first pair, then the conversion 20 ms later.
    probe::runtime::calibrateEventClock();
    timespec pause{0, 30'000'000};
    nanosleep(&pause, nullptr);
    probe::runtime::calibrateEventClock();
    std::vector<std::byte> storage(1 << 20);
    probe::RecordRing ring;
    ring.init(storage.data(), storage.size());
    for (auto _ : state) {
        const wire::PyCall rec{{wire::RecordType::PyCall, sizeof(wire::PyCall), 0}, probe::runtime::nowNs(), 7, 12};
        if (!ring.pushFixed<sizeof rec>(&rec)) {
            ring.release(ring.head());
            ring.pushFixed<sizeof rec>(&rec);
        }
        benchmark::ClobberMemory();
    }
    state.counters["tsc_clock"] = probe::runtime::g_tscConversionIndex.load() >= 0 ? 1 : 0;
}
BENCHMARK(BM_RingPushPyCallTsc);

// One event timestamp: clock_gettime (vDSO) against the probe's clock.
void BM_TimestampClockGettime(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(probe::runtime::monotonicNs());
    }
}
BENCHMARK(BM_TimestampClockGettime);

void BM_TimestampEventClock(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(probe::runtime::nowNs());
    }
}
BENCHMARK(BM_TimestampEventClock);

// Just the push of a prepared 40-byte record.
void BM_RingPushOnly(benchmark::State& state) {
    std::vector<std::byte> storage(1 << 20);
    probe::RecordRing ring;
    ring.init(storage.data(), storage.size());
    alignas(8) std::byte rec[40] = {};
    for (auto _ : state) {
        if (!ring.push(rec, sizeof rec)) {
            ring.release(ring.head());
            ring.push(rec, sizeof rec);
        }
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_RingPushOnly);

// Nanoseconds of the process's CPU (its threads, the probe's sender included) per call of an
// empty Python function, as measured by the script itself: wall time is meaningless on a
// shared machine.
double pythonNsPerCall(bool traced, wire::TraceMode mode) {
    probe::test::RunOptions o;
    o.python = LAYERTRACE_PYTHON;
    o.connectProbe = traced;
    o.welcome.mode = mode;
    o.welcome.flags = 0; // no stacks: the profile event itself
    o.script = "import time\n"
               "def f():\n    pass\n"
               "N = 1000000\n"
               "t = time.process_time_ns()\n"
               "for i in range(N):\n    f()\n"
               "print((time.process_time_ns() - t) / N)\n";
    const auto r = probe::test::runTraced(o);
    return std::stod(r.out.empty() ? "0" : r.out);
}

// One Python call = two profile events (call + return) in full mode. Reports the added cost per
// event against an untraced run of the same loop.
void BM_PythonProfileEvent(benchmark::State& state) {
    const auto mode = state.range(0) == 1 ? wire::TraceMode::Full : wire::TraceMode::Anchored;
    double base = 0, traced = 0;
    for (auto _ : state) {
        base = pythonNsPerCall(false, mode);
        traced = pythonNsPerCall(true, mode);
        state.SetIterationTime((traced - base) / 2 * 1e-9);
    }
    state.counters["untraced_ns_per_call"] = base;
    state.counters["traced_ns_per_call"] = traced;
    state.counters["added_ns_per_event"] = (traced - base) / 2;
}
BENCHMARK(BM_PythonProfileEvent)->Arg(1)->Arg(0)->UseManualTime()->Iterations(2)->Unit(benchmark::kNanosecond);

} // namespace

BENCHMARK_MAIN();
