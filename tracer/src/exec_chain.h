// Private to the session: what the user is told about the programs the launched process exec'd
// through (a pyenv shim is six of them before the interpreter) and whether one has Python. One
// line for the whole chain instead of one per exec and one per program without Python.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace layertrace::tracer {

class ExecChain {
public:
    // The launched (or attached) process `pid`'s first program connected; `executable` is its path.
    void started(std::uint32_t pid, std::string executable);
    // The process exec'd `executable` (its path now), whose probe connected.
    void execd(std::string executable);
    // The current program's Hello: whether it runs a Python interpreter. Returns the line to
    // show when it does and came by exec (the chain followed to it), or when it does not and no
    // later exec can follow (`attached`: an exec ends an attach session).
    std::optional<std::string> connected(bool hasPython, bool attached);
    // The session ended in the current program (it did not exec). Returns the line to show when
    // that program has no Python interpreter; not again for an attached one (said at connect).
    std::optional<std::string> ended(bool attached) const;

private:
    std::string chainText() const;
    std::string noPythonText() const;

    std::uint32_t m_pid = 0;
    // The programs since the last line shown, the current one last: the current one alone when
    // there was no exec since.
    std::vector<std::string> m_programs;
    bool m_currentHasPython = false;
};

} // namespace layertrace::tracer
