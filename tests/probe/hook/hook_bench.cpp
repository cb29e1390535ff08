// Benchmark (not a test): cost per call of the hook engine's instrumentation kinds, printed as
// nanoseconds per call. Run: build/<dir>/tests/probe/hook/hook_bench
#include "hook_engine.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <string>

extern "C" {
long lt_t_add(long, long);
int lt_t_tiny();
long lt_t_noplt_caller(long, long);
}

namespace hook = layertrace::probe::hook;

namespace {

void noEnter(void*, const hook::EntryRegs&, std::uint64_t) {}
void noExit(void*, const hook::ExitRegs&, bool) {}

template <typename F>
double nsPerCall(F f, long n) {
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) f(i);
    const auto end = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(n);
}

volatile long g_sink;

} // namespace

int main() {
    constexpr long kCalls = 2'000'000;
    std::string error;
    auto add = [](long i) { g_sink = lt_t_add(i, 1); };
    auto viaGot = [](long i) { g_sink = lt_t_noplt_caller(i, 1); };
    auto tiny = [](long) { g_sink = lt_t_tiny(); };
    std::printf("plain call                    %7.1f ns\n", nsPerCall(add, kCalls));
    hook::HookId id = hook::hookFunction(reinterpret_cast<void*>(&lt_t_add), noEnter, nullptr, nullptr, &error);
    std::printf("inline hook, enter only       %7.1f ns\n", nsPerCall(add, kCalls));
    hook::unhook(id, &error);
    id = hook::hookFunction(reinterpret_cast<void*>(&lt_t_add), noEnter, noExit, nullptr, &error);
    std::printf("inline hook, enter + exit     %7.1f ns\n", nsPerCall(add, kCalls));
    hook::unhook(id, &error);
    std::printf("GOT caller, plain             %7.1f ns\n", nsPerCall(viaGot, kCalls));
    Dl_info info {};
    dladdr(reinterpret_cast<void*>(&lt_t_noplt_caller), &info);
    id = hook::hookImport(info.dli_fname, "lt_t_add", noEnter, noExit, nullptr, &error);
    std::printf("GOT import hook, enter + exit %7.1f ns%s\n", nsPerCall(viaGot, kCalls),
                id == hook::kInvalidHook ? " (not installed)" : "");
    hook::unhookAll();
    std::printf("tiny function, plain          %7.1f ns\n", nsPerCall(tiny, kCalls / 10));
    id = hook::hookFunction(reinterpret_cast<void*>(&lt_t_tiny), noEnter, noExit, nullptr, &error, 0,
                            hook::kAllowTrapHook);
    std::printf("int3 hook, enter + exit       %7.1f ns\n", nsPerCall(tiny, kCalls / 10));
    hook::unhookAll();
    return 0;
}
