// Thread-local re-entrancy guard of the probe: a hook or Python callback that fires while the
// same thread is already inside the probe (its own calls into libc, libffi, Python...) must not
// trace itself. Initial-exec TLS: no allocation and no __tls_get_addr call on first use, which
// matters because the first use can happen inside a hooked malloc-adjacent function.
#pragma once

namespace layertrace::probe {

namespace detail {
// constinit: without it every other file reached the variable through a TLS init function called
// via the PLT (C++ must allow for a dynamic initializer in the defining file).
extern constinit thread_local int t_probeDepth __attribute__((tls_model("initial-exec")));
} // namespace detail

// True when this thread is currently inside probe code.
inline bool insideProbe() noexcept { return detail::t_probeDepth != 0; }

// Scoped guard: entered() is false when the thread was already inside the probe, in which case
// the caller must skip its instrumentation and just call through.
class ReentrancyGuard {
public:
    ReentrancyGuard() noexcept : m_entered(detail::t_probeDepth == 0) { ++detail::t_probeDepth; }
    ~ReentrancyGuard() { --detail::t_probeDepth; }
    ReentrancyGuard(const ReentrancyGuard&) = delete;
    ReentrancyGuard& operator=(const ReentrancyGuard&) = delete;
    bool entered() const noexcept { return m_entered; }

private:
    bool m_entered;
};

} // namespace layertrace::probe
