// The probe runtime: bootstrap in the host process, per-thread record rings, the metadata
// arena, stack capture, the sender thread and the session's end. See docs/probe.md.
#include "runtime.h"
#include "cfunction_thunks.h"

#include "emit.h"
#include "fatal_signals.h"
#include "interner.h"
#include "metadata_arena.h"
#include "native_stack.h"
#include "reentrancy.h"

#include "../native/native_hooks.h"
#include "../hook/hook_engine.h"

#include <layertrace/wire/decoder.h>
#include <layertrace/wire/handshake.h>

#include <dlfcn.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <vector>

namespace layertrace::probe {

namespace detail {
constinit thread_local int t_probeDepth __attribute__((tls_model("initial-exec"))) = 0;
} // namespace detail

namespace runtime {

std::atomic<int> g_phase{0};
constinit thread_local ThreadSlot* t_slot __attribute__((tls_model("initial-exec"))) = nullptr;
std::atomic<bool> g_senderAsleep{false};

namespace {

enum class Phase : int {
    Inert = 0,    // no session (no LAYERTRACE_SOCKET, or the handshake failed)
    Tracing = 1,  // events flow
    Stopping = 2, // exit or detach in progress: producers stop, the sender drains
    Off = 3,      // the session is over (after Goodbye, a transport error, or in a fork child)
    Attaching = 4, // attach_entry.cpp claimed the probe; its thread is connecting
};

static_assert(static_cast<int>(Phase::Inert) == 0 && static_cast<int>(Phase::Tracing) == kPhaseTracing);

// Objects with constructors are created on first use and never destroyed: the probe's
// constructor may run before this file's dynamic initializers, and hooks may still run during
// exit, after static destructors.
ProbeOptions& optionsStorage() {
    static ProbeOptions* options = new ProbeOptions;
    return *options;
}

std::size_t g_ringBytes = wire::kDefaultRingBytes; // per thread; LAYERTRACE_BUFFER_SIZE overrides
std::atomic<ThreadSlot*> g_threads{nullptr};
pthread_key_t g_threadKey;

MetadataArena g_arena;
IdTable g_strings; // content hash -> string id
std::atomic<std::uint32_t> g_nextStringId{1};
std::atomic<std::uint32_t> g_nextHookId{1};
std::atomic<bool> g_metadataLost{false};

std::uintptr_t g_probeLo = 0, g_probeHi = 0; // the probe's own mapping, skipped in stacks

int g_socket = -1;
// The sender's wake-up: a futex word (an event count) it sleeps on for at most its period; a
// waker bumps it and wakes the futex. A word, not an eventfd: no file descriptor the program
// could close (and reuse for a file of its own) under a producer about to write it.
std::atomic<std::uint32_t> g_senderWakes{0};
pthread_t g_sender;
std::atomic<bool> g_finishRequested{false};
std::atomic<bool> g_detachRequested{false};
std::atomic<bool> g_exitStatusKnown{false};
std::atomic<int> g_exitStatus{-1};
pthread_mutex_t g_doneMutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_doneCond = PTHREAD_COND_INITIALIZER;
bool g_senderDone = false;
// Fatal-signal flush (flushFromSignal): what a handler asked of the sender, and what it can wait
// on without a lock.
std::atomic<bool> g_senderFinished{false}; // the sender ended the session (set with g_senderDone)
std::atomic<int> g_fatalSignal{0};           // the Goodbye says the process dies of this signal
std::atomic<std::uint32_t> g_flushRequests{0};
std::atomic<std::uint32_t> g_flushesDone{0};
thread_local bool t_isSender __attribute__((tls_model("initial-exec"))) = false;
pid_t g_sessionPid = 0; // the process the session traces (not a vfork child sharing its memory)
std::atomic<bool> g_transportReported{false};
// Tracer -> probe stream: the bootstrap reads the Welcome with it, the sender the control records.
// A new one per session (attach again after a detach); the previous one is left behind, never
// freed, since nothing may be destroyed under a thread that could still be finishing with it.
wire::StreamDecoder* g_controlDecoder = nullptr;
wire::StreamDecoder& controlDecoder() {
    if (g_controlDecoder == nullptr) {
        g_controlDecoder = new wire::StreamDecoder(wire::StreamDirection::TracerToProbe);
    }
    return *g_controlDecoder;
}

// Metadata bookkeeping that may lock and allocate (never on the hot path).
struct Registry {
    std::mutex mutex;
    struct Module {
        std::uint32_t id;
        std::uint64_t base;
        std::string path;
    };
    std::vector<Module> modules;
    std::uint32_t nextModuleId = 1;
    std::set<std::string> reported;
};
Registry& registry() {
    static Registry* r = new Registry;
    return *r;
}

thread_local bool t_exiting __attribute__((tls_model("initial-exec"))) = false;

Phase phase() noexcept { return static_cast<Phase>(g_phase.load(std::memory_order_acquire)); }

void* mapMemory(std::size_t bytes) noexcept {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

std::uint32_t currentTid() noexcept { return static_cast<std::uint32_t>(syscall(SYS_gettid)); }

// ---- waking the sender and the producers waiting for it -------------------------------------

long futexCall(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

// Wakes the sender now, asleep or not. Async-signal-safe (an atomic and one system call);
// leaves errno as it was, since it runs inside the program's calls.
void signalSender() noexcept {
    const int savedErrno = errno;
    g_senderWakes.fetch_add(1, std::memory_order_release);
    futexCall(&g_senderWakes, FUTEX_WAKE_PRIVATE, 1, nullptr);
    errno = savedErrno;
}

// Sender: sleeps until signalSender or `period` has passed. `wakesBefore` is the word read
// before the sender last looked for work: a wake-up since then ends the sleep at once.
void senderSleep(std::uint32_t wakesBefore, const timespec& period) noexcept {
    futexCall(&g_senderWakes, FUTEX_WAIT_PRIVATE, wakesBefore, &period);
}

// --lossless, ring full: sleeps until the sender has released space in the ring (it wakes the
// futex after each batch it frees), at most one sender period at a time, so that the caller
// re-checks that the session still lives: a sender that is gone never holds the thread.
void waitForRingSpace(ThreadSlot* slot, std::size_t need) noexcept {
    const int savedErrno = errno;
    wakeSleepingSender(); // held back by a stalled round, or its wake-up was missed
    slot->spaceWaiter.store(1, std::memory_order_relaxed);
    // Pairs with the fence in wakeSpaceWaiter: either this sees the space the sender released,
    // or the sender sees the waiter and wakes it (the futex wait then returns at once).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (slot->ring.freeSpace() < need && tracingNow()) {
        const timespec period{0, 2'000'000};
        futexCall(&slot->spaceWaiter, FUTEX_WAIT_PRIVATE, 1, &period);
    }
    slot->spaceWaiter.store(0, std::memory_order_relaxed);
    errno = savedErrno;
}

// Sender: after releasing space in `slot`'s ring, or when the session stops.
void wakeSpaceWaiter(ThreadSlot* slot) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (slot->spaceWaiter.load(std::memory_order_relaxed) != 0) {
        slot->spaceWaiter.store(0, std::memory_order_relaxed);
        futexCall(&slot->spaceWaiter, FUTEX_WAKE_PRIVATE, 1, nullptr);
    }
}

void wakeAllSpaceWaiters() noexcept {
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        wakeSpaceWaiter(s);
    }
}

// One line on stderr, once per process, when the session dies underneath the program.
void warnOnce(const std::string& message) {
    bool expected = false;
    if (g_transportReported.compare_exchange_strong(expected, true)) {
        std::fprintf(stderr, "layertrace-probe: %s; tracing is off, the program goes on\n", message.c_str());
    }
}

void threadExited(void* p) {
    auto* slot = static_cast<ThreadSlot*>(p);
    t_slot = nullptr;
    t_exiting = true; // TLS destructors running after this one must not register again
    slot->state.store(static_cast<int>(ThreadSlotState::Exited), std::memory_order_release);
}

void sendThreadInfo(std::uint32_t tid) noexcept {
    char name[17] = {};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    alignas(8) std::byte buf[64];
    wire::RecordWriter w(buf, sizeof buf);
    if (wire::appendThreadInfo(w, tid, name)) {
        appendMetadata(w);
    }
}

ThreadSlot* registerThread() noexcept {
    ReentrancyGuard guard; // mmap, prctl: never traced
    ThreadSlot* slot = nullptr;
    // Reuse a slot whose thread exited and which the sender drained.
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        int expected = static_cast<int>(ThreadSlotState::Free);
        if (s->state.compare_exchange_strong(expected, static_cast<int>(ThreadSlotState::Active))) {
            slot = s;
            slot->pendingDropped = 0;
            slot->pythonDepth = 0;
            break;
        }
    }
    if (slot == nullptr) {
        const std::size_t header = (sizeof(ThreadSlot) + 63) & ~std::size_t{63};
        void* mem = mapMemory(header + g_ringBytes);
        if (mem == nullptr) {
            return nullptr;
        }
        slot = new (mem) ThreadSlot;
        slot->ring.init(static_cast<std::byte*>(mem) + header, g_ringBytes);
        ThreadSlot* head = g_threads.load(std::memory_order_relaxed);
        do {
            slot->next = head;
        } while (!g_threads.compare_exchange_weak(head, slot, std::memory_order_release, std::memory_order_relaxed));
    }
    const std::uint32_t tid = currentTid();
    slot->tid.store(tid, std::memory_order_release);
    pthread_setspecific(g_threadKey, slot);
    t_slot = slot;
    sendThreadInfo(tid);
    return slot;
}


// ---- stacks ---------------------------------------------------------------------------------

std::size_t captureNative(std::uint64_t* ips, std::size_t max) noexcept {
    return stack::captureNative(ips, max, {g_probeLo, g_probeHi}); // native_stack.cpp
}

int findProbeRange(dl_phdr_info* info, std::size_t, void*) {
    const auto self = reinterpret_cast<std::uintptr_t>(&findProbeRange);
    std::uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD) {
            lo = std::min<std::uintptr_t>(lo, info->dlpi_addr + ph.p_vaddr);
            hi = std::max<std::uintptr_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
    }
    if (self >= lo && self < hi) {
        g_probeLo = lo;
        g_probeHi = hi;
        return 1;
    }
    return 0;
}

