// Tests of the probe's hook engine against a test library of known prologues: inline hooks and
// their relocation rules, enter/exit callbacks and registers, restoring bytes, hooking under
// concurrent calls, C++ exceptions and longjmp through hooked frames, and GOT patching.
#include "elf_dynamic.h"
#include "hook_engine.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <pthread.h>
#include <cstdio>
#include <csetjmp>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern "C" {
long lt_t_endbr_add(long, long);
long lt_t_riprel(long);
long lt_t_leaf_red(long);
long lt_t_call_misaligned(long);
int lt_t_sse_riprel(double);
long lt_t_jcc(long);
int lt_t_tiny();
int lt_t_tiny_padded(int);
long lt_t_loop(long);
int lt_t_calls_first();
int lt_t_calls_reg(int (*)());
long lt_t_tailjump(long, long);
double lt_t_mix(double, float, int);
long lt_t_many(long, long, long, long, long, long, long, long, double, double, double, double, double, double, double,
               double, double);
long lt_t_recurse(long);
long lt_t_add(long, long);
long lt_t_work(long);
void lt_t_jumper(std::jmp_buf*);
int lt_t_jump_mid(std::jmp_buf*);
int lt_t_setjmp_runner();
int lt_t_cxx_thrower(int);
int lt_t_cxx_middle(int);
int lt_t_cxx_catches_inside(int);
int lt_t_cxx_catch_above(int);
long lt_t_plt_caller(long, long);
long lt_t_noplt_caller(long, long);
}

namespace hook = layertrace::probe::hook;

namespace {

// One recorded callback. Tags tell which hook fired (userData points at a tag).
struct Event {
    char kind; // 'E' enter, 'X' exit
    int tag;
    std::uint64_t value; // enter: rdi; exit: rax
    bool unwound;
};

std::vector<Event> g_events;
hook::EntryRegs g_lastEntry;
hook::ExitRegs g_lastExit;
std::uint64_t g_lastReturnAddress;

void onEnter(void* data, const hook::EntryRegs& regs, std::uint64_t returnAddress) {
    g_events.push_back({'E', *static_cast<int*>(data), regs.rdi, false});
    g_lastEntry = regs;
    g_lastReturnAddress = returnAddress;
}

void onExit(void* data, const hook::ExitRegs& regs, bool unwound) {
    g_events.push_back({'X', *static_cast<int*>(data), regs.rax, unwound});
    g_lastExit = regs;
}

int kTagA = 1, kTagB = 2, kTagC = 3;

class HookEngine : public ::testing::Test {
protected:
    void SetUp() override {
        g_events.clear();
        g_events.reserve(64 * 1024);
    }
    void TearDown() override { hook::unhookAll(); }

