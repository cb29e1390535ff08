// Inline patching: near code allocation, Capstone-based prologue relocation and the live
// patching protocol (int3, core serialization, thread sweep, tail, head) used while the host's
// other threads keep running.
#include "hook_engine.h"
#include "hook_internal.h"

#include <capstone/capstone.h>
#include <dirent.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <vector>

namespace layertrace::probe::hook::detail {
namespace {

constexpr std::uintptr_t kPage = 4096;

// ---- executable memory near targets -------------------------------------------------------

struct CodeChunk {
    std::uint8_t* base;
    std::size_t size;
    std::size_t used;
};
constexpr std::size_t kChunkSize = 64 * 1024;
constexpr std::size_t kMaxChunks = 1024;
constinit CodeChunk g_chunks[kMaxChunks];
constinit std::size_t g_chunkCount = 0;
constinit std::mutex g_codeMutex;

bool nearEnough(std::uintptr_t a, std::uintptr_t b) {
    const std::int64_t d = static_cast<std::int64_t>(a - b);
    return d > INT32_MIN + static_cast<std::int64_t>(kChunkSize) && d < INT32_MAX - static_cast<std::int64_t>(kChunkSize);
}

std::uint8_t* mapChunk(std::uintptr_t hint) {
    void* p = mmap(reinterpret_cast<void*>(hint), kChunkSize, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | (hint != 0 ? MAP_FIXED_NOREPLACE : 0), -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (hint != 0 && reinterpret_cast<std::uintptr_t>(p) != hint) { // kernels before 4.17 ignore the flag
        munmap(p, kChunkSize);
        return nullptr;
    }
    return static_cast<std::uint8_t*>(p);
}

// ---- the thread sweep: every other thread runs a handler that moves it out of a range ----------

// A function, not a global: SIGRTMIN is a libc call, and a dynamically initialized constant
// would still be 0 when the probe's constructor patches code before this file's initializers
// ran (a program linked with libffi is patched from that constructor). glibc reserves the first
// two real-time signals itself.
int sweepSignal() { return SIGRTMIN + 6; }

struct SweepRequest {
    std::atomic<std::uintptr_t> lo{0}, hi{0}; // move threads whose pc is in (lo, hi)
    std::uintptr_t from[InlinePatch::kMaxInstructions] {};
    std::uintptr_t to[InlinePatch::kMaxInstructions] {};
    std::atomic<std::size_t> count{0};
    std::atomic<int> acks{0};
    std::atomic<int> moved{0};
};
constinit SweepRequest g_sweep;

void sweepHandler(int, siginfo_t*, void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
    const auto pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
    const std::uintptr_t lo = g_sweep.lo.load(std::memory_order_acquire);
    const std::uintptr_t hi = g_sweep.hi.load(std::memory_order_acquire);
    if (pc > lo && pc < hi) {
        const std::size_t n = g_sweep.count.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < n; ++i) {
            if (g_sweep.from[i] == pc) {
                uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(g_sweep.to[i]);
                g_sweep.moved.fetch_add(1, std::memory_order_relaxed);
                break;
            }
        }
    }
    g_sweep.acks.fetch_add(1, std::memory_order_release);
}

constinit std::once_flag g_sweepOnce;
constinit bool g_sweepReady = false;

void installSweepHandler() {
    std::call_once(g_sweepOnce, [] {
        struct sigaction sa {};
        sa.sa_sigaction = sweepHandler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        g_sweepReady = sigaction(sweepSignal(), &sa, nullptr) == 0;
    });
}

// True when thread `tid` blocks `signo` (SigBlk in /proc/self/task/TID/status).
bool threadBlocks(int tid, int signo) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    FILE* f = std::fopen(path, "re");
    if (f == nullptr) return false;
    char line[256];
    unsigned long long mask = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "SigBlk: %llx", &mask) == 1) break;
    std::fclose(f);
    return (mask >> (signo - 1)) & 1u;
}

// For a thread that cannot run our handler: its user pc from /proc/self/task/TID/syscall, which
// the kernel fills while the thread is blocked (in a system call or otherwise stopped).
// Returns false while the thread is running (the pc is not known then).
bool blockedThreadPc(int tid, std::uintptr_t* pc, bool* gone) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    FILE* f = std::fopen(path, "re");
    if (f == nullptr) {
        *gone = true;
        return false;
    }
    char line[512] = {};
    const bool read = std::fgets(line, sizeof line, f) != nullptr;
    std::fclose(f);
    if (!read || std::strncmp(line, "running", 7) == 0) return false;
    const char* last = std::strrchr(line, ' ');
    if (last == nullptr) return false;
    *pc = std::strtoull(last + 1, nullptr, 16);
    return true;
}

