// Tests of the load watch: dlopen stays correct for an $ORIGIN-RPATH caller when wrapped, and
// objects loaded and unloaded later are reported with the caller that loaded them.
#include "hook_engine.h"
#include "load_watch.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
void* lt_origin_open(const char*);
int lt_origin_close(void*);
}

namespace hook = layertrace::probe::hook;

namespace {

constexpr const char* kTarget = "liblt_origin_target.so";

struct Seen {
    std::vector<std::pair<std::string, std::uintptr_t>> loaded;
    std::vector<std::string> unloaded;
};

void onLoaded(const hook::LoadedObject& o, std::uintptr_t caller, bool requested, void* data) {
    static_cast<Seen*>(data)->loaded.emplace_back(o.path, caller);
    if (caller != 0) {
        EXPECT_TRUE(requested) << o.path << " is what dlopen returned";
    }
}
void onUnloaded(const hook::LoadedObject& o, void* data) { static_cast<Seen*>(data)->unloaded.push_back(o.path); }

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(LoadWatch, ReplaysTheCallersOriginRpath) {
    // Negative control: from this executable the library is not on the search path.
    EXPECT_EQ(hook::dlopenAsCaller(kTarget, RTLD_NOW, reinterpret_cast<const void*>(&onLoaded)), nullptr);
    void* h = hook::dlopenAsCaller(kTarget, RTLD_NOW, reinterpret_cast<const void*>(&lt_origin_open));
    ASSERT_NE(h, nullptr) << dlerror();
    auto value = reinterpret_cast<int (*)()>(dlsym(h, "lt_origin_value"));
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(value(), 1234);
    dlclose(h);
}

TEST(LoadWatch, WrappedDlopenStillFindsOriginLibraryAndReportsLoadAndUnload) {
    Seen seen;
    hook::LoadEvents events;
    events.onLoaded = onLoaded;
    events.onUnloaded = onUnloaded;
    events.data = &seen;
    std::string error;
    ASSERT_TRUE(hook::startLoadWatch(events, &error)) << error;
    EXPECT_FALSE(seen.loaded.empty()) << "objects present at start are reported";
    for (const auto& [path, caller] : seen.loaded) EXPECT_EQ(caller, 0u) << path;
    seen.loaded.clear();

    void* h = lt_origin_open(kTarget);
    ASSERT_NE(h, nullptr) << "the wrapped dlopen must search like its real caller: " << dlerror();
    ASSERT_EQ(seen.loaded.size(), 1u);
    EXPECT_TRUE(endsWith(seen.loaded[0].first, std::string("origin_sub/") + kTarget)) << seen.loaded[0].first;
    Dl_info info {};
    ASSERT_NE(dladdr(reinterpret_cast<void*>(seen.loaded[0].second), &info), 0);
    EXPECT_TRUE(endsWith(info.dli_fname, "liblt_origin_loader.so")) << "caller is the library that called dlopen";

    EXPECT_EQ(lt_origin_close(h), 0);
    ASSERT_EQ(seen.unloaded.size(), 1u);
    EXPECT_TRUE(endsWith(seen.unloaded[0], kTarget));

    hook::stopLoadWatch();
    hook::unhookAll();
    EXPECT_EQ(hook::stats().gotSlots, 0u);
    void* again = lt_origin_open(kTarget);
    EXPECT_NE(again, nullptr) << "unwrapped: the loader finds it by itself";
    if (again != nullptr) lt_origin_close(again);
    EXPECT_TRUE(seen.loaded.empty() || seen.loaded.size() == 1u);
}

} // namespace