    hook::HookId install(void* fn, int* tag) {
        std::string error;
        const hook::HookId id = hook::hookFunction(fn, onEnter, onExit, tag, &error);
        EXPECT_NE(id, hook::kInvalidHook) << error;
        return id;
    }
};

template <typename F>
void* fn(F* f) {
    return reinterpret_cast<void*>(f);
}

std::vector<std::uint8_t> bytesAt(void* f, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(f);
    return {p, p + n};
}

TEST_F(HookEngine, Endbr64PrologueKeepsEndbrAndReportsArgumentsAndResult) {
    const auto before = bytesAt(fn(lt_t_endbr_add), 16);
    const hook::HookId id = install(fn(lt_t_endbr_add), &kTagA);
    const auto patched = bytesAt(fn(lt_t_endbr_add), 16);
    EXPECT_TRUE(std::equal(before.begin(), before.begin() + 4, patched.begin())) << "endbr64 must stay";
    EXPECT_NE(before, patched);

    EXPECT_EQ(lt_t_endbr_add(40, 2), 42);
    ASSERT_EQ(g_events.size(), 2u);
    EXPECT_EQ(g_events[0].kind, 'E');
    EXPECT_EQ(g_lastEntry.rdi, 40u);
    EXPECT_EQ(g_lastEntry.rsi, 2u);
    EXPECT_EQ(g_events[1].kind, 'X');
    EXPECT_EQ(g_lastExit.rax, 42u);
    EXPECT_FALSE(g_events[1].unwound);
    Dl_info info {};
    ASSERT_NE(dladdr(reinterpret_cast<void*>(g_lastReturnAddress), &info), 0);
    EXPECT_EQ(info.dli_fbase, dladdr(reinterpret_cast<void*>(&onEnter), &info) ? info.dli_fbase : nullptr)
        << "return address must point back into the caller (this test)";

    std::string error;
    ASSERT_TRUE(hook::unhook(id, &error)) << error;
    EXPECT_EQ(bytesAt(fn(lt_t_endbr_add), 16), before) << "unhook restores the exact bytes";
    EXPECT_EQ(lt_t_endbr_add(1, 2), 3);
    EXPECT_EQ(g_events.size(), 2u) << "no events after unhook";
}

TEST_F(HookEngine, RipRelativeFirstInstructionIsRelocated) {
    install(fn(lt_t_riprel), &kTagA);
    EXPECT_EQ(lt_t_riprel(5), 1005);
    EXPECT_EQ(g_events.size(), 2u);
}

TEST_F(HookEngine, SseRipRelativeOperandIsRelocated) {
    install(fn(lt_t_sse_riprel), &kTagA);
    EXPECT_EQ(lt_t_sse_riprel(3.0), 1);
    EXPECT_EQ(lt_t_sse_riprel(2.0), 0);
    EXPECT_EQ(g_events.size(), 4u);
}

// Callbacks must run on an ABI-aligned stack whatever the hooked function got (compilers use
// aligned SSE stores on the stack). With a frame pointer, a correctly aligned call gives a frame
// address that is a multiple of 16.
bool g_callbackStackAligned = false;
__attribute__((noinline)) void alignedWorkEnter(void* data, const hook::EntryRegs& regs, std::uint64_t ret) {
    g_callbackStackAligned = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) % 16 == 0;
    onEnter(data, regs, ret);
}

TEST_F(HookEngine, CalleeEnteredWithUnalignedStackIsHandled) {
    std::string error;
    ASSERT_NE(hook::hookFunction(fn(lt_t_leaf_red), alignedWorkEnter, onExit, &kTagA, &error), hook::kInvalidHook) << error;
    install(fn(lt_t_call_misaligned), &kTagB);
    EXPECT_EQ(lt_t_call_misaligned(5), 105);
    EXPECT_TRUE(g_callbackStackAligned);
    ASSERT_EQ(g_events.size(), 4u);
    EXPECT_EQ(g_events[1].tag, kTagA);
    EXPECT_EQ(g_events[1].value, 5u);
    EXPECT_EQ(g_events[2].value, 105u);
}

TEST_F(HookEngine, ShortConditionalBranchInPrologueIsRelocated) {
    install(fn(lt_t_jcc), &kTagA);
    EXPECT_EQ(lt_t_jcc(0), -1);
    EXPECT_EQ(lt_t_jcc(21), 42);
    EXPECT_EQ(g_events.size(), 4u);
}

TEST_F(HookEngine, TailJumpIsRelocated) {
    install(fn(lt_t_tailjump), &kTagA);
    EXPECT_EQ(lt_t_tailjump(3, 4), 7);
    ASSERT_EQ(g_events.size(), 2u);
    EXPECT_EQ(g_lastExit.rax, 7u);
}

TEST_F(HookEngine, RefusesWhatCannotBePatchedSafelyAndLeavesBytesAlone) {
    for (void* f : {fn(lt_t_tiny), fn(lt_t_loop), fn(lt_t_calls_reg)}) {
        const auto before = bytesAt(f, 12);
        std::string error;
        EXPECT_EQ(hook::hookFunction(f, onEnter, onExit, &kTagA, &error), hook::kInvalidHook);
        EXPECT_FALSE(error.empty());
        EXPECT_EQ(bytesAt(f, 12), before);
    }
    EXPECT_EQ(lt_t_tiny(), 0);
    EXPECT_EQ(lt_t_loop(4), 10);
}