// How long the patcher waits for signalled threads to answer. A runnable thread answers as soon
// as the scheduler gives it a slice, which on a loaded machine takes well over a second (1.1 s
// was measured with 20 runnable threads on 2 cores): refusing the hook then would make hooking
// fail for no reason. Only a thread that cannot run at all (stopped under a debugger) reaches it.
constexpr long kSweepAnswerTimeoutMs = 10000;
// How long a thread that blocks the sweep signal may keep running before its position counts as
// unknown: such a thread is normally asleep in the kernel, and one that computes with every signal
// blocked makes the hook fail (it may be inside the patched range at any moment).
constexpr long kBlockedThreadTimeoutMs = 500;

// Signals every other thread and waits until each has run the handler (which is also a
// serializing kernel exit on its core). A thread that blocks the signal (helper threads often
// block everything) is not signalled: its pc is read from /proc while it is blocked in the
// kernel instead. Returns false when some thread's pc could not be established in time.
bool sweepThreads(std::string* error) {
    installSweepHandler();
    if (!g_sweepReady) {
        if (error) *error = "cannot install the thread-sweep signal handler";
        return false;
    }
    const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
    const pid_t pid = getpid();
    DIR* dir = opendir("/proc/self/task");
    if (dir == nullptr) {
        if (error) *error = "cannot list /proc/self/task";
        return false;
    }
    g_sweep.acks.store(0, std::memory_order_release);
    int sent = 0;
    std::vector<int> blocking;
    while (dirent* entry = readdir(dir)) {
        const int tid = std::atoi(entry->d_name);
        if (tid <= 0 || tid == self) continue;
        if (threadBlocks(tid, sweepSignal())) blocking.push_back(tid);
        else if (syscall(SYS_tgkill, pid, tid, sweepSignal()) == 0) ++sent;
    }
    closedir(dir);
    const std::uintptr_t lo = g_sweep.lo.load(std::memory_order_acquire);
    const std::uintptr_t hi = g_sweep.hi.load(std::memory_order_acquire);
    timespec start {};
    clock_gettime(CLOCK_MONOTONIC, &start);
    auto elapsedMs = [&] {
        timespec now {};
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    };
    for (int tid : blocking) {
        for (;;) {
            // A thread being created runs with every signal blocked for a moment: once it
            // unblocks ours, it is swept like the others.
            if (!threadBlocks(tid, sweepSignal())) {
                if (syscall(SYS_tgkill, pid, tid, sweepSignal()) == 0) ++sent;
                break;
            }
            std::uintptr_t pc = 0;
            bool gone = false;
            if (blockedThreadPc(tid, &pc, &gone)) {
                if (pc > lo && pc < hi) {
                    if (error) *error = "thread " + std::to_string(tid) + " blocks signals and is stopped inside the patched range";
                    return false;
                }
                break;
            }
            if (gone) break;
            if (elapsedMs() > kBlockedThreadTimeoutMs) {
                if (error)
                    *error = "thread " + std::to_string(tid) + " blocks signal " + std::to_string(sweepSignal()) +
                             " and kept running for " + std::to_string(kBlockedThreadTimeoutMs) +
                             " ms: its position is unknown";
                return false;
            }
            sched_yield();
        }
    }
    while (g_sweep.acks.load(std::memory_order_acquire) < sent) {
        if (elapsedMs() > kSweepAnswerTimeoutMs) {
            if (error)
                *error = "a thread did not answer the patch sweep signal (" + std::to_string(sweepSignal()) +
                         ") within " + std::to_string(kSweepAnswerTimeoutMs) + " ms (is it stopped?)";
            return false;
        }
        sched_yield();
    }
    return true;
}

// ---- core serialization ---------------------------------------------------------------------

constinit int g_membarrier = -1; // 1: PRIVATE_EXPEDITED_SYNC_CORE registered, 0: unavailable
constinit std::once_flag g_membarrierOnce;

void initMembarrier() {
    std::call_once(g_membarrierOnce, [] {
        const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        g_membarrier = 0;
        if (supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0 &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0)
            g_membarrier = 1;
    });
}

// ---- int3 trap sites --------------------------------------------------------------------------

