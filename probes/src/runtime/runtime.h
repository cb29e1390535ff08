// Internal interface of the probe runtime shared by its parts (thread buffers and sender in
// runtime.cpp, Python hooks in python_hooks.cpp). Nothing here is visible outside the probe.
#pragma once

#include "emit.h"
#include "event_clock.h"
#include "ring_buffer.h"

#include <layertrace/wire/encoder.h>
#include <layertrace/wire/records.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>

namespace layertrace::probe::runtime {

enum class ThreadSlotState : int { Active = 0, Exited = 1, Free = 2 };

// Owner thread only: the code objects this thread's stacks named lately (python_hooks.cpp), so
// that a deep Python stack is not named by hashing every frame's strings at every event.
struct StackCodeCache {
    struct Entry {
        const void* code = nullptr;
        const void* name = nullptr; // the code object's str objects when it was named: a code
        const void* qualname = nullptr; // object at a reused address must match all of them
        const void* file = nullptr;
        std::uint32_t firstLine = 0;
        std::uint32_t id = 0;
        std::uint32_t session = 0; // valid only in the session that named it (ids are per session)
    };
    static constexpr std::size_t kEntries = 256;
    Entry entries[kEntries] = {};
};

// One traced thread's buffer. Allocated (mmap) on the thread's first event, kept in a global
// lock-free list forever; recycled for a new thread once its previous owner exited and the
// sender drained it.
struct ThreadSlot {
    RecordRing ring;
    std::atomic<int> state{0};
    std::atomic<std::uint32_t> tid{0};
    std::uint64_t pendingDropped = 0;           // owner thread only: not yet reported in a Dropped
    std::atomic<std::uint64_t> droppedTotal{0}; // single writer (owner), read by the sender
    std::uint64_t pythonDepth = 0;              // owner thread only: PyCalls minus PyReturns sent
    // Futex word: 1 while the owner (--lossless, ring full) sleeps until the sender frees space.
    std::atomic<std::uint32_t> spaceWaiter{0};
    std::uint64_t snapshotHead = 0;             // sender only
    int snapshotState = 0;                      // sender only
    ThreadSlot* next = nullptr;                 // immutable once published
    StackCodeCache stackCodes;                  // owner thread only
};

// Largest event + Stack record the runtime ever builds on a producer's stack.
inline constexpr std::size_t kMaxEventBytes =
    sizeof(wire::FfiCall) + wire::kMaxFfiArgs * sizeof(wire::FfiValue) + sizeof(wire::Stack) +
    wire::kMaxStackFrames * (sizeof(std::uint64_t) + sizeof(wire::PyFrameRef));

// The session's phase (runtime.cpp); events flow only while it is kPhaseTracing.
extern std::atomic<int> g_phase;
inline constexpr int kPhaseTracing = 1;
inline bool tracingNow() noexcept { return g_phase.load(std::memory_order_relaxed) == kPhaseTracing; }

// The calling thread's slot once registered (runtime.cpp).
// constinit: reached directly from every file, with no TLS init function call (reentrancy.h).
extern constinit thread_local ThreadSlot* t_slot __attribute__((tls_model("initial-exec")));
// Registers the calling thread (its first event): nullptr when it is exiting or no memory
// could be mapped.
ThreadSlot* registerCurrentThread() noexcept;

// The calling thread's slot, registering it on first use; nullptr when tracing is off, the
// thread is exiting, or no memory could be mapped. Inline: every event starts here.
inline ThreadSlot* currentThread() noexcept {
    if (!tracingNow()) {
        return nullptr;
    }
    if (ThreadSlot* s = t_slot) {
        return s;
    }
    return registerCurrentThread();
}

// The sender sleeps in poll() for at most its 2 ms period with g_senderAsleep raised; a producer
// whose push leaves its ring half full wakes it early. On the hot path that is two loads from
// the ring's own cache lines and, only past half, one load of the flag; the system call (an
// eventfd write) happens once per crossing, by the producer that lowers the flag.
extern std::atomic<bool> g_senderAsleep;
void wakeSleepingSender() noexcept;
inline void wakeSenderIfRingHalfFull(ThreadSlot* slot) noexcept {
    if (slot->ring.producerHalfFull() && g_senderAsleep.load(std::memory_order_relaxed)) {
        wakeSleepingSender();
    }
}

// Counts one event dropped because the thread's ring is full (and wakes the sender if it sleeps:
// its wake-up at half full was missed); a Dropped record reports it ahead of the next event that
// fits.
inline void countDropped(ThreadSlot* slot) noexcept {
    if (g_senderAsleep.load(std::memory_order_relaxed)) { // no locked exchange per drop while it is awake
        wakeSleepingSender();
    }
    ++slot->pendingDropped;
    slot->droppedTotal.store(slot->droppedTotal.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Pushes complete records (one event, possibly followed by its Stack) as one unit; reports a
// pending Dropped first; counts a drop when full (or waits with --lossless).
bool pushRecords(ThreadSlot* slot, const wire::RecordWriter& records) noexcept;

// The same for one fixed-size record whose header is already filled in: the common case (no
// pending Dropped, room in the ring) inline and without a libc call; the rest through pushRecords.
template <class T>
inline bool pushFixedRecord(ThreadSlot* slot, const T& rec) noexcept {
    static_assert(sizeof(T) % wire::kRecordAlign == 0);
    if (slot->pendingDropped == 0 && slot->ring.pushFixed<sizeof(T)>(&rec)) {
        wakeSenderIfRingHalfFull(slot);
        return true;
    }
    alignas(8) std::byte buf[sizeof(T)];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(rec.header.type, rec);
    return pushRecords(slot, w);
}

// One fixed-size record of type `type` without a stack, its fields after the header given as
// `fields`: in the common case (no pending Dropped, room without wrapping) the record is
// constructed in place in the ring (placement new of the aggregate: one store per field). Built
// in memory first and copied, as pushFixedRecord does, GCC wrote it with narrow stores and read it
// straight back with 16-byte loads: a store-forwarding stall per load. The rest through
// pushRecords (drop accounting, --lossless wait).
template <class T, class... Fields>
[[gnu::always_inline]] inline bool emplaceRecord(ThreadSlot* slot, wire::RecordType type, Fields... fields) noexcept {
    static_assert(sizeof(T) % wire::kRecordAlign == 0 && std::is_trivially_copyable_v<T>);
    const wire::RecordHeader header{type, static_cast<std::uint16_t>(sizeof(T)), 0};
    if (slot->pendingDropped == 0) {
        if (std::byte* at = slot->ring.reserve(sizeof(T))) {
            new (at) T{header, fields...};
            slot->ring.commit(sizeof(T));
            wakeSenderIfRingHalfFull(slot);
            return true;
        }
    }
    alignas(8) std::byte buf[sizeof(T)];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(type, T{header, fields...});
    return pushRecords(slot, w);
}

// The Python call and return records, shared by the eval-frame function (frame_hook.cpp) and
// the profile and sys.monitoring callbacks (python_hooks.cpp). Forced inline: with two callers
// GCC's -O2 heuristics outline them, an extra call per Python frame and a record built in memory.
[[gnu::always_inline]] inline void pushPyCall(ThreadSlot* slot, std::uint32_t codeId, std::uint32_t firstLine) noexcept {
    emplaceRecord<wire::PyCall>(slot, wire::RecordType::PyCall, nowNs(), codeId, firstLine);
}
[[gnu::always_inline]] inline void pushPyReturn(ThreadSlot* slot, std::uint32_t codeId, bool raised) noexcept {
    emplaceRecord<wire::PyReturn>(slot, wire::RecordType::PyReturn, nowNs(), codeId, raised ? 1u : 0u);
}

// Appends a Stack record (native IPs from native_stack.cpp, Python frames of this thread) when stacks
// are on. Call right after writing the event into `w`.
void appendStackIfWanted(wire::RecordWriter& w) noexcept;


// Metadata (may be called from any thread, lock-free; ids are never 0).
bool appendMetadata(const wire::RecordWriter& records) noexcept;
std::uint32_t internString(std::string_view text) noexcept;

// ---- fatal signals (fatal_signals.cpp calls these from its handler) -------------------------

// Async-signal-safe (atomics, getpid, clock_gettime and nanosleep only): asks the sender thread
// to send every ring now and waits for it, never longer than one second (the sender may be stuck
// behind a dead tracer or a lock the crashed thread held). With `endSession` the session ends
// as at exit: the sender drains, sends a Goodbye carrying kGoodbyeFatalSignal and `signal`, and
// closes. Without it (a handler of the program's comes next and may recover) tracing goes on.
// Does nothing on the sender thread itself, outside a session or in a vfork child.
void flushFromSignal(int signal, bool endSession) noexcept;

// ---- Python side (python_hooks.cpp) --------------------------------------------------------

// Resolves the C API of the interpreter running in this process and checks its version.
// Returns the version hex (0 when no Python is present) and leaves Python hooks armed (audit
// hook registered) only if the version is supported; otherwise records why in *why.
std::uint32_t pythonPrepare(std::string* why);
// Full mode: sends PyCode (and its strings) for a code object once and returns its id (0 when
// the table is full), keeping a reference so that its address names it for good. GIL held;
// an exception in flight is kept (frame_hook.cpp and the profile function).
std::uint32_t internCode(struct _object* code, std::uint32_t* firstLine) noexcept;
// Registers the audit hook that installs the profile functions at the first cpython.run_*.
bool pythonArm(std::string* why);
// Detach/stop: profile functions remove themselves at their next call; the audit hook goes inert;
// C function thunks stop reporting, and get their original ml_meth back when `restoreOriginals`.
void pythonDisarm(bool restoreOriginals) noexcept;
// Python frames of the calling thread, innermost first, read from its own frame chain (works
// without the GIL; see the comment in python_hooks.cpp). Returns how many were written.
std::size_t pythonFrames(wire::PyFrameRef* out, std::size_t max) noexcept;
// Attach: takes the GIL (from the probe's own attach thread), installs the profile functions
// (3.11) or sys.monitoring callbacks (3.12+) on every existing thread and for threads started
// later, and releases the GIL. Usable again after a detach (a fresh code table each session).
bool pythonAttach(std::string* why);

// ---- exec of the launched process (exec_follow.cpp; the handoff in runtime.cpp) --------------

// Removes the probe's variables (LAYERTRACE_SOCKET, LAYERTRACE_BUFFER_SIZE, the probe's entry of
// LD_PRELOAD) from the environment, so that the program's children do not load the probe and
// connect (one session per process). Python copies environ into os.environ at its start, after
// the constructor called this.
void scrubProbeEnvironment();
// Saves what a program the launched process execs needs to be traced (the probe's path, the
// socket, the ring size) and looks up libc's exec functions. The constructor calls it before it
// scrubs the environment.
void rememberForExec(const std::string& probePath, const std::string& socketPath, const std::string& bufferSize);
// The calling thread is about to exec `path`. When this is the launched process and its session
// is running, the sender sends everything recorded so far and then an Exec record, and waits:
// true, the new program is to be traced (the exec must follow). Otherwise false.
bool beginExecHandoff(const char* path) noexcept;
// The exec after a successful beginExecHandoff failed with `err`: the sender goes on, and a
// report says so (the tracer takes the records after Exec as the exec having failed).
void execFailed(const char* path, int err) noexcept;

// ---- attach (attach_entry.cpp; the injector reads these codes from the entry's return) -------

inline constexpr int kAttachStarted = 0;       // the attach thread is connecting
inline constexpr int kAttachAlreadyActive = 1; // a session (another tracer's) is running
inline constexpr int kAttachBadArgument = 2;   // no or too long socket path
inline constexpr int kAttachNoThread = 3;      // pthread_create failed

// Claims the probe for a new attached session (from no session, or after a previous one ended):
// kAttachStarted, or kAttachAlreadyActive. Async-context safe: one compare-and-swap.
int claimAttach() noexcept;
// Gives a claim back when the attach thread could not be started.
void abandonAttach() noexcept;
// The attach thread's work: re-arms the runtime for a new session, connects (Hello with
// kHelloAttached), then installs the Python and native hooks. On failure the probe stays inert
// and can be attached again.
void startAttached(const char* socketPath); // not noexcept: see runtime.cpp

} // namespace layertrace::probe::runtime