int sendModule(dl_phdr_info* info, std::size_t, void* first) {
    std::string path = info->dlpi_name != nullptr ? info->dlpi_name : "";
    if (path.empty() && *static_cast<bool*>(first)) {
        char exe[4096];
        const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        path = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "<main program>";
    }
    *static_cast<bool*>(first) = false;
    if (!path.empty()) {
        noteModuleLoaded(path, info->dlpi_addr);
    }
    return 0;
}

// ---- sender ---------------------------------------------------------------------------------

constexpr std::size_t kBatchBytes = 256u << 10;
std::byte* g_batch = nullptr; // sender only

// Writes every byte of `iov` (it is consumed: entries are advanced as they go out).
bool sendAll(iovec* iov, int count) noexcept {
    while (count > 0 && iov->iov_len == 0) {
        ++iov;
        --count;
    }
    while (count > 0) {
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(count);
        const ssize_t n = sendmsg(g_socket, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            warnOnce(errno == EAGAIN || errno == EWOULDBLOCK
                         ? std::string("the tracer stopped reading for 5 s")
                         : std::string("lost the connection to the tracer (") + std::strerror(errno) + ")");
            return false;
        }
        std::size_t left = static_cast<std::size_t>(n);
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --count;
        }
        if (count > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
    return true;
}

bool sendBatch(std::uint32_t tid, const std::byte* bytes, std::size_t size, std::uint32_t count) noexcept {
    if (size == 0) {
        return true;
    }
    std::byte header[sizeof(wire::BatchHeader)];
    wire::encodeBatchHeader(header, tid, static_cast<std::uint32_t>(size), count);
    iovec iov[2] = {{header, sizeof header}, {const_cast<std::byte*>(bytes), size}};
    return sendAll(iov, 2);
}

// Sends the records of a ring in [from, to) as one batch straight from the ring's memory: no
// copy in the probe (the kernel copies once, into the socket).
bool sendRingBatch(std::uint32_t tid, const RecordRing& ring, std::uint64_t from, std::uint64_t to,
                   std::uint32_t count) noexcept {
    if (to == from) {
        return true;
    }
    const auto size = static_cast<std::size_t>(to - from);
    std::byte header[sizeof(wire::BatchHeader)];
    wire::encodeBatchHeader(header, tid, static_cast<std::uint32_t>(size), count);
    const auto [first, second] = ring.segments(from, size);
    iovec iov[3] = {{header, sizeof header},
                    {const_cast<std::byte*>(first.data()), first.size()},
                    {const_cast<std::byte*>(second.data()), second.size()}};
    return sendAll(iov, 3);
}

enum class MetadataResult { Complete, Stalled, Failed };

// ModuleUnmap records are held back from the metadata batch and sent after ring batches: events
// a thread recorded before a dlclose (an ffi_call into the library, say) must reach the tracer
// while the library still names their addresses. Everything else a ring event may refer to still
// goes first. An unmap reserved before a round's ring snapshot follows that round's rings; one
// reserved after it (while the sender was snapshotting) may come after events the snapshot
// missed, so it waits for the next round's rings. Sender only.
struct DeferredUnmap {
    std::uint64_t arenaPos; // where it was reserved: before or after a round's snapshot
    wire::ModuleUnmap record;
};
constexpr std::size_t kDeferredUnmaps = 1024; // per round; more wait (with the rings) for the next
DeferredUnmap g_deferredUnmaps[kDeferredUnmaps];
std::size_t g_deferredUnmapCount = 0;
std::uint64_t g_snapshotArenaEnd = 0; // the arena's reserved end just before the ring snapshot

// Sends the unmaps reserved before this round's snapshot (all of them in the final round: no
// event comes after it); keeps the rest for the next round.
bool sendDeferredUnmaps(bool final) noexcept {
    alignas(8) std::byte batch[kDeferredUnmaps * sizeof(wire::ModuleUnmap)];
    std::size_t sent = 0, kept = 0;
    for (std::size_t i = 0; i < g_deferredUnmapCount; ++i) {
        if (final || g_deferredUnmaps[i].arenaPos < g_snapshotArenaEnd) {
            std::memcpy(batch + sent * sizeof(wire::ModuleUnmap), &g_deferredUnmaps[i].record, sizeof(wire::ModuleUnmap));
            ++sent;
        } else {
            g_deferredUnmaps[kept++] = g_deferredUnmaps[i];
        }
    }
    g_deferredUnmapCount = kept;
    return sendBatch(wire::kProcessTid, batch, sent * sizeof(wire::ModuleUnmap), static_cast<std::uint32_t>(sent));
}

// Sends committed metadata up to `end`. Waits (briefly) for producers that reserved space but
// have not committed yet, since later events may refer to what they write; Stalled when one is
// still writing (preempted mid-record).
MetadataResult sendMetadata(std::uint64_t end) noexcept {
    std::uint64_t pos = g_arena.consumed();
    std::size_t used = 0;
    std::uint32_t count = 0;
    int waits = 0;
    bool stalled = false;
    while (pos < end) {
        const std::int64_t size = g_arena.committedSize(pos);
        if (size < 0) {
            break; // arena exhausted
        }
        if (size == 0) {
            if (++waits > 200) {
                stalled = true; // send what precedes it; the rest next round
                break;
            }
            sched_yield();
            continue;
        }
        wire::RecordHeader header;
        std::memcpy(&header, g_arena.at(pos), sizeof header);
        if (header.type == wire::RecordType::ModuleUnmap && size == sizeof(wire::ModuleUnmap)) {
            if (g_deferredUnmapCount == kDeferredUnmaps) {
                stalled = true; // more unmaps than one round holds: the rest after these rings
                break;
            }
            DeferredUnmap& d = g_deferredUnmaps[g_deferredUnmapCount++];
            d.arenaPos = pos;
            std::memcpy(&d.record, g_arena.at(pos), sizeof d.record);
            d.record.header.reserved = 0;
            pos += static_cast<std::uint64_t>(size);
            continue;
        }
        if (used + static_cast<std::size_t>(size) > kBatchBytes) {
            if (!sendBatch(wire::kProcessTid, g_batch, used, count)) {
                return MetadataResult::Failed;
            }
            used = 0;
            count = 0;
        }
        std::memcpy(g_batch + used, g_arena.at(pos), static_cast<std::size_t>(size));
        std::memset(g_batch + used + offsetof(wire::RecordHeader, reserved), 0, sizeof(std::uint32_t));
        used += static_cast<std::size_t>(size);
        ++count;
        pos += static_cast<std::uint64_t>(size);
    }
    g_arena.setConsumed(pos);
    if (!sendBatch(wire::kProcessTid, g_batch, used, count)) {
        return MetadataResult::Failed;
    }
    return stalled ? MetadataResult::Stalled : MetadataResult::Complete;
}

// Since when rounds have held the rings back for a producer stopped mid-record (0: not stalled).
// A time, not a count of rounds: producers wake the sender early, so rounds have no fixed length.
std::uint64_t g_stalledSinceNs = 0;  // sender only
bool g_ringsHeldBack = false;        // sender only: the last round sent no ring
constexpr std::uint64_t kStallLimitNs = 1'000'000'000;

bool drainRound(bool final = false) noexcept {
    g_ringsHeldBack = false;
    // 1. Snapshot every ring first, 2. then send metadata reserved up to now: a definition a
    // thread looked up before writing an event is always sent before that event.
    g_snapshotArenaEnd = g_arena.reservedEnd();
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        s->snapshotState = s->state.load(std::memory_order_acquire);
        s->snapshotHead = s->snapshotState == static_cast<int>(ThreadSlotState::Free) ? s->ring.tail() : s->ring.head();
    }
    switch (sendMetadata(g_arena.reservedEnd())) {
    case MetadataResult::Failed: return false;
    case MetadataResult::Stalled:
        // Events in the snapshots may refer to the definition still being written: hold them
        // back this round. After 1 s (a producer stopped forever mid-write) send anyway.
        if (g_stalledSinceNs == 0) {
            g_stalledSinceNs = monotonicNs();
        }
        if (monotonicNs() - g_stalledSinceNs < kStallLimitNs && !final) {
            g_ringsHeldBack = true;
            return true;
        }
        break;
    case MetadataResult::Complete: g_stalledSinceNs = 0; break;
    }
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        std::uint64_t pos = s->ring.tail();
        const std::uint32_t tid = s->tid.load(std::memory_order_acquire);
        while (pos < s->snapshotHead) {
            // One batch: whole records, at most kBatchBytes (the ring is 1 MiB: a few large
            // writes per round rather than one per record).
            std::uint64_t end = pos;
            std::uint32_t count = 0;
            while (end < s->snapshotHead) {
                const std::size_t size = s->ring.recordSizeAt(end);
                if (size == 0 || end - pos + size > kBatchBytes) {
                    break;
                }
                end += size;
                ++count;
            }
            if (end == pos) {
                break; // a record the ring cannot hold (never written so): leave it rather than spin
            }
            if (!sendRingBatch(tid, s->ring, pos, end, count)) {
                return false;
            }
            s->ring.release(end);
            wakeSpaceWaiter(s);
            pos = end;
        }
        if (s->snapshotState == static_cast<int>(ThreadSlotState::Exited) && pos == s->ring.head()) {
            int expected = static_cast<int>(ThreadSlotState::Exited);
            s->state.compare_exchange_strong(expected, static_cast<int>(ThreadSlotState::Free));
        }
    }
    return sendDeferredUnmaps(final && phase() != Phase::Tracing); // the session's last round
}