// Every site ever patched, with where a thread that traps on its int3 resumes. Append-only and
// lock-free for the SIGTRAP handler; a trap can be delivered late, so sites are never removed.
constexpr std::size_t kMaxTrapSites = 32768;
struct TrapSite {
    std::atomic<std::uintptr_t> site;
    std::atomic<std::uintptr_t> resume;
};
constinit TrapSite g_trapSites[kMaxTrapSites];
constinit std::atomic<std::size_t> g_trapSiteCount{0};
constinit struct sigaction g_previousTrap {};
constinit std::once_flag g_trapOnce;
constinit bool g_trapReady = false;

void trapHandler(int signo, siginfo_t* info, void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
    const auto pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]); // after the int3
    const std::size_t n = g_trapSiteCount.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
        if (g_trapSites[i].site.load(std::memory_order_relaxed) == pc - 1) {
            uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(g_trapSites[i].resume.load(std::memory_order_acquire));
            return;
        }
    }
    // Not ours: behave as if we were not here.
    if ((g_previousTrap.sa_flags & SA_SIGINFO) != 0 && g_previousTrap.sa_sigaction != nullptr) {
        g_previousTrap.sa_sigaction(signo, info, context);
    } else if (g_previousTrap.sa_handler != SIG_IGN && g_previousTrap.sa_handler != SIG_DFL) {
        g_previousTrap.sa_handler(signo);
    } else if (g_previousTrap.sa_handler == SIG_DFL) {
        signal(SIGTRAP, SIG_DFL);
        raise(SIGTRAP);
    }
}

bool installTrapHandler() {
    std::call_once(g_trapOnce, [] {
        struct sigaction sa {};
        sa.sa_sigaction = trapHandler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        g_trapReady = sigaction(SIGTRAP, &sa, &g_previousTrap) == 0;
    });
    return g_trapReady;
}

bool registerTrapSite(std::uintptr_t site, std::uintptr_t resume) {
    const std::size_t n = g_trapSiteCount.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
        if (g_trapSites[i].site.load(std::memory_order_relaxed) == site) {
            g_trapSites[i].resume.store(resume, std::memory_order_release);
            return true;
        }
    }
    if (n == kMaxTrapSites) return false;
    g_trapSites[n].resume.store(resume, std::memory_order_relaxed);
    g_trapSites[n].site.store(site, std::memory_order_relaxed);
    g_trapSiteCount.store(n + 1, std::memory_order_release);
    return true;
}

// ---- instruction encoding helpers -----------------------------------------------------------

std::size_t emitJmpRel32(std::uint8_t* at, std::uintptr_t target) {
    const auto rel = static_cast<std::int64_t>(target - (reinterpret_cast<std::uintptr_t>(at) + 5));
    at[0] = 0xE9;
    const auto rel32 = static_cast<std::int32_t>(rel);
    std::memcpy(at + 1, &rel32, 4);
    return 5;
}

// jmp [rip+0]; .quad target -- 14 bytes, reaches anywhere, clobbers nothing.
std::size_t emitJmpAbs(std::uint8_t* at, std::uintptr_t target) {
    const std::uint8_t code[6] = {0xFF, 0x25, 0, 0, 0, 0};
    std::memcpy(at, code, 6);
    std::memcpy(at + 6, &target, 8);
    return 14;
}

std::size_t emitJmp(std::uint8_t* at, std::uintptr_t target) {
    if (fitsRel32(static_cast<std::int64_t>(target - (reinterpret_cast<std::uintptr_t>(at) + 5))))
        return emitJmpRel32(at, target);
    return emitJmpAbs(at, target);
}

std::size_t prefixLength(const std::uint8_t* b, std::size_t size) {
    std::size_t i = 0;
    while (i < size) {
        const std::uint8_t c = b[i];
        if (c == 0x66 || c == 0x67 || c == 0xF2 || c == 0xF3 || c == 0x2E || c == 0x3E || c == 0x26 ||
            c == 0x36 || c == 0x64 || c == 0x65 || c == 0xF0 || (c >= 0x40 && c <= 0x4F))
            ++i;
        else
            break;
    }
    return i;
}

enum class Flow { Plain, Jmp, Jcc, Call, Ret, IndirectJmp, Loop, Stop };

