// The probe's cached native stack walk (probes/src/runtime/native_stack.cpp) against libunwind
// walking every frame: the same return addresses through frames of every common shape, from
// several threads, and after a library was unloaded and another loaded at the same address.
#include "native_stack.h"

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace stack = layertrace::probe::stack;

extern "C" int shape_chain(int depth, void (*cb)(void*), void* data);

namespace {

struct Both {
    stack::SkipRange skip;
    std::vector<std::uint64_t> cached = std::vector<std::uint64_t>(128), reference = std::vector<std::uint64_t>(128);
};

// This executable's mapping: the leading frames (the two captures, this callback) differ
// between the walks by construction and are left out of both.
int findSelf(dl_phdr_info* info, std::size_t, void* out) {
    auto* range = static_cast<stack::SkipRange*>(out);
    const auto self = reinterpret_cast<std::uintptr_t>(&findSelf);
    std::uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type != PT_LOAD) continue;
        lo = std::min<std::uintptr_t>(lo, info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        hi = std::max<std::uintptr_t>(hi, info->dlpi_addr + info->dlpi_phdr[i].p_vaddr + info->dlpi_phdr[i].p_memsz);
    }
    if (self < lo || self >= hi) return 0;
    *range = {lo, hi};
    return 1;
}

stack::SkipRange selfRange() {
    stack::SkipRange range;
    dl_iterate_phdr(findSelf, &range);
    return range;
}

void captureBoth(void* data) {
    auto* both = static_cast<Both*>(data);
    both->cached.resize(stack::captureNative(both->cached.data(), 128, both->skip));
    both->reference.resize(stack::captureNativeWithLibunwind(both->reference.data(), 128, both->skip));
}

Both walkThroughShapes(int depth) {
    Both both;
    both.skip = selfRange();
    shape_chain(depth, captureBoth, &both);
    return both;
}

TEST(NativeStack, CachedWalkEqualsLibunwindThroughEveryFrameShape) {
    walkThroughShapes(12); // this thread's first walk is libunwind's (it learns the stack's extent)
    const auto before = stack::unwindCacheStats();
    for (int depth : {1, 4, 12, 30}) {
        const Both both = walkThroughShapes(depth);
        ASSERT_GE(both.reference.size(), static_cast<std::size_t>(depth + 3)) << "libunwind saw the shapes";
        EXPECT_EQ(both.cached, both.reference) << "depth " << depth;
    }
    const auto after = stack::unwindCacheStats();
    EXPECT_EQ(after.cachedWalks - before.cachedWalks, 4u) << "every walk after the first came from the cache";
}

TEST(NativeStack, CachedWalkEqualsLibunwindOnOtherThreads) {
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, -1);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &mismatches] {
            int bad = 0;
            for (int i = 0; i < 50; ++i) {
                const Both both = walkThroughShapes(5 + (i + t) % 7);
                bad += both.cached != both.reference;
            }
            mismatches[t] = bad;
        });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// reuse_a and reuse_b define reuse_fn with its call at the same offset but different frames.
// Once A's rule is cached, A is closed and B opened (at the same address, as the loader reuses
// the hole): the walk through B must not use A's rule.
TEST(NativeStack, RulesOfAnUnloadedLibraryAreNotUsedForOneLoadedAtTheSameAddress) {
    using ReuseFn = void (*)(void (*)(void*), void*);
    walkThroughShapes(1);
    void* a = dlopen(LT_REUSE_A, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(a, nullptr) << dlerror();
    const auto fnA = reinterpret_cast<ReuseFn>(dlsym(a, "reuse_fn"));
    ASSERT_NE(fnA, nullptr);
    Both both;
    both.skip = selfRange();
    for (int i = 0; i < 2; ++i) {
        both = Both{both.skip};
        fnA(captureBoth, &both);
    }
    EXPECT_EQ(both.cached, both.reference);
    ASSERT_GE(both.cached.size(), 2u);
    const auto beforeClose = stack::unwindCacheStats();
    ASSERT_EQ(dlclose(a), 0);

    void* b = dlopen(LT_REUSE_B, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(b, nullptr) << dlerror();
    const auto fnB = reinterpret_cast<ReuseFn>(dlsym(b, "reuse_fn"));
    ASSERT_NE(fnB, nullptr);
    const bool sameAddress = reinterpret_cast<void*>(fnB) == reinterpret_cast<void*>(fnA);
    both = Both{both.skip};
    fnB(captureBoth, &both);
    EXPECT_EQ(both.cached, both.reference) << "the walk through B used a rule of A";
    const auto after = stack::unwindCacheStats();
    EXPECT_GT(after.invalidations, beforeClose.invalidations) << "the unload emptied the cache";
    EXPECT_GT(after.cachedWalks, beforeClose.cachedWalks) << "the walk through B was a cached one";
    dlclose(b);
    if (!sameAddress) GTEST_SKIP() << "the loader put B elsewhere: the same-address case was not exercised";
}

} // namespace