std::uint64_t totalDropped() noexcept {
    std::uint64_t total = 0;
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        total += s->droppedTotal.load(std::memory_order_relaxed);
    }
    return total;
}

void sendGoodbye(bool detached) noexcept {
    wire::Goodbye bye{};
    bye.totalDropped = totalDropped();
    bye.exitStatus = g_exitStatusKnown.load() ? g_exitStatus.load() : -1;
    bye.flags = (g_exitStatusKnown.load() ? wire::kGoodbyeExitStatusKnown : 0u) |
                (detached ? wire::kGoodbyeDetached : 0u);
    if (const int signal = g_fatalSignal.load(); signal != 0) {
        bye.exitStatus = signal; // dying of it, whatever main or exit() said before
        bye.flags = wire::kGoodbyeFatalSignal;
    }
    alignas(8) std::byte buf[sizeof bye];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(wire::RecordType::Goodbye, bye);
    sendBatch(wire::kProcessTid, buf, w.size(), 1);
}

void markSenderDone() noexcept {
    pthread_mutex_lock(&g_doneMutex);
    g_senderDone = true;
    g_senderFinished.store(true, std::memory_order_release);
    pthread_cond_broadcast(&g_doneCond);
    pthread_mutex_unlock(&g_doneMutex);
}

// Everything that turns tracing off for good from the sender thread.
// At process exit the hooks stay in place (inert: tracing is off), since patching code while
// the process is going away would only add risk and delay; after a detach or a lost tracer
// the program goes on, so they are removed.
void endSession(bool sendBye, bool detached, bool restoreHooks) noexcept {
    g_phase.store(static_cast<int>(Phase::Stopping), std::memory_order_release);
    wakeAllSpaceWaiters(); // --lossless producers waiting for room give up now
    pythonDisarm(restoreHooks);
#ifdef LAYERTRACE_PROBE_HAVE_NATIVE
    if (restoreHooks) {
        native::uninstall();
    }
#endif
    if (restoreHooks) {
        restoreFatalSignalHandlers();
    }
    if (sendBye && drainRound(true)) {
        sendGoodbye(detached);
    }
    g_phase.store(static_cast<int>(Phase::Off), std::memory_order_release);
    shutdown(g_socket, SHUT_RDWR);
    close(g_socket);
    g_socket = -1;
    markSenderDone();
}

// ---- exec of the launched process ----------------------------------------------------------
// The thread calling exec asks (g_execRequested); the sender sends every record so far and the
// Exec record, then waits (g_execParked) so that nothing is half-sent when the exec closes the
// socket. A failed exec lets it go on (execFailed).

std::atomic<bool> g_execRequested{false};
bool g_execParked = false;                              // g_doneMutex
const char* g_execPath = "";                            // set before g_execRequested
pthread_mutex_t g_execMutex = PTHREAD_MUTEX_INITIALIZER; // one exec handoff at a time

// Sender only. false: the connection failed (the exec then goes on untraced).
bool handOverForExec() noexcept {
    if (!drainRound(true)) {
        return false;
    }
    alignas(8) std::byte buf[wire::kMaxRecordSize];
    wire::RecordWriter w(buf, sizeof buf);
    if (!wire::appendExec(w, nowNs(), g_execPath) || !sendBatch(wire::kProcessTid, buf, w.size(), 1)) {
        return false;
    }
    pthread_mutex_lock(&g_doneMutex);
    g_execParked = true;
    pthread_cond_broadcast(&g_doneCond);
    while (g_execRequested.load()) {
        pthread_cond_wait(&g_doneCond, &g_doneMutex);
    }
    g_execParked = false;
    pthread_cond_broadcast(&g_doneCond);
    pthread_mutex_unlock(&g_doneMutex);
    return true;
}

bool anyRingHalfFull() noexcept {
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        if (s->ring.halfFull()) {
            return true;
        }
    }
    return false;
}