Flow classify(const std::uint8_t* b, std::size_t size, std::uint8_t* condition) {
    const std::size_t p = prefixLength(b, size);
    if (p >= size) return Flow::Stop;
    const std::uint8_t op = b[p];
    if (op == 0xEB || op == 0xE9) return Flow::Jmp;
    if (op >= 0x70 && op <= 0x7F) {
        *condition = op & 0x0F;
        return Flow::Jcc;
    }
    if (op == 0x0F && p + 1 < size && b[p + 1] >= 0x80 && b[p + 1] <= 0x8F) {
        *condition = b[p + 1] & 0x0F;
        return Flow::Jcc;
    }
    if (op == 0xE8) return Flow::Call;
    if (op >= 0xE0 && op <= 0xE3) return Flow::Loop;
    if (op == 0xC3 || op == 0xC2 || op == 0xCB || op == 0xCA) return Flow::Ret;
    if (op == 0xCC || op == 0xF4 || (op == 0x0F && p + 1 < size && b[p + 1] == 0x0B)) return Flow::Stop;
    if (op == 0xFF && p + 1 < size) {
        const unsigned reg = (b[p + 1] >> 3) & 7;
        if (reg == 2 || reg == 3) return Flow::Call;
        if (reg == 4 || reg == 5) return Flow::IndirectJmp;
    }
    return Flow::Plain;
}

bool isRipRelative(const cs_insn& insn) {
    const cs_x86& x = insn.detail->x86;
    for (unsigned i = 0; i < x.op_count; ++i)
        if (x.operands[i].type == X86_OP_MEM && x.operands[i].mem.base == X86_REG_RIP) return true;
    return false;
}

// Offset of the disp32 of a RIP-relative instruction. Capstone 4's encoding info misses it for
// some SSE/AVX forms, so fall back to the position that holds the displacement value right
// before an immediate of 0, 1, 2 or 4 bytes.
int ripDisplacementOffset(const cs_insn& insn, const std::uint8_t* bytes) {
    const cs_x86& x = insn.detail->x86;
    if (x.encoding.disp_offset != 0 && x.encoding.disp_size == 4) return x.encoding.disp_offset;
    for (int imm : {0, 1, 2, 4}) {
        const int at = static_cast<int>(insn.size) - 4 - imm;
        if (at < 1) continue;
        std::int32_t value = 0;
        std::memcpy(&value, bytes + at, 4);
        if (value == static_cast<std::int32_t>(x.disp)) return at;
    }
    return -1;
}

struct Capstone {
    csh handle = 0;
    cs_insn* insn = nullptr;
    bool ok = false;
    Capstone() {
        ok = cs_open(CS_ARCH_X86, CS_MODE_64, &handle) == CS_ERR_OK;
        if (ok) {
            cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
            insn = cs_malloc(handle);
        }
    }
    ~Capstone() {
        if (insn) cs_free(insn, 1);
        if (ok) cs_close(&handle);
    }
    Capstone(const Capstone&) = delete;
    Capstone& operator=(const Capstone&) = delete;
};

// End of the readable mapping that holds `address` (from /proc/self/maps), 0 if unknown.
std::uintptr_t readableEnd(std::uintptr_t address) {
    FILE* f = std::fopen("/proc/self/maps", "re");
    if (f == nullptr) return 0;
    char line[512];
    std::uintptr_t end = 0;
    while (std::fgets(line, sizeof line, f)) {
        unsigned long lo = 0, hi = 0;
        char perms[5] = {};
        if (std::sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
        if (address >= lo && address < hi) {
            end = perms[0] == 'r' ? hi : 0;
            break;
        }
    }
    std::fclose(f);
    return end;
}

std::string hexAddress(std::uintptr_t a) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(a));
    return buf;
}

} // namespace

std::uint8_t* allocateCode(std::uintptr_t near, std::size_t size, bool* isNear) {
    std::lock_guard lock(g_codeMutex);
    size = (size + 15) & ~std::size_t{15};
    auto take = [&](CodeChunk& c) {
        std::uint8_t* p = c.base + c.used;
        c.used += size;
        return p;
    };
    if (near != 0) {
        for (std::size_t i = 0; i < g_chunkCount; ++i)
            if (g_chunks[i].used + size <= g_chunks[i].size && nearEnough(reinterpret_cast<std::uintptr_t>(g_chunks[i].base), near)) {
                *isNear = true;
                return take(g_chunks[i]);
            }
        if (g_chunkCount < kMaxChunks) {
            // Probe free address space in 16 MB steps below, then above, the target (+-1.9 GB).
            const std::uintptr_t aligned = near & ~(kChunkSize - 1);
            for (std::uintptr_t step = 16u << 20; step < (1900ull << 20); step += 16u << 20) {
                for (int dir = 0; dir < 2; ++dir) {
                    const std::uintptr_t hint = dir == 0 ? aligned - step : aligned + step;
                    if (dir == 0 && aligned < step + (1u << 20)) continue;
                    if (std::uint8_t* p = mapChunk(hint)) {
                        g_chunks[g_chunkCount] = {p, kChunkSize, 0};
                        *isNear = true;
                        return take(g_chunks[g_chunkCount++]);
                    }
                }
            }
        }
    }
    *isNear = false;
    for (std::size_t i = 0; i < g_chunkCount; ++i)
        if (g_chunks[i].used + size <= g_chunks[i].size) return take(g_chunks[i]);
    if (g_chunkCount == kMaxChunks) return nullptr;
    std::uint8_t* p = mapChunk(0);
    if (p == nullptr) return nullptr;
    g_chunks[g_chunkCount] = {p, kChunkSize, 0};
    return take(g_chunks[g_chunkCount++]);
}