TEST_F(HookEngine, CallAsLastDisplacedInstructionReturnsIntoTheOriginal) {
    install(fn(lt_t_calls_first), &kTagA);
    EXPECT_EQ(lt_t_calls_first(), 1);
    ASSERT_EQ(g_events.size(), 2u);
    EXPECT_EQ(g_lastExit.rax, 1u);
}

TEST_F(HookEngine, TinyFunctionFollowedByPaddingIsHookedWhenItsSizeIsKnown) {
    const auto before = bytesAt(fn(lt_t_tiny_padded), 16);
    std::string error;
    EXPECT_EQ(hook::hookFunction(fn(lt_t_tiny_padded), onEnter, onExit, &kTagA, &error), hook::kInvalidHook)
        << "without a size the padding cannot be trusted";
    const hook::HookId id = hook::hookFunction(fn(lt_t_tiny_padded), onEnter, onExit, &kTagA, &error, 4);
    ASSERT_NE(id, hook::kInvalidHook) << error;
    EXPECT_EQ(lt_t_tiny_padded(0), 7);
    ASSERT_EQ(g_events.size(), 2u);
    EXPECT_EQ(g_lastExit.rax, 7u);
    ASSERT_TRUE(hook::unhook(id, &error)) << error;
    EXPECT_EQ(bytesAt(fn(lt_t_tiny_padded), 16), before);
}

TEST_F(HookEngine, TooShortFunctionGetsAnInt3HookWhenAllowed) {
    const auto before = bytesAt(fn(lt_t_tiny), 8);
    std::string error;
    const hook::HookId id = hook::hookFunction(fn(lt_t_tiny), onEnter, onExit, &kTagA, &error, 0, hook::kAllowTrapHook);
    ASSERT_NE(id, hook::kInvalidHook) << error;
    EXPECT_EQ(hook::stats().trapHooks, 1u);
    EXPECT_EQ(bytesAt(fn(lt_t_tiny), 1)[0], 0xCC);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(lt_t_tiny(), 0);
    EXPECT_EQ(g_events.size(), 200u);
    EXPECT_EQ(g_events.back().kind, 'X');
    ASSERT_TRUE(hook::unhook(id, &error)) << error;
    EXPECT_EQ(bytesAt(fn(lt_t_tiny), 8), before);
    EXPECT_EQ(lt_t_tiny(), 0);
    EXPECT_EQ(g_events.size(), 200u);
}

TEST_F(HookEngine, FloatArgumentsAndReturn) {
    install(fn(lt_t_mix), &kTagA);
    const double r = lt_t_mix(1.5, 2.0f, 3);
    EXPECT_DOUBLE_EQ(r, 6.0);
    EXPECT_DOUBLE_EQ(g_lastEntry.xmm[0], 1.5);
    float b = 0;
    std::memcpy(&b, &g_lastEntry.xmm[1], sizeof b); // a float lives in the low 4 bytes
    EXPECT_FLOAT_EQ(b, 2.0f);
    EXPECT_EQ(g_lastEntry.rdi, 3u);
    EXPECT_DOUBLE_EQ(g_lastExit.xmm0, 6.0);
}

std::uint64_t g_stackArgs[3];
void captureStackArgs(void*, const hook::EntryRegs& regs, std::uint64_t) {
    // Only valid during the call: read the caller's outgoing argument area now.
    const auto* stack = reinterpret_cast<const std::uint64_t*>(regs.rsp);
    for (int i = 0; i < 3; ++i) g_stackArgs[i] = stack[i + 1];
    g_lastEntry = regs;
}