void* senderMain(void*) {
    ++detail::t_probeDepth; // nothing this thread does is traced
    t_isSender = true;      // a fatal signal here cannot wait for itself to flush
    pthread_setname_np(pthread_self(), "layertrace-send");
    wire::StreamDecoder& control = controlDecoder(); // past the Welcome already (readWelcome)
    for (;;) {
        if (g_finishRequested.load(std::memory_order_acquire)) {
            endSession(true, false, false);
            return nullptr;
        }
        if (g_execRequested.load(std::memory_order_acquire) && !handOverForExec()) {
            endSession(false, false, true);
            return nullptr;
        }
        // Sleep for the drain period (2 ms) unless a producer's ring reaches half full, the
        // process exits, a fatal signal asks for a flush or an exec for the handoff. Not woken
        // early by producers while a stalled round holds the rings back: draining again at once
        // could send nothing more.
        const std::uint32_t wakes = g_senderWakes.load(std::memory_order_acquire);
        bool sleep = !g_finishRequested.load(std::memory_order_acquire) &&
                     !g_execRequested.load(std::memory_order_acquire) &&
                     g_flushRequests.load(std::memory_order_acquire) == g_flushesDone.load(std::memory_order_relaxed);
        if (sleep && !g_ringsHeldBack) {
            g_senderAsleep.store(true, std::memory_order_seq_cst);
            sleep = !anyRingHalfFull(); // it crossed before the flag went up, so nobody woke us
        }
        if (sleep) {
            senderSleep(wakes, timespec{0, 2'000'000});
        }
        g_senderAsleep.store(false, std::memory_order_relaxed);
        // Control bytes from the tracer (a Detach, or its end): looked at once per round.
        pollfd p{g_socket, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
            std::byte in[256];
            const ssize_t n = recv(g_socket, in, sizeof in, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                warnOnce("the tracer closed the connection");
                endSession(false, false, true);
                return nullptr;
            }
            if (n > 0) {
                control.feed(std::span<const std::byte>(in, static_cast<std::size_t>(n)));
                for (auto s = control.next(); s != wire::StreamDecoder::Status::NeedMore; s = control.next()) {
                    if (s == wire::StreamDecoder::Status::Error) {
                        warnOnce("bad control message from the tracer (" + control.error().message() + ")");
                        endSession(false, false, true);
                        return nullptr;
                    }
                    if (s == wire::StreamDecoder::Status::Record && control.record().type() == wire::RecordType::Detach) {
                        g_detachRequested.store(true);
                    }
                }
            }
        }
        if (g_detachRequested.load()) {
            endSession(true, true, true);
            return nullptr;
        }
        // A fatal-signal handler waiting for a flush: this round sends everything pushed before
        // it asked (read before the ring snapshot), held back by nothing.
        const std::uint32_t flushRequested = g_flushRequests.load(std::memory_order_acquire);
        if (!drainRound(flushRequested != g_flushesDone.load(std::memory_order_relaxed))) {
            endSession(false, false, true);
            return nullptr;
        }
        g_flushesDone.store(flushRequested, std::memory_order_release);
        calibrateEventClock();
    }
}

// ---- bootstrap ------------------------------------------------------------------------------

// This library's file, as the loader was given it (LD_PRELOAD's entry).
std::string probeLibraryPath() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&probeLibraryPath), &info) == 0 || info.dli_fname == nullptr) {
        return {};
    }
    return info.dli_fname;
}

void afterForkInChild() {
    // The child has no sender thread: it must neither trace (rings would fill, --lossless would
    // wait forever) nor write into the parent's socket.
    g_phase.store(static_cast<int>(Phase::Off));
    if (g_socket >= 0) {
        close(g_socket);
        g_socket = -1;
    }
}

bool readWelcome(int fd, wire::WelcomeOptions* options, std::string* why) {
    wire::StreamDecoder& decoder = controlDecoder();
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int ready = poll(&p, 1, 10000);
        if (ready == 0) {
            *why = "the tracer sent no Welcome within 10 s";
            return false;
        }
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            *why = std::string("poll: ") + std::strerror(errno);
            return false;
        }
        // One byte at a time up to the Welcome's end would be slow; peek the header instead.
        std::byte buf[wire::kMaxRecordSize];
        const ssize_t n = recv(fd, buf, sizeof(wire::RecordHeader), MSG_PEEK);
        if (n <= 0) {
            *why = "the tracer closed the connection during the handshake";
            return false;
        }
        if (static_cast<std::size_t>(n) < sizeof(wire::RecordHeader)) {
            continue;
        }
        wire::RecordHeader h;
        std::memcpy(&h, buf, sizeof h);
        // Read exactly this record so that a following control record stays in the socket.
        if (h.size < sizeof h || h.size > sizeof buf) {
            *why = "the tracer's first record has an impossible size (" + std::to_string(h.size) + ")";
            return false;
        }
        const std::size_t want = h.size;
        std::size_t got = 0;
        while (got < want) {
            const ssize_t m = recv(fd, buf + got, want - got, 0);
            if (m <= 0) {
                if (m < 0 && errno == EINTR) {
                    continue;
                }
                *why = "the tracer closed the connection during the handshake";
                return false;
            }
            got += static_cast<std::size_t>(m);
        }
        decoder.feed(std::span<const std::byte>(buf, got));
        const auto s = decoder.next();
        if (s == wire::StreamDecoder::Status::Handshake) {
            return wire::parseWelcome(decoder.record().bytes(), options, why);
        }
        if (s == wire::StreamDecoder::Status::Error) {
            *why = "bad Welcome: " + decoder.error().message();
            return false;
        }
    }
}

// Connects, checks the peer, handshakes. On failure the probe stays inert.
bool connectToTracer(const std::string& path, std::uint32_t pythonHex, bool attached, std::string* why) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        *why = "LAYERTRACE_SOCKET path is too long (" + std::to_string(path.size()) + " bytes)";
        return false;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        *why = "cannot connect to " + path + " (" + std::strerror(errno) + ")";
        close(fd);
        return false;
    }
    // Only a tracer of our own user may receive our events and drive us (docs/wire-format.md).
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
        *why = "the process listening on " + path + " runs as uid " + std::to_string(cred.uid) + ", not " +
               std::to_string(geteuid()) + ": refusing to trace";
        close(fd);
        return false;
    }
    // A tracer that stops reading for this long is treated as gone (the target never waits on it
    // longer, and the sender's blocking send cannot hang forever).
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const wire::Hello hello = wire::makeHello(static_cast<std::uint32_t>(getpid()), pythonHex,
                                              attached ? wire::kHelloAttached : 0u,
                                              static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
                                                  static_cast<std::uint64_t>(ts.tv_nsec));
    if (send(fd, &hello, sizeof hello, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof hello)) {
        *why = std::string("cannot send Hello: ") + std::strerror(errno);
        close(fd);
        return false;
    }
    wire::WelcomeOptions welcome;
    if (!readWelcome(fd, &welcome, why)) {
        close(fd);
        return false;
    }
    optionsStorage().mode = welcome.mode;
    optionsStorage().stacks = (welcome.flags & wire::kWelcomeStacks) != 0;
    optionsStorage().lossless = (welcome.flags & wire::kWelcomeLossless) != 0;
    optionsStorage().allCCalls = (welcome.flags & wire::kWelcomeAllCCalls) != 0;
    optionsStorage().probeSpecs = welcome.probeSpecs;
    g_socket = fd;
    return true;
}

// Per-thread ring size: LAYERTRACE_BUFFER_SIZE bytes (rounded up to a power of two, at least
// 1 KiB), for tests of the drop path or a program with many busy threads; 4 MiB by default.
void readBufferSize() {
    if (const char* size = getenv("LAYERTRACE_BUFFER_SIZE")) {
        const unsigned long long want = std::strtoull(size, nullptr, 10);
        std::size_t bytes = 1024;
        while (bytes < want && bytes < (1ull << 30)) {
            bytes <<= 1;
        }
        g_ringBytes = bytes;
    }
}

constexpr std::size_t kArenaBytes = 64u << 20;
constexpr std::size_t kStringSlots = 1u << 20;
void* g_arenaMemory = nullptr;
void* g_stringMemory = nullptr;
bool g_prepared = false; // memory and the thread key exist (once per process)
// An attach thread still installing hooks must not race the process's exit: the destructor
// waits for it (briefly), and it installs nothing once the exit has begun.
std::atomic<bool> g_processExiting{false};
bool g_attachRunning = false; // g_doneMutex
pid_t g_attachRunningPid = 0;  // g_doneMutex: the process whose attach thread it is (not a fork child)