bool preparePatch(std::uintptr_t function, std::size_t functionSize, std::uint8_t* slot, bool slotIsNear,
                  bool allowTrap, InlinePatch& patch, std::string* error) {
    auto fail = [&](const std::string& why) {
        if (error) *error = "cannot hook " + hexAddress(function) + ": " + why;
        return false;
    };
    static std::mutex capstoneMutex; // Capstone handles are not shared between threads
    std::lock_guard lock(capstoneMutex);
    static Capstone cs;
    if (!cs.ok || cs.insn == nullptr) return fail("Capstone could not be initialised");

    const std::uintptr_t mappedEnd = readableEnd(function);
    if (mappedEnd == 0) return fail("address is not mapped readable");

    patch = InlinePatch{};
    patch.function = function;
    patch.site = function;
    const auto* code = reinterpret_cast<const std::uint8_t*>(function);
    static const std::uint8_t kEndbr64[4] = {0xF3, 0x0F, 0x1E, 0xFA};
    if (mappedEnd - function >= 4 && std::memcmp(code, kEndbr64, 4) == 0) patch.site = function + 4; // indirect branches land on it: keep it

    const std::uintptr_t thunk = reinterpret_cast<std::uintptr_t>(slot);
    const bool headNear = slotIsNear && fitsRel32(static_cast<std::int64_t>(thunk - (patch.site + 5)));
    const std::size_t needed = headNear ? 5 : 14;

    std::uint8_t* out = slot + kThunkSize;
    std::uint8_t* const outEnd = slot + kSlotSize - 14; // keep room for the jump back
    const std::uint8_t* p = reinterpret_cast<const std::uint8_t*>(patch.site);
    std::size_t avail = mappedEnd - patch.site;
    std::uint64_t address = patch.site;
    std::size_t covered = 0;
    bool terminal = false;
    while (covered < needed) {
        if (terminal) {
            // A tiny function (e.g. `lea eax,[rdi+rsi]; ret`) may still be patched when its known
            // end is followed by alignment padding (nops/int3) up to the next 16-byte boundary:
            // nothing executes or jumps into padding, so the jump may spill over it.
            const std::uintptr_t end = function + functionSize;
            const std::uintptr_t paddingEnd = (end + 15) & ~std::uintptr_t{15};
            bool padded = functionSize != 0 && patch.site + covered == end && patch.site + needed <= paddingEnd;
            const std::uint8_t* pad = reinterpret_cast<const std::uint8_t*>(end);
            std::size_t padAvail = paddingEnd - end;
            std::uint64_t padAt = end;
            std::size_t padCovered = covered;
            while (padded && padCovered < needed) {
                if (!cs_disasm_iter(cs.handle, &pad, &padAvail, &padAt, cs.insn) ||
                    (cs.insn->id != X86_INS_NOP && cs.insn->id != X86_INS_INT3))
                    padded = false;
                else
                    padCovered += cs.insn->size;
            }
            if (!padded) {
                if (!allowTrap)
                    return fail(std::string(kTooShortForJump) + ": it ends (ret/jmp) within the first " +
                                std::to_string(needed) + " bytes");
                // Too short for any jump: the whole function is now relocated in the trampoline;
                // its first byte becomes a permanent int3 whose SIGTRAP handler sends the thread
                // to the hook's thunk (slow, about a signal per call, but correct).
                patch.trap = true;
                patch.length = 1;
                patch.trampoline = reinterpret_cast<std::uintptr_t>(slot + kThunkSize);
                patch.trapResume = thunk;
                patch.original[0] = code[patch.site - function];
                patch.patched[0] = 0xCC;
                return true;
            }
            covered = padCovered;
            break;
        }
        const std::uint8_t* before = p;
        if (!cs_disasm_iter(cs.handle, &p, &avail, &address, cs.insn)) return fail("undecodable instruction in prologue");
        const cs_insn& insn = *cs.insn;
        if (patch.instructionCount == InlinePatch::kMaxInstructions) return fail("too many instructions");
        patch.originalOffset[patch.instructionCount] = static_cast<std::uint8_t>(covered);
        patch.relocatedOffset[patch.instructionCount] = static_cast<std::uint16_t>(out - (slot + kThunkSize));
        ++patch.instructionCount;
        if (out + 40 > outEnd) return fail("relocated prologue too large");

        std::uint8_t cond = 0;
        const Flow flow = classify(before, insn.size, &cond);
        const auto target = insn.detail->x86.op_count > 0 && insn.detail->x86.operands[0].type == X86_OP_IMM
                                ? static_cast<std::uintptr_t>(insn.detail->x86.operands[0].imm)
                                : 0;
        switch (flow) {
        case Flow::Call: {
            // Only as the last displaced instruction: a thread inside the callee returns to the
            // byte after it, which must stay original code. Relocated as "push the ORIGINAL
            // return address; jmp callee", so the callee returns straight into the function and
            // unwinders never see the trampoline.
            if (covered + insn.size < needed) return fail("call in the patched range (a thread may return into it)");
            const std::uintptr_t returnAddress = patch.site + covered + insn.size;
            const std::size_t pfx = prefixLength(before, insn.size);
            // lea rsp, [rsp-8]; mov dword [rsp], lo; mov dword [rsp+4], hi  (flags untouched)
            const std::uint8_t lea[5] = {0x48, 0x8D, 0x64, 0x24, 0xF8};
            std::memcpy(out, lea, 5);
            out += 5;
            const auto lo = static_cast<std::uint32_t>(returnAddress);
            const auto hi = static_cast<std::uint32_t>(returnAddress >> 32);
            out[0] = 0xC7; out[1] = 0x04; out[2] = 0x24;
            std::memcpy(out + 3, &lo, 4);
            out += 7;
            out[0] = 0xC7; out[1] = 0x44; out[2] = 0x24; out[3] = 0x04;
            std::memcpy(out + 4, &hi, 4);
            out += 8;
            if (before[pfx] == 0xE8) {
                out += emitJmp(out, target);
            } else if (before[pfx] == 0xFF && ((before[pfx + 1] >> 3) & 7) == 2) {
                // call r/m64 -> jmp r/m64: same operand, ModRM reg field 2 -> 4.
                std::memcpy(out, before, insn.size);
                out[pfx + 1] = static_cast<std::uint8_t>((before[pfx + 1] & 0xC7) | (4 << 3));
                if (isRipRelative(insn)) {
                    const int dispOffset = ripDisplacementOffset(insn, before);
                    if (dispOffset < 0) return fail("unexpected RIP-relative encoding");
                    std::int32_t disp = 0;
                    std::memcpy(&disp, before + dispOffset, 4);
                    const std::int64_t moved = static_cast<std::int64_t>(disp) +
                                               static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(before) -
                                                                         reinterpret_cast<std::uintptr_t>(out));
                    if (!fitsRel32(moved)) return fail("RIP-relative call operand out of reach from the trampoline");
                    const auto newDisp = static_cast<std::int32_t>(moved);
                    std::memcpy(out + dispOffset, &newDisp, 4);
                }
                out += insn.size;
            } else {
                return fail("far call in the prologue");
            }
            terminal = true;
            break;
        }
        case Flow::Loop: return fail("loop/jrcxz in the prologue cannot be relocated");
        case Flow::Stop: return fail("trap or halt instruction in the prologue");
        case Flow::Ret: terminal = true; std::memcpy(out, before, insn.size); out += insn.size; break;
        case Flow::Jmp:
            if (target >= patch.site && target < patch.site + covered + insn.size) return fail("jump into the patched range");
            out += emitJmp(out, target);
            terminal = true;
            break;
        case Flow::Jcc: {
            // Forward targets inside the final range are caught by the whole-function scan below.
            if (target >= patch.site && target < patch.site + covered + insn.size) return fail("branch into the patched range");
            const auto rel = static_cast<std::int64_t>(target - (reinterpret_cast<std::uintptr_t>(out) + 6));
            if (fitsRel32(rel)) {
                out[0] = 0x0F;
                out[1] = static_cast<std::uint8_t>(0x80 | cond);
                const auto rel32 = static_cast<std::int32_t>(rel);
                std::memcpy(out + 2, &rel32, 4);
                out += 6;
            } else { // inverted short jcc over an absolute jump
                out[0] = static_cast<std::uint8_t>(0x70 | (cond ^ 1));
                out[1] = 14;
                out += 2;
                out += emitJmpAbs(out, target);
            }
            break;
        }
        case Flow::IndirectJmp:
            terminal = true;
            [[fallthrough]];
        case Flow::Plain:
            std::memcpy(out, before, insn.size);
            if (isRipRelative(insn)) {
                const int dispOffset = ripDisplacementOffset(insn, before);
                if (dispOffset < 0) return fail("unexpected RIP-relative encoding");
                std::int32_t disp = 0;
                std::memcpy(&disp, before + dispOffset, 4);
                const std::int64_t moved = static_cast<std::int64_t>(disp) +
                                           static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(before) -
                                                                     reinterpret_cast<std::uintptr_t>(out));
                if (!fitsRel32(moved)) return fail("RIP-relative operand out of reach from the trampoline");
                const auto newDisp = static_cast<std::int32_t>(moved);
                std::memcpy(out + dispOffset, &newDisp, 4);
            }
            out += insn.size;
            break;
        }
        covered += insn.size;
    }
    if (covered > InlinePatch::kMaxLength) return fail("prologue instructions too long");
    if (!terminal) out += emitJmp(out, patch.site + covered);
    patch.length = covered;
    patch.trampoline = reinterpret_cast<std::uintptr_t>(slot + kThunkSize);
    std::memcpy(patch.original, reinterpret_cast<const void*>(patch.site), covered);
    // The new head: a jump to the thunk, the rest of the displaced bytes int3 (never executed).
    std::memset(patch.patched, 0xCC, sizeof patch.patched);
    if (headNear) {
        const auto rel32 = static_cast<std::int32_t>(static_cast<std::int64_t>(thunk - (patch.site + 5)));
        patch.patched[0] = 0xE9;
        std::memcpy(patch.patched + 1, &rel32, 4);
    } else {
        emitJmpAbs(patch.patched, thunk);
    }

    // Reject the hook when any branch of the function (as far as we can decode it) lands inside
    // the displaced bytes (other than on their first byte, which stays a valid entry).
    const std::uintptr_t scanEnd = functionSize != 0 ? function + functionSize
                                                     : (function + 4096 < mappedEnd ? function + 4096 : mappedEnd);
    const std::uint8_t* q = code;
    std::size_t left = (scanEnd < mappedEnd ? scanEnd : mappedEnd) - function;
    std::uint64_t at = function;
    while (left > 0 && cs_disasm_iter(cs.handle, &q, &left, &at, cs.insn)) {
        const cs_insn& insn = *cs.insn;
        bool relative = false;
        for (std::uint8_t g = 0; g < insn.detail->groups_count; ++g) {
            const auto group = insn.detail->groups[g];
            if (group == X86_GRP_JUMP || group == X86_GRP_CALL || group == X86_GRP_BRANCH_RELATIVE) relative = true;
        }
        if (relative && insn.detail->x86.op_count > 0 && insn.detail->x86.operands[0].type == X86_OP_IMM) {
            const auto target = static_cast<std::uintptr_t>(insn.detail->x86.operands[0].imm);
            if (target > patch.site && target < patch.site + covered)
                return fail("instruction at " + hexAddress(insn.address) + " branches into the patched range");
        }
        // Unknown size: stop at the first padding after a return (the next function starts).
        if (functionSize == 0 && insn.id == X86_INS_INT3) break;
    }
    return true;
}

