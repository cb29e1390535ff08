// dlopen/dlclose GOT wrappers that replay the real caller's library search and report objects
// loaded or unloaded since the last look.
#include "load_watch.h"

#include "hook_engine.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace layertrace::probe::hook {
namespace {

using DlopenFn = void* (*)(const char*, int);
using DlcloseFn = int (*)(void*);

constinit std::recursive_mutex g_watchMutex;
constinit LoadEvents g_events;
constinit bool g_watching = false;
constinit std::vector<LoadedObject> g_known;
constinit DlopenFn g_realDlopen = nullptr;
constinit DlcloseFn g_realDlclose = nullptr;
thread_local int t_depth __attribute__((tls_model("initial-exec"))) = 0;

bool sameObject(const LoadedObject& a, const LoadedObject& b) { return a.lo == b.lo && a.path == b.path; }

void* wrapDlopen(const char* file, int flags);
int wrapDlclose(void* handle);

void patchWatchImports() {
    std::string ignored;
    void* real = nullptr;
    if (patchImports("dlopen", reinterpret_cast<void*>(&wrapDlopen), &real, nullptr, nullptr, &ignored) >= 0 &&
        real != nullptr && g_realDlopen == nullptr)
        g_realDlopen = reinterpret_cast<DlopenFn>(real);
    real = nullptr;
    if (patchImports("dlclose", reinterpret_cast<void*>(&wrapDlclose), &real, nullptr, nullptr, &ignored) >= 0 &&
        real != nullptr && g_realDlclose == nullptr)
        g_realDlclose = reinterpret_cast<DlcloseFn>(real);
}

// Compares the loader's list with what we knew: reports new objects, then gone ones.
void rescan(std::uintptr_t caller, void* handle) {
    std::lock_guard lock(g_watchMutex);
    if (!g_watching) return;
    std::vector<LoadedObject> now = loadedObjects();
    for (const LoadedObject& old : g_known) {
        if (std::none_of(now.begin(), now.end(), [&](const LoadedObject& o) { return sameObject(o, old); })) {
            forgetRange(old.lo, old.hi);
            if (g_events.onUnloaded != nullptr) g_events.onUnloaded(old, g_events.data);
        }
    }
    std::vector<const LoadedObject*> fresh;
    for (const LoadedObject& o : now)
        if (std::none_of(g_known.begin(), g_known.end(), [&](const LoadedObject& k) { return sameObject(o, k); }))
            fresh.push_back(&o);
    link_map* requested = nullptr;
    if (handle != nullptr && dlinfo(handle, RTLD_DI_LINKMAP, &requested) != 0) requested = nullptr;
    for (const LoadedObject* o : fresh) {
        const bool isRequested = requested != nullptr && requested->l_name != nullptr && o->path == requested->l_name;
        if (g_events.onLoaded != nullptr) g_events.onLoaded(*o, caller, isRequested, g_events.data);
    }
    g_known = std::move(now);
    if (!fresh.empty()) {
        patchWatchImports();
        if (stats().activeHooks > 0) {
            std::string ignored;
            installUnwindSupport(&ignored); // catch clauses and unwinders of the new objects
        }
    }
}

void* wrapDlopen(const char* file, int flags) {
    const void* caller = __builtin_return_address(0);
    ++t_depth;
    void* handle = dlopenAsCaller(file, flags, caller);
    --t_depth;
    // A dlopen nested in a constructor is rescanned by the outermost one.
    if (handle != nullptr && t_depth == 0) rescan(reinterpret_cast<std::uintptr_t>(caller), handle);
    return handle;
}

int wrapDlclose(void* handle) {
    DlcloseFn real = g_realDlclose != nullptr ? g_realDlclose : &dlclose;
    const int rc = real(handle);
    if (rc == 0 && t_depth == 0) rescan(0, nullptr);
    return rc;
}

} // namespace

void* dlopenAsCaller(const char* file, int flags, const void* callerAddress) {
    DlopenFn real = g_realDlopen != nullptr ? g_realDlopen : &dlopen;
    if (file == nullptr || std::string_view(file).find('/') != std::string_view::npos) return real(file, flags);
    // Already loaded under that name (soname or path): exactly what glibc would return.
    if (void* h = real(file, flags | RTLD_NOLOAD)) return h;
    Dl_info info {};
    link_map* map = nullptr;
    if (callerAddress != nullptr &&
        dladdr1(callerAddress, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0 && map != nullptr) {
        Dl_serinfo sizeInfo {};
        if (dlinfo(map, RTLD_DI_SERINFOSIZE, &sizeInfo) == 0 && sizeInfo.dls_size >= sizeof(Dl_serinfo)) {
            std::vector<unsigned char> buffer(sizeInfo.dls_size);
            auto* search = reinterpret_cast<Dl_serinfo*>(buffer.data());
            search->dls_size = sizeInfo.dls_size;
            search->dls_cnt = sizeInfo.dls_cnt;
            if (dlinfo(map, RTLD_DI_SERINFO, search) == 0) {
                for (unsigned i = 0; i < search->dls_cnt; ++i) {
                    const char* dir = search->dls_serpath[i].dls_name;
                    if (dir == nullptr || dir[0] == '\0') continue;
                    std::string path = std::string(dir) + "/" + file;
                    if (access(path.c_str(), F_OK) != 0) continue;
                    // A file of the wrong class or arch fails here; glibc would skip it too.
                    if (void* h = real(path.c_str(), flags)) return h;
                }
            }
        }
    }
    return real(file, flags);
}

bool startLoadWatch(const LoadEvents& events, std::string* error) {
    std::lock_guard lock(g_watchMutex);
    g_events = events;
    g_watching = true;
    g_known = loadedObjects();
    if (g_events.onLoaded != nullptr)
        for (const LoadedObject& o : g_known) g_events.onLoaded(o, 0, false, g_events.data);
    patchWatchImports();
    if (g_realDlopen == nullptr) {
        if (error) *error = "no object imports dlopen through its GOT: later loads will not be seen";
        return false;
    }
    return true;
}

void stopLoadWatch() {
    std::lock_guard lock(g_watchMutex);
    g_watching = false;
    g_known.clear();
    // The slots themselves are restored by unhookAll() (they are ordinary patchImports patches);
    // the wrappers stay valid meanwhile and just forward.
}

} // namespace layertrace::probe::hook