bool prepareOnce() {
    if (g_prepared) {
        return true;
    }
    dl_iterate_phdr(findProbeRange, nullptr);
    g_arenaMemory = mapMemory(kArenaBytes);
    g_stringMemory = mapMemory(kStringSlots * sizeof(IdTable::Slot));
    g_batch = static_cast<std::byte*>(mapMemory(kBatchBytes));
    if (g_arenaMemory == nullptr || g_stringMemory == nullptr || g_batch == nullptr ||
        pthread_key_create(&g_threadKey, threadExited) != 0) {
        return false;
    }
    g_arena.init(static_cast<std::byte*>(g_arenaMemory), kArenaBytes);
    g_strings.init(static_cast<IdTable::Slot*>(g_stringMemory), kStringSlots);
    pthread_atfork(nullptr, nullptr, afterForkInChild);
    g_prepared = true;
    return true;
}

// Attach after an earlier session ended (detach, lost tracer): the new tracer knows none of the
// ids, modules or threads the previous one was told about, so every table starts empty again.
// The memory is reused, not unmapped: a producer that tested the phase just before the end may
// still be finishing a write, and must find mapped (zeroed) memory rather than fault.
void resetForNewSession() {
    if (g_senderDone) {
        pthread_join(g_sender, nullptr);
    }
    madvise(g_arenaMemory, kArenaBytes, MADV_DONTNEED);
    madvise(g_stringMemory, kStringSlots * sizeof(IdTable::Slot), MADV_DONTNEED);
    new (&g_arena) MetadataArena;
    g_arena.init(static_cast<std::byte*>(g_arenaMemory), kArenaBytes);
    new (&g_strings) IdTable;
    g_strings.init(static_cast<IdTable::Slot*>(g_stringMemory), kStringSlots);
    g_controlDecoder = nullptr;
    {
        std::lock_guard lock(registry().mutex);
        registry().modules.clear();
        registry().reported.clear();
    }
    g_finishRequested.store(false);
    g_detachRequested.store(false);
    g_transportReported.store(false);
    g_metadataLost.store(false);
    g_stalledSinceNs = 0;
    g_ringsHeldBack = false;
    g_deferredUnmapCount = 0;
    g_fatalSignal.store(0);
    g_senderFinished.store(false);
    pthread_mutex_lock(&g_doneMutex);
    g_senderDone = false;
    pthread_mutex_unlock(&g_doneMutex);
    // Threads keep their slots (cached in TLS); records a straggler pushed after the last drain
    // belong to the old session. Depths restart: frames already running return unreported.
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        s->ring.release(s->ring.head());
        s->pythonDepth = 0;
        s->droppedTotal.store(0, std::memory_order_relaxed);
    }
}

// Threads that registered in an earlier session are announced again (names from /proc).
void resendThreadInfos() {
    for (ThreadSlot* s = g_threads.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        if (s->state.load(std::memory_order_acquire) != static_cast<int>(ThreadSlotState::Active)) {
            continue;
        }
        const std::uint32_t tid = s->tid.load(std::memory_order_acquire);
        char name[17] = {};
        const std::string comm = "/proc/self/task/" + std::to_string(tid) + "/comm";
        if (FILE* f = std::fopen(comm.c_str(), "re")) {
            if (std::fgets(name, sizeof name, f) != nullptr) {
                name[std::strcspn(name, "\n")] = '\0';
            }
            std::fclose(f);
        }
        alignas(8) std::byte buf[64];
        wire::RecordWriter w(buf, sizeof buf);
        if (wire::appendThreadInfo(w, tid, name)) {
            appendMetadata(w);
        }
    }
}

bool start(const std::string& socketPath, bool attached) {
    ReentrancyGuard guard;
    const bool again = g_prepared;
    if (!prepareOnce()) {
        std::fprintf(stderr, "layertrace-probe: out of memory at start; not tracing\n");
        return false;
    }
    if (again) {
        resetForNewSession();
    }

    std::string pythonWhy;
    const std::uint32_t pythonHex = pythonPrepare(&pythonWhy);
    std::string why;
    if (!connectToTracer(socketPath, pythonHex, attached, &why)) {
        std::fprintf(stderr, "layertrace-probe: %s; not tracing\n", why.c_str());
        return false;
    }
    g_phase.store(static_cast<int>(Phase::Tracing), std::memory_order_release);
    bool first = true;
    dl_iterate_phdr(sendModule, &first);
    if (again) {
        resendThreadInfos();
    }
    if (!pythonWhy.empty()) {
        // No interpreter at all (a launcher on its way to one, or a program that is not Python) is
        // not reported: the Hello's version 0 says it, and the tracer says it once for a whole
        // exec chain (a pyenv shim is six programs without Python before the interpreter).
        if (pythonHex != 0) {
            reportOnce(wire::ReportLevel::Warning, "python", pythonWhy);
        }
    } else if (!attached && !pythonArm(&why)) {
        reportOnce(wire::ReportLevel::Error, "python", why);
    }

    // The sender never takes the host's signals (SIGINT, SIGCHLD... are the program's business),
    // except the real-time range: the hook engine sweeps every thread with a real-time signal
    // while it patches code, and waits for each thread's answer.
    sigset_t all, old;
    sigfillset(&all);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) {
        sigdelset(&all, sig);
    }
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int rc = pthread_create(&g_sender, nullptr, senderMain, nullptr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
        g_phase.store(static_cast<int>(Phase::Off));
        markSenderDone(); // an exit racing this must not wait for a sender that never ran
        close(g_socket);
        std::fprintf(stderr, "layertrace-probe: cannot start the sender thread; not tracing\n");
        return false;
    }
    g_sessionPid = getpid();
    installFatalSignalHandlers();
    // Attached: the interpreter is running; the Python hooks go on from this (the probe's own)
    // thread once it holds the GIL. Nothing is installed into a process that is exiting.
    if (attached && g_processExiting.load()) {
        return true;
    }
    if (attached && pythonWhy.empty() && !pythonAttach(&why)) {
        reportOnce(wire::ReportLevel::Error, "python", why);
    }
    // A finalized interpreter means the process is on its way out (Py_Finalize runs before the
    // probe's destructor can say so): patching code now would race the exit.
    using IsInitialized = int (*)();
    const auto isInitialized = reinterpret_cast<IsInitialized>(dlsym(RTLD_DEFAULT, "Py_IsInitialized"));
    if (attached && (g_processExiting.load() || (isInitialized != nullptr && isInitialized() == 0))) {
        reportOnce(wire::ReportLevel::Warning, "native:exiting", "the process is exiting: native hooks not installed");
        return true;
    }
#ifdef LAYERTRACE_PROBE_HAVE_NATIVE
    std::string nativeWhy;
    if (!native::install(&nativeWhy)) {
        reportOnce(wire::ReportLevel::Error, "native:install", "native hooks are off: " + nativeWhy);
    }
#else
    reportOnce(wire::ReportLevel::Warning, "native:missing", "this probe was built without native hooks");
#endif
    return true;
}