TEST_F(HookEngine, StackPassedArguments) {
    std::string error;
    ASSERT_NE(hook::hookFunction(fn(lt_t_many), captureStackArgs, onExit, &kTagA, &error), hook::kInvalidHook) << error;
    const long r = lt_t_many(1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1, 1, 1, 1, 1, 3);
    EXPECT_EQ(r, 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 8 + 30);
    EXPECT_EQ(g_stackArgs[0], 7u);
    EXPECT_EQ(g_stackArgs[1], 8u);
    double d9 = 0;
    std::memcpy(&d9, &g_stackArgs[2], sizeof d9);
    EXPECT_DOUBLE_EQ(d9, 3.0);
    EXPECT_EQ(g_lastEntry.r9, 6u);
    EXPECT_EQ(g_lastExit.rax, static_cast<std::uint64_t>(r));
}

TEST_F(HookEngine, DeepRecursionNestsEveryFrame) {
    install(fn(lt_t_recurse), &kTagA);
    EXPECT_EQ(lt_t_recurse(10000), 10000);
    ASSERT_EQ(g_events.size(), 2u * 10001);
    for (std::size_t i = 0; i <= 10000; ++i) {
        EXPECT_EQ(g_events[i].kind, 'E');
        EXPECT_EQ(g_events[i].value, 10000 - i);
        EXPECT_EQ(g_events[10001 + i].kind, 'X');
        EXPECT_EQ(g_events[10001 + i].value, i) << "exits in reverse order with each level's result";
        if (::testing::Test::HasFailure()) break;
    }
}

TEST_F(HookEngine, FullShadowStackSkipsInnerFramesAndCountsThem) {
    install(fn(lt_t_recurse), &kTagA);
    const auto before = hook::stats().shadowOverflows;
    const long depth = static_cast<long>(hook::kShadowStackDepth) + 500;
    EXPECT_EQ(lt_t_recurse(depth), depth);
    EXPECT_EQ(hook::stats().shadowOverflows - before, static_cast<std::uint64_t>(depth + 1 - hook::kShadowStackDepth));
    std::size_t enters = 0, exits = 0;
    for (const Event& e : g_events) (e.kind == 'E' ? enters : exits)++;
    EXPECT_EQ(enters, hook::kShadowStackDepth);
    EXPECT_EQ(exits, hook::kShadowStackDepth);
}

std::atomic<long> g_threadEnters{0}, g_threadExits{0};
void countEnter(void*, const hook::EntryRegs&, std::uint64_t) { g_threadEnters.fetch_add(1); }
void countExit(void*, const hook::ExitRegs&, bool) { g_threadExits.fetch_add(1); }

TEST_F(HookEngine, HookAndUnhookWhileFourThreadsCallTheFunction) {
    std::atomic<bool> stop{false};
    std::atomic<long> wrong{0}, calls{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            long x = t;
            while (!stop.load(std::memory_order_relaxed)) {
                long expected = x;
                for (int i = 0; i < 8; ++i) expected = expected * 3 + i;
                if (lt_t_work(x) != expected) wrong.fetch_add(1);
                calls.fetch_add(1, std::memory_order_relaxed);
                ++x;
            }
        });
    const auto before = bytesAt(fn(lt_t_work), 32);
    std::string failure;
    for (int round = 0; round < 100 && failure.empty(); ++round) {
        std::string error;
        const hook::HookId id = hook::hookFunction(fn(lt_t_work), countEnter, countExit, nullptr, &error);
        if (id == hook::kInvalidHook) {
            failure = "hook, round " + std::to_string(round) + ": " + error;
            break;
        }
        const long seen = calls.load();
        while (calls.load() < seen + 50) std::this_thread::yield();
        if (!hook::unhook(id, &error)) failure = "unhook, round " + std::to_string(round) + ": " + error;
    }
    stop = true;
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(failure, "");
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(g_threadEnters.load(), 0);
    EXPECT_EQ(g_threadEnters.load(), g_threadExits.load());
    EXPECT_EQ(bytesAt(fn(lt_t_work), 32), before);
}

