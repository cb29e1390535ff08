// The one line said about a launched process's exec chain and its Python interpreter (exec_chain.h).
#include "exec_chain.h"

#include <utility>

namespace layertrace::tracer {
namespace {

std::string baseName(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

void ExecChain::started(std::uint32_t pid, std::string executable) {
    m_pid = pid;
    m_programs = {std::move(executable)};
    m_currentHasPython = false;
}

void ExecChain::execd(std::string executable) {
    m_programs.push_back(std::move(executable));
    m_currentHasPython = false;
}

std::optional<std::string> ExecChain::connected(bool hasPython, bool attached) {
    m_currentHasPython = hasPython;
    if (!hasPython) {
        return attached ? std::optional<std::string>(noPythonText()) : std::nullopt;
    }
    if (m_programs.size() < 2) {
        return std::nullopt;
    }
    std::string line = chainText() + "; tracing goes on in the Python interpreter " + m_programs.back();
    m_programs.erase(m_programs.begin(), m_programs.end() - 1);
    return line;
}

std::optional<std::string> ExecChain::ended(bool attached) const {
    if (m_currentHasPython || attached || m_programs.empty()) {
        return std::nullopt;
    }
    if (m_programs.size() < 2) {
        return noPythonText();
    }
    return chainText() + "; " + m_programs.back() + " has no Python interpreter: native events only";
}

// "exec: PID 42 exec'd 2 times (bash -> env -> python3.11)": every program traced, in order.
std::string ExecChain::chainText() const {
    const std::size_t execs = m_programs.size() - 1;
    std::string text = "exec: PID " + std::to_string(m_pid) + " exec'd " +
                       (execs == 1 ? std::string("once") : std::to_string(execs) + " times") + " (";
    for (std::size_t i = 0; i < m_programs.size(); ++i) {
        text += (i == 0 ? "" : " -> ") + baseName(m_programs[i]);
    }
    return text + ")";
}

std::string ExecChain::noPythonText() const {
    return "PID " + std::to_string(m_pid) + " (" + (m_programs.empty() ? std::string("?") : m_programs.back()) +
           ") has no Python interpreter: native events only";
}

} // namespace layertrace::tracer