// Process exit (or library unload): stop producers, let the sender drain and say Goodbye, but
// never hold the exit up for more than a second -- unless the session is --lossless: then the
// program already waits for a slow tracer during its run, and its exit waits too, until the
// last event is sent (a tracer that stops reading for 5 s fails the sender's send timeout, which
// ends the wait). A session already Stopping (a detach whose last drain is still going out to a
// slow tracer) gets the same wait: exiting under it would cut the stream inside a batch, without
// its Goodbye.
void finish() noexcept {
    int expected = static_cast<int>(Phase::Tracing);
    if (g_phase.compare_exchange_strong(expected, static_cast<int>(Phase::Stopping))) {
        g_finishRequested.store(true, std::memory_order_release);
        signalSender();
    } else if (expected != static_cast<int>(Phase::Stopping)) {
        return;
    }
    // Stopping already: the sender is ending the session (a detach restoring the hooks, for one);
    // exiting under it would cut the stream before its Goodbye, so wait for it the same way.
    const bool waitForEverything = optionsStorage().lossless;
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    pthread_mutex_lock(&g_doneMutex);
    while (!g_senderDone) {
        if (waitForEverything) {
            pthread_cond_wait(&g_doneCond, &g_doneMutex);
        } else if (pthread_cond_timedwait(&g_doneCond, &g_doneMutex, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&g_doneMutex);
}

pid_t g_launchedPid = 0; // the process `layertrace run` launched with this probe preloaded

// Waits (async-signal-safe) until `done()` or one second has passed.
template <class Done>
void waitBrieflyFor(Done done) noexcept {
    timespec start{}, now{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!done()) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 1 || (now.tv_sec - start.tv_sec == 1 && now.tv_nsec >= start.tv_nsec)) {
            return;
        }
        const timespec pause{0, 200'000};
        nanosleep(&pause, nullptr);
    }
}

// libc's _exit, looked up once from the constructor: a vfork child calling _exit (exec failed)
// should not be the first to run dlsym, with the parent's other threads sharing its memory.
using ExitFn = void (*)(int);
ExitFn realUnderscoreExit() {
    static ExitFn real = reinterpret_cast<ExitFn>(dlsym(RTLD_NEXT, "_exit"));
    return real;
}

// os._exit (any direct _exit) skips exit(), atexit handlers and the probe's destructor, so what
// is still in the rings would be lost. When the launched process itself calls it, end the
// session as a normal exit does: the sender drains and says Goodbye, within the same 1 s budget.
// Never in a vfork child (it shares the parent's memory, so the parent's session is not its own:
// getpid() tells them apart); a fork child's probe is off already.
void finishBeforeImmediateExit(int status) noexcept {
    if (g_launchedPid == 0 || getpid() != g_launchedPid) {
        return;
    }
    if (!g_exitStatusKnown.load()) {
        g_exitStatus.store(status);
        g_exitStatusKnown.store(true);
    }
    finish();
}

__attribute__((constructor)) void probeConstructor() {
    (void)realUnderscoreExit();
    const char* socketPath = getenv("LAYERTRACE_SOCKET");
    if (socketPath == nullptr || *socketPath == '\0') {
        return; // not launched by `layertrace run`: stay inert, silently
    }
    const std::string path = socketPath;
    readBufferSize();
    const char* bufferSize = getenv("LAYERTRACE_BUFFER_SIZE");
    rememberForExec(probeLibraryPath(), path, bufferSize != nullptr ? bufferSize : "");
    scrubProbeEnvironment();
    g_launchedPid = getpid();
    start(path, false);
}

// The process is exiting: an attach that has not installed its hooks yet installs none, and one
// installing them gets a second to finish. Also as an exit handler registered by the attach
// thread (so it runs before the handlers registered earlier, among them the destructors of the
// probe's static objects such as the hook engine's tables: exit() runs them before any
// destructor function, and an attach thread still using them crashed the exiting program).
void stopAttachForExit() noexcept {
    g_processExiting.store(true);
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    pthread_mutex_lock(&g_doneMutex);
    while (g_attachRunning && g_attachRunningPid == getpid()) {
        if (pthread_cond_timedwait(&g_doneCond, &g_doneMutex, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&g_doneMutex);
}

__attribute__((destructor)) void probeDestructor() {
    stopAttachForExit();
    finish();
}

} // namespace

bool beginExecHandoff(const char* path) noexcept {
    if (g_launchedPid == 0 || getpid() != g_launchedPid || phase() != Phase::Tracing) {
        return false; // not the launched process (a fork or vfork child), or not tracing
    }
    pthread_mutex_lock(&g_execMutex);
    g_execPath = path;
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 6; // the sender's longest blocking send is 5 s (SO_SNDTIMEO)
    pthread_mutex_lock(&g_doneMutex);
    while (g_execParked && !g_senderDone) {
        // The sender has not yet left the previous (failed) exec's wait: asking now would find
        // it still parked, and nothing sent since would precede this exec's Exec record.
        if (pthread_cond_timedwait(&g_doneCond, &g_doneMutex, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    g_execRequested.store(true, std::memory_order_release);
    signalSender();
    while (!g_execParked && !g_senderDone) {
        if (pthread_cond_timedwait(&g_doneCond, &g_doneMutex, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    const bool parked = g_execParked;
    if (!parked) {
        g_execRequested.store(false); // the session ended meanwhile: exec untraced
    }
    pthread_mutex_unlock(&g_doneMutex);
    if (!parked) {
        pthread_mutex_unlock(&g_execMutex);
    }
    return parked;
}

void execFailed(const char* path, int err) noexcept {
    pthread_mutex_lock(&g_doneMutex);
    g_execRequested.store(false);
    pthread_cond_broadcast(&g_doneCond);
    pthread_mutex_unlock(&g_doneMutex);
    pthread_mutex_unlock(&g_execMutex);
    reportOnce(wire::ReportLevel::Warning, std::string("exec-failed:") + path + ":" + std::to_string(err),
               std::string("exec of ") + path + " failed (" + std::strerror(err) + "): tracing goes on in this program");
}

void flushFromSignal(int signal, bool endSession) noexcept {
    if (t_isSender || g_sessionPid == 0 || getpid() != g_sessionPid) {
        return;
    }
    const auto senderFinished = [] { return g_senderFinished.load(std::memory_order_acquire); };
    int tracing = static_cast<int>(Phase::Tracing);
    if (endSession) {
        // The first fatal signal ends the session; any other (a second thread crashing, or one
        // during exit while the sender already drains) waits for that same end.
        if (g_phase.compare_exchange_strong(tracing, static_cast<int>(Phase::Stopping))) {
            g_fatalSignal.store(signal);
            g_finishRequested.store(true, std::memory_order_release);
            signalSender();
        }
        if (phase() == Phase::Stopping) {
            waitBrieflyFor(senderFinished);
        }
        return;
    }
    if (phase() != Phase::Tracing) {
        return;
    }
    const std::uint32_t ticket = g_flushRequests.fetch_add(1, std::memory_order_acq_rel) + 1;
    signalSender();
    waitBrieflyFor([&] {
        return static_cast<std::int32_t>(g_flushesDone.load(std::memory_order_acquire) - ticket) >= 0 ||
               senderFinished();
    });
}

int claimAttach() noexcept {
    for (int from : {static_cast<int>(Phase::Inert), static_cast<int>(Phase::Off)}) {
        int expected = from;
        if (g_phase.compare_exchange_strong(expected, static_cast<int>(Phase::Attaching))) {
            return kAttachStarted;
        }
    }
    return kAttachAlreadyActive;
}

void abandonAttach() noexcept { g_phase.store(static_cast<int>(Phase::Off), std::memory_order_release); }

// Not noexcept, and nothing between here and PyGILState_Ensure is: when the interpreter starts
// finalizing while this thread waits for the GIL, CPython ends the thread with pthread_exit, a
// forced unwind that would hit std::terminate (and abort the program) at a noexcept frame. The
// unwind runs this guard instead, so the exiting process does not wait for us.
void startAttached(const char* socketPath) {
    struct AttachRunning {
        AttachRunning() {
            pthread_mutex_lock(&g_doneMutex);
            g_attachRunning = true;
            g_attachRunningPid = getpid();
            pthread_mutex_unlock(&g_doneMutex);
        }
        ~AttachRunning() {
            pthread_mutex_lock(&g_doneMutex);
            g_attachRunning = false;
            pthread_cond_broadcast(&g_doneCond);
            pthread_mutex_unlock(&g_doneMutex);
        }
        AttachRunning(const AttachRunning&) = delete;
        AttachRunning& operator=(const AttachRunning&) = delete;
    } running;
    static std::atomic<bool> exitHandlerRegistered{false};
    if (!exitHandlerRegistered.exchange(true)) {
        std::atexit([] { stopAttachForExit(); });
    }
    if (g_processExiting.load() || !start(socketPath, true)) {
        int expected = static_cast<int>(Phase::Attaching);
        g_phase.compare_exchange_strong(expected, static_cast<int>(Phase::Off)); // attachable again
    }
}

namespace {

using MainFn = int (*)(int, char**, char**);
MainFn g_realMain = nullptr;

int wrappedMain(int argc, char** argv, char** envp) {
    const int status = g_realMain(argc, argv, envp);
    g_exitStatus.store(status);
    g_exitStatusKnown.store(true);
    return status;
}

} // namespace

// ---- hot path -------------------------------------------------------------------------------

constexpr std::size_t kMaxInternedText = 4096;

ThreadSlot* registerCurrentThread() noexcept { return t_exiting ? nullptr : registerThread(); }

bool pushRecords(ThreadSlot* slot, const wire::RecordWriter& records) noexcept {
    const std::size_t need = records.size() + (slot->pendingDropped > 0 ? sizeof(wire::Dropped) : 0);
    if (slot->ring.freeSpace() < need) {
        // Too big for the ring even when empty (a tiny LAYERTRACE_BUFFER_SIZE and a deep stack):
        // waiting would never end, so it is dropped even with --lossless.
        if (!optionsStorage().lossless || need > slot->ring.capacity()) {
            countDropped(slot);
            return false;
        }
        while (slot->ring.freeSpace() < need) {
            if (!tracingNow()) {
                return false;
            }
            waitForRingSpace(slot, need); // --lossless: wait for the sender
        }
    }
    if (slot->pendingDropped > 0) {
        const wire::Dropped dropped{{wire::RecordType::Dropped, sizeof(wire::Dropped), 0}, slot->pendingDropped};
        slot->ring.push(reinterpret_cast<const std::byte*>(&dropped), sizeof dropped);
        slot->pendingDropped = 0;
    }
    const bool pushed = slot->ring.push(records.data(), records.size());
    wakeSenderIfRingHalfFull(slot);
    return pushed;
}

void wakeSleepingSender() noexcept {
    if (g_senderAsleep.exchange(false, std::memory_order_relaxed)) {
        signalSender();
    }
}

void appendStackIfWanted(wire::RecordWriter& w) noexcept {
    if (!optionsStorage().stacks) {
        return;
    }
    std::uint64_t ips[wire::kMaxStackFrames];
    wire::PyFrameRef frames[wire::kMaxStackFrames];
    const std::size_t nativeCount = captureNative(ips, wire::kMaxStackFrames);
    const std::size_t pythonCount = pythonFrames(frames, wire::kMaxStackFrames);
    wire::appendStack(w, {ips, nativeCount}, {frames, pythonCount});
}

bool appendMetadata(const wire::RecordWriter& records) noexcept {
    std::size_t pos = 0;
    bool ok = true;
    while (pos < records.size()) {
        wire::RecordHeader h;
        std::memcpy(&h, records.data() + pos, sizeof h);
        ok = g_arena.append(records.data() + pos, h.size) && ok;
        pos += h.size;
    }
    if (!ok) {
        g_metadataLost.store(true, std::memory_order_relaxed);
    }
    return ok;
}

std::uint32_t internString(std::string_view text) noexcept {
    std::uint32_t id = 0;
    IdTable::Slot* slot = nullptr;
    text = text.substr(0, std::min(text.size(), kMaxInternedText));
    switch (g_strings.findOrClaim(IdTable::hashText(text), &id, &slot)) {
    case IdTable::Result::Found: return id;
    case IdTable::Result::Full: return 0;
    case IdTable::Result::Inserted: break;
    }
    id = g_nextStringId.fetch_add(1, std::memory_order_relaxed);
    // Interned texts are names and paths: cut at 4 KiB so the record fits on any thread's stack.
    alignas(8) std::byte buf[sizeof(wire::String) + kMaxInternedText];
    wire::RecordWriter w(buf, sizeof buf);
    wire::appendString(w, id, text.substr(0, std::min(text.size(), kMaxInternedText)));
    appendMetadata(w);
    IdTable::publish(slot, id);
    return id;
}

} // namespace runtime

// ---- emit.h ---------------------------------------------------------------------------------

using namespace runtime;

const ProbeOptions& options() { return optionsStorage(); }

bool tracingEnabled() { return tracingNow(); }

namespace {

// Records written in place in a ring (no copy through a buffer on the stack) are written one
// 8-byte word at a time, each assembled in a register: built as a struct, GCC wrote them to the
// stack in narrow stores and copied them with wide loads, a store-forwarding stall per load.
template <class V>
void storeAt(std::byte* record, std::size_t offset, V value) noexcept {
    static_assert(std::is_trivially_copyable_v<V>);
    std::memcpy(record + offset, &value, sizeof value);
}

std::uint64_t headerWord(wire::RecordType type, std::size_t size) noexcept {
    static_assert(std::endian::native == std::endian::little && offsetof(wire::RecordHeader, type) == 0 &&
                  offsetof(wire::RecordHeader, size) == 2 && offsetof(wire::RecordHeader, reserved) == 4);
    return std::uint64_t{static_cast<std::uint16_t>(type)} | std::uint64_t{size} << 16;
}

// The drop path of an event of at least `size` bytes that did not go straight into the ring:
// when not even that fits (and the session is not --lossless, which waits instead), it is
// counted as dropped before anything is decoded, copied or unwound for it.
bool droppedEarly(ThreadSlot* slot, std::size_t size) noexcept {
    const std::size_t need = size + (slot->pendingDropped > 0 ? sizeof(wire::Dropped) : 0);
    if (optionsStorage().lossless || slot->ring.fits(need)) {
        return false;
    }
    countDropped(slot);
    return true;
}

// Pushes one event, followed by its Stack when it is an event that has one (`withStack`) and
// stacks are on: then the records are built on the stack first; without a stack the fixed-size
// record goes straight into the ring (pushFixedRecord).
// An event raised while this thread is already inside the probe (a hooked function called by
// the probe itself, or from a signal handler that interrupted a push) is not traced: the ring
// has a single producer, and that producer is busy.
template <class T>
void emitEvent(wire::RecordType type, T rec, bool withStack) noexcept {
    ReentrancyGuard guard;
    if (!guard.entered()) {
        return;
    }
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return;
    }
    if (!withStack || !optionsStorage().stacks) {
        rec.header = {type, static_cast<std::uint16_t>(sizeof(T)), 0};
        pushFixedRecord(slot, rec);
        return;
    }
    if (droppedEarly(slot, sizeof(T))) {
        return; // before the stack is unwound
    }
    alignas(8) std::byte buf[kMaxEventBytes];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(type, rec);
    appendStackIfWanted(w);
    pushRecords(slot, w);
}

} // namespace

void emitNativeEnter(std::uint32_t hookId, std::uint64_t function, std::uint64_t caller) {
    emitEvent(wire::RecordType::NativeEnter, wire::NativeEnter{{}, nowNs(), function, caller, hookId, 0}, true);
}

void emitNativeExit(std::uint32_t hookId, std::uint64_t function, std::uint64_t returnValue, bool unwound) {
    emitEvent(wire::RecordType::NativeExit,
              wire::NativeExit{{}, nowNs(), function, returnValue, hookId, unwound ? 1u : 0u}, false);
}

void emitFfiCall(std::uint32_t entryHookId, std::uint64_t target, std::uint64_t caller, std::uint16_t abi,
                 const native::FfiCifMirror* cif, void** avalue, std::size_t argCount, FfiArgumentDecoder decode) {
    ReentrancyGuard guard;
    if (!guard.entered()) {
        return;
    }
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return;
    }
    argCount = std::min(argCount, wire::kMaxFfiArgs);
    const auto size = static_cast<std::uint16_t>(sizeof(wire::FfiCall) + argCount * sizeof(wire::FfiValue));
    if (!optionsStorage().stacks && slot->pendingDropped == 0) {
        // The common case: the record is written in place, the arguments decoded into it.
        if (std::byte* at = slot->ring.reserve(size)) {
            using wire::FfiCall;
            static_assert(offsetof(FfiCall, argCount) == offsetof(FfiCall, entry) + 4 &&
                          offsetof(FfiCall, abi) == offsetof(FfiCall, entry) + 6 && sizeof(FfiCall) == offsetof(FfiCall, abi) + 2);
            storeAt(at, 0, headerWord(wire::RecordType::FfiCall, size));
            storeAt(at, offsetof(FfiCall, tsNs), nowNs());
            storeAt(at, offsetof(FfiCall, target), target);
            storeAt(at, offsetof(FfiCall, caller), caller);
            storeAt(at, offsetof(FfiCall, entry), std::uint64_t{entryHookId} | std::uint64_t{argCount} << 32 | std::uint64_t{abi} << 48);
            decode(cif, avalue, reinterpret_cast<wire::FfiValue*>(at + sizeof(FfiCall)), argCount);
            slot->ring.commit(size);
            wakeSenderIfRingHalfFull(slot);
            return;
        }
    }
    if (droppedEarly(slot, size)) {
        return;
    }
    const std::uint64_t tsNs = nowNs();
    wire::FfiValue args[wire::kMaxFfiArgs];
    decode(cif, avalue, args, argCount);
    alignas(8) std::byte buf[kMaxEventBytes];
    wire::RecordWriter w(buf, sizeof buf);
    wire::appendFfiCall(w, wire::FfiCall{{}, tsNs, target, caller, entryHookId, 0, abi}, {args, argCount});
    appendStackIfWanted(w);
    pushRecords(slot, w);
}

void emitFfiReturn(std::uint64_t target, wire::FfiType type, std::uint32_t size, std::uint64_t bits) {
    ReentrancyGuard guard;
    if (!guard.entered()) {
        return;
    }
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return;
    }
    using wire::FfiReturn;
    using wire::FfiValue;
    std::byte* at = slot->pendingDropped == 0 ? slot->ring.reserve(sizeof(FfiReturn)) : nullptr;
    if (at == nullptr) {
        if (!droppedEarly(slot, sizeof(FfiReturn))) {
            pushFixedRecord(slot, FfiReturn{{wire::RecordType::FfiReturn, sizeof(FfiReturn), 0}, nowNs(), target,
                                            {type, {}, size, bits}});
        }
        return;
    }
    // In place, one store per word, as FfiCall's.
    static_assert(offsetof(FfiValue, size) == 4 && offsetof(FfiValue, bits) == 8);
    storeAt(at, 0, headerWord(wire::RecordType::FfiReturn, sizeof(FfiReturn)));
    storeAt(at, offsetof(FfiReturn, tsNs), nowNs());
    storeAt(at, offsetof(FfiReturn, target), target);
    storeAt(at, offsetof(FfiReturn, value) + offsetof(FfiValue, type),
            std::uint64_t{static_cast<std::uint8_t>(type)} | std::uint64_t{size} << 32);
    storeAt(at, offsetof(FfiReturn, value) + offsetof(FfiValue, bits), bits);
    slot->ring.commit(sizeof(FfiReturn));
    wakeSenderIfRingHalfFull(slot);
}

void emitClosureEnter(std::uint64_t closure, std::uint64_t userFunc, std::uint64_t caller) {
    emitEvent(wire::RecordType::ClosureEnter, wire::ClosureEnter{{}, nowNs(), closure, userFunc, caller}, true);
}

void emitClosureExit(std::uint64_t closure) {
    emitEvent(wire::RecordType::ClosureExit, wire::ClosureExit{{}, nowNs(), closure}, false);
}

void emitInitEnter(std::uint64_t function, std::string_view moduleName, std::string_view path) {
    if (!tracingEnabled() || insideProbe()) {
        return;
    }
    const std::uint32_t nameId = internString(moduleName);
    const std::uint32_t pathId = internString(path);
    emitEvent(wire::RecordType::InitEnter, wire::InitEnter{{}, nowNs(), function, nameId, pathId}, true);
}

void emitInitExit(std::uint64_t function, bool raised, std::uint64_t result) {
    if (!raised) {
        cthunks::noteModuleInitialized(result); // its C functions, before the program calls them
    }
    emitEvent(wire::RecordType::InitExit, wire::InitExit{{}, nowNs(), function, raised ? 1u : 0u, 0}, false);
}

std::uint32_t registerHook(wire::HookKind kind, std::uint64_t address, std::string_view symbol,
                           std::string_view definingObjectPath) {
    const std::uint32_t id = g_nextHookId.fetch_add(1);
    if (phase() != Phase::Tracing) {
        return id;
    }
    ReentrancyGuard guard;
    std::uint32_t moduleId = 0;
    {
        std::lock_guard lock(registry().mutex);
        for (const auto& m : registry().modules) {
            if (m.path == definingObjectPath) {
                moduleId = m.id;
            }
        }
    }
    wire::HookInfo rec{};
    rec.hookId = id;
    rec.symbolId = internString(symbol);
    rec.moduleId = moduleId;
    rec.kind = kind;
    rec.address = address;
    alignas(8) std::byte buf[sizeof rec];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(wire::RecordType::HookInfo, rec);
    appendMetadata(w);
    return id;
}

void noteModuleLoaded(std::string_view path, std::uint64_t base) {
    if (phase() != Phase::Tracing) {
        return;
    }
    ReentrancyGuard guard;
    std::uint32_t id = 0;
    {
        std::lock_guard lock(registry().mutex);
        for (const auto& m : registry().modules) {
            if (m.base == base && m.path == path) {
                return; // already announced
            }
        }
        id = registry().nextModuleId++;
        registry().modules.push_back({id, base, std::string(path)});
    }
    std::vector<std::byte> buf(wire::kMaxRecordSize); // not on the hot path; keep stacks small
    wire::RecordWriter w(buf.data(), buf.size());
    if (wire::appendModuleMap(w, id, base, nowNs(), path)) {
        appendMetadata(w);
    }
}

void noteModuleUnloaded(std::uint64_t base) {
    if (phase() != Phase::Tracing) {
        return;
    }
    ReentrancyGuard guard;
    std::uint32_t id = 0;
    {
        std::lock_guard lock(registry().mutex);
        for (auto it = registry().modules.begin(); it != registry().modules.end(); ++it) {
            if (it->base == base) {
                id = it->id;
                registry().modules.erase(it);
                break;
            }
        }
    }
    if (id == 0) {
        return;
    }
    alignas(8) std::byte buf[sizeof(wire::ModuleUnmap)];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(wire::RecordType::ModuleUnmap, wire::ModuleUnmap{{}, id, 0, nowNs()});
    appendMetadata(w);
}

void reportOnce(wire::ReportLevel level, std::string_view key, std::string_view message) {
    if (phase() != Phase::Tracing) {
        return;
    }
    ReentrancyGuard guard;
    {
        std::lock_guard lock(registry().mutex);
        if (!registry().reported.emplace(key).second) {
            return;
        }
    }
    std::vector<std::byte> buf(wire::kMaxRecordSize); // not on the hot path; keep stacks small
    wire::RecordWriter w(buf.data(), buf.size());
    if (wire::appendReport(w, level, message)) {
        appendMetadata(w);
    }
}

} // namespace layertrace::probe

// ---- exported entry points: exit status capture ----------------------------------------------
// The probe learns the program's exit status by wrapping main (through __libc_start_main, which
// the program's _start calls via its GOT, so a preloaded definition wins) and by interposing
// exit() (CPython's Py_Exit, used for SystemExit, calls it). Both only record the status; the
// Goodbye is sent from the probe's destructor, which runs after every atexit handler.

extern "C" __attribute__((visibility("default"))) int __libc_start_main(
    int (*main)(int, char**, char**), int argc, char** argv, void (*init)(), void (*fini)(), void (*rtldFini)(),
    void* stackEnd) {
    using Real = int (*)(int (*)(int, char**, char**), int, char**, void (*)(), void (*)(), void (*)(), void*);
    static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "__libc_start_main"));
    layertrace::probe::runtime::g_realMain = main;
    return real(layertrace::probe::runtime::wrappedMain, argc, argv, init, fini, rtldFini, stackEnd);
}

// _exit (os._exit): flush the session first (finishBeforeImmediateExit), then the real _exit.
// Interposed only where the probe is preloaded (`layertrace run`); glibc's own exit() reaches
// _exit internally, not through this symbol.
extern "C" __attribute__((visibility("default"), noreturn)) void _exit(int status) {
    layertrace::probe::runtime::finishBeforeImmediateExit(status);
    layertrace::probe::runtime::realUnderscoreExit()(status);
    __builtin_unreachable();
}

extern "C" __attribute__((visibility("default"), noreturn)) void exit(int status) {
    using Real = void (*)(int);
    static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "exit"));
    if (!layertrace::probe::runtime::g_exitStatusKnown.load()) {
        layertrace::probe::runtime::g_exitStatus.store(status);
        layertrace::probe::runtime::g_exitStatusKnown.store(true);
    }
    real(status);
    __builtin_unreachable();
}