// Helper threads often block every signal; the sweep must still establish where they are.
TEST_F(HookEngine, ThreadThatBlocksSignalsAndWaitsInTheKernelDoesNotPreventHooking) {
    std::mutex m;
    std::condition_variable cv;
    bool ready = false, done = false;
    std::thread waiter([&] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        std::unique_lock lock(m);
        ready = true;
        cv.notify_all();
        cv.wait(lock, [&] { return done; }); // blocked in futex()
    });
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return ready; });
    }
    const hook::HookId id = install(fn(lt_t_work), &kTagA);
    EXPECT_NE(id, hook::kInvalidHook);
    EXPECT_EQ(lt_t_work(1), [] { long a = 1; for (int i = 0; i < 8; ++i) a = a * 3 + i; return a; }());
    {
        std::lock_guard lock(m);
        done = true;
    }
    cv.notify_all();
    waiter.join();
}

TEST_F(HookEngine, ThreadThatBlocksSignalsAndKeepsRunningMakesTheHookFailCleanly) {
    std::atomic<bool> running{false}, stop{false};
    std::thread spinner([&] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        running = true;
        while (!stop.load(std::memory_order_relaxed)) {
        }
    });
    while (!running) std::this_thread::yield();
    const auto before = bytesAt(fn(lt_t_work), 32);
    std::string error;
    EXPECT_EQ(hook::hookFunction(fn(lt_t_work), onEnter, onExit, &kTagA, &error), hook::kInvalidHook);
    EXPECT_NE(error.find("position is unknown"), std::string::npos) << error;
    EXPECT_EQ(bytesAt(fn(lt_t_work), 32), before);
    stop = true;
    spinner.join();
}

TEST_F(HookEngine, CxxExceptionThroughHookedFramesIsCaughtAbove) {
    install(fn(lt_t_cxx_middle), &kTagA);
    install(fn(lt_t_cxx_thrower), &kTagB);
    EXPECT_EQ(lt_t_cxx_catch_above(-1), -100);
    ASSERT_EQ(g_events.size(), 4u);
    EXPECT_EQ(g_events[0].tag, kTagA);
    EXPECT_EQ(g_events[1].tag, kTagB);
    EXPECT_EQ(g_events[2].tag, kTagB);
    EXPECT_TRUE(g_events[2].unwound);
    EXPECT_EQ(g_events[3].tag, kTagA);
    EXPECT_TRUE(g_events[3].unwound);
    // Hooks keep working after the exception.
    g_events.clear();
    EXPECT_EQ(lt_t_cxx_middle(2), 21);
    ASSERT_EQ(g_events.size(), 4u);
    EXPECT_FALSE(g_events[2].unwound);
    EXPECT_EQ(g_events[3].value, 21u);
}

// This executable links the engine itself, so it counts as "the probe" and its own catch
// clauses are not wrapped: the exception must still propagate safely, and the abandoned frames
// are reported as unwound by the next exit that sees them.
TEST_F(HookEngine, CxxExceptionCaughtWhereCatchIsNotWrappedStillWorks) {
    install(fn(lt_t_cxx_catch_above), &kTagC);
    install(fn(lt_t_cxx_middle), &kTagA);
    install(fn(lt_t_cxx_thrower), &kTagB);
    bool caught = false;
    try {
        lt_t_cxx_middle(-1);
    } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "negative";
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(lt_t_cxx_catch_above(4), 41);
    ASSERT_EQ(g_events.size(), 8u);
    EXPECT_TRUE(g_events[2].kind == 'E' && g_events[2].tag == kTagC);
    EXPECT_EQ(g_events[7].tag, kTagC);
    EXPECT_FALSE(g_events[7].unwound);
    EXPECT_EQ(g_events[7].value, 41u);
}