void serializeCores() {
    initMembarrier();
    if (g_membarrier == 1 && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0) return;
    std::string ignored;
    g_sweep.lo.store(0, std::memory_order_release);
    g_sweep.hi.store(0, std::memory_order_release);
    sweepThreads(&ignored);
}

int pageProtection(std::uintptr_t address) {
    FILE* f = std::fopen("/proc/self/maps", "re");
    if (f == nullptr) return -1;
    char line[512];
    int prot = -1;
    while (std::fgets(line, sizeof line, f)) {
        unsigned long lo = 0, hi = 0;
        char perms[5] = {};
        if (std::sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
        if (address >= lo && address < hi) {
            prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                   (perms[2] == 'x' ? PROT_EXEC : 0);
            break;
        }
    }
    std::fclose(f);
    return prot;
}

bool writeSlot(std::uintptr_t slot, std::uintptr_t value, std::string* error) {
    if (slot % 8 != 0) {
        if (error) *error = "GOT slot " + hexAddress(slot) + " is not 8-byte aligned";
        return false;
    }
    const int prot = pageProtection(slot);
    if (prot < 0) {
        if (error) *error = "GOT slot " + hexAddress(slot) + " is not mapped";
        return false;
    }
    void* page = reinterpret_cast<void*>(slot & ~(kPage - 1));
    const bool writable = (prot & PROT_WRITE) != 0;
    if (!writable && mprotect(page, kPage, prot | PROT_WRITE) != 0) {
        if (error) *error = "mprotect(RW) of GOT page " + hexAddress(slot) + " failed: " + std::strerror(errno);
        return false;
    }
    __atomic_store_n(reinterpret_cast<std::uintptr_t*>(slot), value, __ATOMIC_RELEASE);
    if (!writable) mprotect(page, kPage, prot); // RELRO again
    return true;
}

bool applyPatch(const InlinePatch& patch, bool install, std::string* error) {
    static std::mutex patchMutex;
    std::lock_guard lock(patchMutex);
    const std::uint8_t* bytes = install ? patch.patched : patch.original;
    const std::uint8_t* expected = install ? patch.original : patch.patched;
    auto* site = reinterpret_cast<std::uint8_t*>(patch.site);
    if (std::memcmp(site, expected, patch.length) != 0) {
        if (error) *error = "code at " + hexAddress(patch.site) + " changed under us (another hooker?)";
        return false;
    }
    if (!installTrapHandler()) {
        if (error) *error = "cannot install the SIGTRAP handler";
        return false;
    }
    // A trap hook's int3 is permanent and leads into the hook; a transient one (while the jump
    // is written) leads to the original instructions.
    if (!registerTrapSite(patch.site, patch.trap ? patch.trapResume : patch.trampoline)) {
        if (error) *error = "too many patch sites";
        return false;
    }
    const int prot = pageProtection(patch.site);
    const std::uintptr_t first = patch.site & ~(kPage - 1);
    const std::uintptr_t last = (patch.site + patch.length - 1) & ~(kPage - 1);
    const std::size_t span = last - first + kPage;
    if (prot < 0 || mprotect(reinterpret_cast<void*>(first), span, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        if (error) *error = "cannot make code at " + hexAddress(patch.site) + " writable: " + std::strerror(errno);
        return false;
    }
    auto restoreProtection = [&] { mprotect(reinterpret_cast<void*>(first), span, prot < 0 ? PROT_READ | PROT_EXEC : prot); };

    if (patch.trap) { // one byte: a single store is the whole protocol
        __atomic_store_n(site, bytes[0], __ATOMIC_SEQ_CST);
        serializeCores();
        restoreProtection();
        return true;
    }
    // 1. int3 on the first byte: from now on nobody starts executing the range from its top.
    __atomic_store_n(site, std::uint8_t{0xCC}, __ATOMIC_SEQ_CST);
    serializeCores();
    // 2. Threads stopped inside the displaced instructions (installing: they are the original
    //    prologue) are moved to the same instruction in the trampoline. Removing a hook needs no
    //    sweep: nobody's pc can be inside our jump instruction.
    if (install && patch.instructionCount > 1) {
        g_sweep.count.store(0, std::memory_order_relaxed);
        for (std::size_t i = 0; i < patch.instructionCount; ++i) {
            g_sweep.from[i] = patch.site + patch.originalOffset[i];
            g_sweep.to[i] = patch.trampoline + patch.relocatedOffset[i];
        }
        g_sweep.count.store(patch.instructionCount, std::memory_order_release);
        g_sweep.lo.store(patch.site, std::memory_order_release);
        g_sweep.hi.store(patch.site + patch.length, std::memory_order_release);
        std::string why;
        const bool swept = sweepThreads(&why);
        g_sweep.lo.store(0, std::memory_order_release);
        g_sweep.hi.store(0, std::memory_order_release);
        if (!swept) {
            __atomic_store_n(site, patch.original[0], __ATOMIC_SEQ_CST);
            serializeCores();
            restoreProtection();
            if (error) *error = "cannot patch " + hexAddress(patch.site) + " safely: " + why;
            return false;
        }
    }
    // 3. The tail, then 4. the head, each followed by serialization.
    std::memcpy(site + 1, bytes + 1, patch.length - 1);
    serializeCores();
    __atomic_store_n(site, bytes[0], __ATOMIC_SEQ_CST);
    serializeCores();
    restoreProtection();
    return true;
}

} // namespace layertrace::probe::hook::detail
