// ExecChain: the one line a session says about the programs its process exec'd through, and
// about a program without a Python interpreter (the probe no longer says so itself).
#include "exec_chain.h"

#include <gtest/gtest.h>

using layertrace::tracer::ExecChain;

namespace {

// A pyenv shim: bash scripts exec'ing each other through env before the interpreter.
TEST(ExecChain, ShimChainToPythonIsOneLineAtTheInterpretersConnect) {
    ExecChain chain;
    chain.started(42, "/usr/bin/bash");
    EXPECT_FALSE(chain.connected(false, false));
    for (const char* program : {"/usr/bin/env", "/usr/bin/bash"}) {
        chain.execd(program);
        EXPECT_FALSE(chain.connected(false, false)) << program;
    }
    chain.execd("/root/.pyenv/versions/3.11.7/bin/python3.11");
    EXPECT_EQ(chain.connected(true, false),
              "exec: PID 42 exec'd 3 times (bash -> env -> bash -> python3.11); tracing goes on in the Python "
              "interpreter /root/.pyenv/versions/3.11.7/bin/python3.11");
    EXPECT_FALSE(chain.ended(false)); // it had Python: nothing more to say
}

TEST(ExecChain, PythonWithoutExecSaysNothing) {
    ExecChain chain;
    chain.started(7, "/usr/bin/python3.11");
    EXPECT_FALSE(chain.connected(true, false));
    EXPECT_FALSE(chain.ended(false));
}

TEST(ExecChain, ProgramWithoutPythonIsSaidWhenItEnds) {
    ExecChain chain;
    chain.started(7, "/usr/bin/ls");
    EXPECT_FALSE(chain.connected(false, false)); // it may still exec an interpreter
    EXPECT_EQ(chain.ended(false), "PID 7 (/usr/bin/ls) has no Python interpreter: native events only");
}

TEST(ExecChain, AttachedProgramWithoutPythonIsSaidAtConnectOnly) {
    ExecChain chain;
    chain.started(9, "/usr/bin/sleep");
    EXPECT_EQ(chain.connected(false, true), "PID 9 (/usr/bin/sleep) has no Python interpreter: native events only");
    EXPECT_FALSE(chain.ended(true));
}

TEST(ExecChain, ChainEndingWithoutPythonNamesEveryProgram) {
    ExecChain chain;
    chain.started(5, "/usr/bin/python3.11");
    EXPECT_FALSE(chain.connected(true, false));
    chain.execd("/usr/bin/dash");
    EXPECT_FALSE(chain.connected(false, false));
    EXPECT_EQ(chain.ended(false),
              "exec: PID 5 exec'd once (python3.11 -> dash); /usr/bin/dash has no Python interpreter: native "
              "events only");
}

// A Python program that re-execs Python: each arrival says only the execs since the last line.
TEST(ExecChain, EachArrivalAtPythonSaysTheExecsSinceTheLastLine) {
    ExecChain chain;
    chain.started(3, "/bin/sh");
    EXPECT_FALSE(chain.connected(false, false));
    chain.execd("/usr/bin/python3.11");
    EXPECT_EQ(chain.connected(true, false),
              "exec: PID 3 exec'd once (sh -> python3.11); tracing goes on in the Python interpreter "
              "/usr/bin/python3.11");
    chain.execd("/usr/bin/python3.12");
    EXPECT_EQ(chain.connected(true, false),
              "exec: PID 3 exec'd once (python3.11 -> python3.12); tracing goes on in the Python interpreter "
              "/usr/bin/python3.12");
}

} // namespace