TEST_F(HookEngine, CxxExceptionCaughtInsideAHookedFunction) {
    install(fn(lt_t_cxx_catches_inside), &kTagA);
    install(fn(lt_t_cxx_middle), &kTagB);
    install(fn(lt_t_cxx_thrower), &kTagC);
    EXPECT_EQ(lt_t_cxx_catches_inside(-5), 42);
    ASSERT_EQ(g_events.size(), 6u);
    EXPECT_TRUE(g_events[3].unwound && g_events[3].tag == kTagC);
    EXPECT_TRUE(g_events[4].unwound && g_events[4].tag == kTagB);
    EXPECT_FALSE(g_events[5].unwound);
    EXPECT_EQ(g_events[5].tag, kTagA);
    EXPECT_EQ(g_events[5].value, 42u);
    EXPECT_EQ(lt_t_cxx_catches_inside(3), 31);
}

TEST_F(HookEngine, LongjmpThroughHookedFramesIsDetectedAtTheNextExit) {
    install(fn(lt_t_setjmp_runner), &kTagA);
    install(fn(lt_t_jump_mid), &kTagB);
    install(fn(lt_t_jumper), &kTagC);
    EXPECT_EQ(lt_t_setjmp_runner(), 7);
    ASSERT_EQ(g_events.size(), 6u);
    EXPECT_EQ(g_events[3].tag, kTagC);
    EXPECT_TRUE(g_events[3].unwound);
    EXPECT_EQ(g_events[4].tag, kTagB);
    EXPECT_TRUE(g_events[4].unwound);
    EXPECT_EQ(g_events[5].tag, kTagA);
    EXPECT_FALSE(g_events[5].unwound);
    EXPECT_EQ(g_events[5].value, 7u);
}

long (*g_realAdd)(long, long) = nullptr;
long replacementAdd(long a, long b) { return g_realAdd(a, b) + 100; }
bool onlyCallers(std::string_view path, void*) { return path.find("lt_hook_got_") != std::string_view::npos; }

TEST_F(HookEngine, GotPatchingCoversPltAndNoPltCallSitesAndRestores) {
    EXPECT_EQ(lt_t_plt_caller(1, 2), 3);
    EXPECT_EQ(lt_t_noplt_caller(1, 2), 3);
    void* original = nullptr;
    std::string error;
    const int n = hook::patchImports("lt_t_add", reinterpret_cast<void*>(&replacementAdd), &original, onlyCallers,
                                     nullptr, &error);
    EXPECT_EQ(n, 2) << error;
    void* real = dlsym(RTLD_DEFAULT, "lt_t_add");
    EXPECT_EQ(original, real);
    g_realAdd = reinterpret_cast<long (*)(long, long)>(original);
    EXPECT_EQ(lt_t_plt_caller(1, 2), 103);
    EXPECT_EQ(lt_t_noplt_caller(1, 2), 103);
    EXPECT_EQ(lt_t_add(1, 2), 3) << "objects outside the filter are untouched";
    EXPECT_EQ(hook::patchImports("lt_t_add", reinterpret_cast<void*>(&replacementAdd), &original, onlyCallers, nullptr,
                                 &error),
              0)
        << "already patched slots are not patched twice";
    hook::unhookAll();
    EXPECT_EQ(lt_t_plt_caller(1, 2), 3);
    EXPECT_EQ(lt_t_noplt_caller(1, 2), 3);
}

std::string objectPathOf(void* f) {
    Dl_info info {};
    dladdr(f, &info);
    return info.dli_fname != nullptr ? info.dli_fname : "";
}

