// PyCall/PyReturn on Python 3.11 from a PEP 523 eval-frame function. CPython calls the
// interpreter's eval_frame function for every frame it starts or resumes outside an inlined
// call (_PyEval_EvalFrame: function calls through vectorcall, generator and coroutine
// resumption in gen_send_ex2, module and class bodies), and the specialised instructions that
// would inline a Python-to-Python call (CALL, CALL_PY_EXACT_ARGS, CALL_PY_WITH_DEFAULTS,
// BINARY_SUBSCR_GETITEM) take their generic path while one is set. So every Python frame passes
// through here, and the specialising interpreter stays on (a profile function would switch the
// whole thread to the tracing dispatch). The records are the profile function's: a generator
// resumed is a call, a yield a return, an exception leaving the frame a raised return.
#include "frame_hook.h"

#include "python_api.h"

// _PyInterpreterFrame (its code object) is in the internal 3.11 headers.
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE

#include "reentrancy.h"
#include "runtime.h"

#include <atomic>

namespace layertrace::probe::runtime::frame_hook {
namespace {

using python::api;

// What our function calls through to: the interpreter's eval function when we went in (the
// default one, or another PEP 523 user's). Written with the GIL held, before we are in the chain.
std::atomic<_PyFrameEvalFunction> g_previous{nullptr};
// Our function is the interpreter's eval_frame or somewhere below it; cleared, GIL held, when
// it takes itself out.
std::atomic<bool> g_inChain{false};
// Reporting for the current session; off from stop() (any thread) until the next install.
std::atomic<bool> g_reporting{false};
// Bumped at every install: a frame that began in an earlier session returns unreported.
std::atomic<std::uint32_t> g_generation{0};

PyObject* evalFrame(PyThreadState* ts, _PyInterpreterFrame* frame, int throwflag);

// Detached or the session ended: give the interpreter back its eval function. GIL held. Frames
// already inside evalFrame keep their `previous` and return through it; the probe stays loaded.
// If another PEP 523 user went in on top of us, we cannot come out: we stay as a pass-through.
void takeOut(PyThreadState* ts) noexcept {
    PyInterpreterState* interp = ts->interp;
    if (api._PyInterpreterState_GetEvalFrameFunc(interp) == evalFrame) {
        api._PyInterpreterState_SetEvalFrameFunc(interp, g_previous.load(std::memory_order_relaxed));
        g_inChain.store(false, std::memory_order_relaxed);
    }
}

// A frame's call as reported: its return is sent to the same thread slot with the same code id,
// if the session is still the one that saw the call.
struct ReportedCall {
    ThreadSlot* slot = nullptr; // nullptr: not reported (not tracing, or inside the probe)
    std::uint32_t codeId = 0;
    std::uint32_t generation = 0;
};

// Calling a generator, coroutine or async generator function runs its frame only as far as
// RETURN_GENERATOR, which moves the frame into the new generator object and returns that: not a
// call the program's code sees, and not one a profile function reports (3.11 reports a call at
// the first traceable instruction, after it). The generator's frames, run when it is resumed,
// are owned by it.
bool createsGenerator(const _PyInterpreterFrame* frame) noexcept {
    return (frame->f_code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)) != 0 &&
           frame->owner != FRAME_OWNED_BY_GENERATOR;
}

ReportedCall reportCall(_PyInterpreterFrame* frame) noexcept {
    if (createsGenerator(frame)) {
        return {};
    }
    // Frames the probe itself runs (importing a module while installing) are not the program's.
    ReentrancyGuard guard;
    if (!guard.entered()) {
        return {};
    }
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return {};
    }
    std::uint32_t firstLine = 0;
    // internCode keeps an exception in flight (a generator resumed by throw() has one set).
    const std::uint32_t codeId = internCode(reinterpret_cast<PyObject*>(frame->f_code), &firstLine);
    pushPyCall(slot, codeId, firstLine);
    return {slot, codeId, g_generation.load(std::memory_order_relaxed)};
}

void reportReturn(const ReportedCall& call, bool raised) noexcept {
    if (!tracingNow() || g_generation.load(std::memory_order_relaxed) != call.generation) {
        return;
    }
    ReentrancyGuard guard;
    pushPyReturn(call.slot, call.codeId, raised);
}

// Runs with the GIL held, on the thread whose frame it evaluates. A frame that never came
// through here (one already running at install, or inlined by an interpreter that did so before
// we went in) has no call reported and returns without passing here: its return is left out by
// construction, so every thread's calls nest.
PyObject* evalFrame(PyThreadState* ts, _PyInterpreterFrame* frame, int throwflag) {
    const _PyFrameEvalFunction previous = g_previous.load(std::memory_order_relaxed);
    if (!g_reporting.load(std::memory_order_relaxed)) {
        takeOut(ts);
        return previous(ts, frame, throwflag);
    }
    const ReportedCall call = reportCall(frame);
    // NULL: the frame is left by an exception (it stays set for the caller; we touch no Python
    // state on the way out).
    PyObject* result = previous(ts, frame, throwflag);
    if (call.slot != nullptr) {
        reportReturn(call, result == nullptr);
    }
    return result;
}

} // namespace

bool install(std::string* why) noexcept {
    if (api._PyInterpreterState_GetEvalFrameFunc == nullptr || api._PyInterpreterState_SetEvalFrameFunc == nullptr ||
        api._PyEval_EvalFrameDefault == nullptr) {
        *why = "the Python C API lacks the PEP 523 eval-frame functions";
        return false;
    }
    g_generation.fetch_add(1, std::memory_order_relaxed);
    if (g_inChain.load(std::memory_order_relaxed)) {
        // Still in the chain from an earlier session (no Python frame started since its end, or
        // another eval function went in on top of ours): reporting again is all it takes.
        g_reporting.store(true, std::memory_order_relaxed);
        return true;
    }
    PyInterpreterState* interp = api.PyThreadState_Get()->interp;
    _PyFrameEvalFunction current = api._PyInterpreterState_GetEvalFrameFunc(interp);
    g_previous.store(current != nullptr ? current : api._PyEval_EvalFrameDefault, std::memory_order_relaxed);
    g_reporting.store(true, std::memory_order_relaxed);
    g_inChain.store(true, std::memory_order_relaxed);
    api._PyInterpreterState_SetEvalFrameFunc(interp, evalFrame);
    return true;
}

bool reporting() noexcept {
    return g_reporting.load(std::memory_order_relaxed);
}

void stop() noexcept {
    g_reporting.store(false, std::memory_order_relaxed);
}

} // namespace layertrace::probe::runtime::frame_hook