TEST_F(HookEngine, HookImportInstrumentsOneObjectsGotSlot) {
    const std::string caller = objectPathOf(fn(lt_t_noplt_caller));
    std::string error;
    ASSERT_TRUE(hook::installUnwindSupport(&error)) << error; // its own GOT patches are counted too
    const auto slotsBefore = hook::stats().gotSlots;
    const hook::HookId id = hook::hookImport(caller, "lt_t_add", onEnter, onExit, &kTagA, &error);
    ASSERT_NE(id, hook::kInvalidHook) << error;
    EXPECT_EQ(lt_t_noplt_caller(20, 22), 42);
    ASSERT_EQ(g_events.size(), 2u);
    EXPECT_EQ(g_lastEntry.rdi, 20u);
    EXPECT_EQ(g_lastEntry.rsi, 22u);
    EXPECT_EQ(g_lastExit.rax, 42u);
    EXPECT_EQ(lt_t_plt_caller(1, 1), 2);
    EXPECT_EQ(g_events.size(), 2u) << "the other caller's slot is not patched";
    ASSERT_TRUE(hook::unhook(id, &error)) << error;
    EXPECT_EQ(lt_t_noplt_caller(1, 1), 2);
    EXPECT_EQ(g_events.size(), 2u);
    EXPECT_EQ(hook::stats().gotSlots, slotsBefore);
}

long (*g_originalWork)(long) = nullptr;
long redirectedWork(long x) { return g_originalWork(x) + 1; }

TEST_F(HookEngine, RedirectFunctionReturnsACallableOriginal) {
    const long expected = lt_t_work(3);
    std::string error;
    void* original = hook::redirectFunction(fn(lt_t_work), reinterpret_cast<void*>(&redirectedWork), &error);
    ASSERT_NE(original, nullptr) << error;
    g_originalWork = reinterpret_cast<long (*)(long)>(original);
    EXPECT_EQ(lt_t_work(3), expected + 1);
    ASSERT_TRUE(hook::unhook(hook::redirectionId(fn(lt_t_work)), &error)) << error;
    EXPECT_EQ(lt_t_work(3), expected);
}

TEST_F(HookEngine, CallbacksAreNotTracedReentrantly) {
    auto reenter = [](void*, const hook::EntryRegs&, std::uint64_t) {
        g_events.push_back({'E', 0, static_cast<std::uint64_t>(lt_t_add(1, 1)), false}); // hooked too
    };
    std::string error;
    ASSERT_NE(hook::hookFunction(fn(lt_t_work), reenter, onExit, &kTagA, &error), hook::kInvalidHook) << error;
    install(fn(lt_t_add), &kTagB);
    lt_t_work(1);
    ASSERT_EQ(g_events.size(), 2u) << "lt_t_add called by the callback must not be traced";
    EXPECT_EQ(g_events[0].value, 2u);
}

TEST(ElfDynamic, LoadedObjectsSeeTheTestLibraryExportsAndImports) {
    const auto objects = hook::loadedObjects();
    const std::string lib = objectPathOf(fn(lt_t_add));
    const hook::LoadedObject* target = nullptr;
    const hook::LoadedObject* noplt = nullptr;
    for (const auto& o : objects) {
        if (o.path == lib) target = &o;
        if (o.path == objectPathOf(fn(lt_t_noplt_caller))) noplt = &o;
    }
    ASSERT_NE(target, nullptr);
    ASSERT_NE(noplt, nullptr);
    bool found = false;
    for (const auto& s : hook::definedFunctions(*target))
        if (s.name == "lt_t_add") found = s.address == reinterpret_cast<std::uintptr_t>(dlsym(RTLD_DEFAULT, "lt_t_add"));
    EXPECT_TRUE(found);
    bool imported = false;
    for (const auto& s : hook::importSlots(*noplt)) imported = imported || s.symbol == "lt_t_add";
    EXPECT_TRUE(imported);
    std::string error;
    const auto symtab = hook::symtabFunctions(lib, target->base, &error);
    bool privateSeen = false;
    for (const auto& [name, address] : symtab) privateSeen = privateSeen || name == "lt_t_tiny_private";
    EXPECT_TRUE(privateSeen) << "local .symtab functions of an unstripped object are listed " << error;
}

} // namespace
