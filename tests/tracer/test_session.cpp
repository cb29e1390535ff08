// Session tests: launch, private socket, handshake and exit statuses, against a scripted peer
// that plays the probe's side of the protocol (the real probe is tested by the integration tests).
#include "test_helpers.h"

#include <layertrace/errors.h>
#include <layertrace/session.h>

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

RunOptions peer(const std::string& mode, int calls, int exitCode, const std::string& welcomeOut = {}) {
    RunOptions o;
    o.argv = {SCRIPTED_PEER, mode, FIXTURE_PLAIN, std::to_string(calls), std::to_string(exitCode)};
    if (!welcomeOut.empty()) {
        o.argv.push_back(welcomeOut);
    }
    o.probeLibrary = FIXTURE_PLAIN; // something harmless to preload: the peer itself speaks the protocol
    return o;
}

} // namespace

TEST(Session, StreamsEventsAndPassesTheExitStatusThrough) {
    test::TempTree tmp;
    const std::string welcome = tmp.root() + "/welcome.txt";
    test::CollectingSink sink;
    RunOptions o = peer("calls", 1000, 3, welcome);
    o.mode = TraceMode::Anchored;
    o.lossless = true;
    o.probeSpecs = {"libfoo.so:foo_*", "libbar.so:*"};
    auto session = Session::launch(o, sink);
    EXPECT_GT(session->pid(), 0u);
    const SessionResult r = session->wait();
    EXPECT_TRUE(sink.finished);
    EXPECT_EQ(sink.started, session->pid());
    EXPECT_TRUE(r.connected) << r.streamError;
    EXPECT_TRUE(r.streamError.empty()) << r.streamError;
    EXPECT_EQ(r.exitStatus, 3);
    EXPECT_EQ(r.events, 2000u);
    ASSERT_EQ(sink.events.size(), 2000u);
    int enters = 0;
    for (const auto& e : sink.events) {
        EXPECT_EQ(e.symbol, "plain_add");
        EXPECT_EQ(e.role, Role::Native);
        EXPECT_EQ(e.module, "libfixture_plain.so");
        EXPECT_EQ(e.depth, 0u);
        enters += e.kind == EventKind::NativeEnter;
    }
    EXPECT_EQ(enters, 1000);
    std::ifstream in(welcome);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "mode=0 flags=3 specs=2 libfoo.so:foo_* libbar.so:*");
}

TEST(Session, ProgramThatNeverConnectsStillRuns) {
    test::CollectingSink sink;
    auto session = Session::launch(peer("silent", 0, 9), sink);
    const SessionResult r = session->wait();
    EXPECT_FALSE(r.connected);
    EXPECT_EQ(r.exitStatus, 9);
    EXPECT_TRUE(sink.events.empty());
}

TEST(Session, VersionMismatchIsAHandshakeError) {
    test::CollectingSink sink;
    auto session = Session::launch(peer("badversion", 0, 0), sink);
    const SessionResult r = session->wait();
    EXPECT_FALSE(r.connected);
    EXPECT_TRUE(r.handshakeFailed);
    EXPECT_NE(r.streamError.find("protocol v99"), std::string::npos) << r.streamError;
    EXPECT_EQ(r.exitStatus, 0);
}

TEST(Session, SignalsBecome128PlusN) {
    test::CollectingSink sink;
    RunOptions o;
    o.argv = {"/bin/sh", "-c", "kill -KILL $$"};
    o.probeLibrary = FIXTURE_PLAIN;
    const SessionResult r = Session::launch(o, sink)->wait();
    EXPECT_EQ(r.exitStatus, 128 + 9);
    EXPECT_EQ(r.termSignal, 9);
}

TEST(Session, StopEndsALongRunningProgram) {
    test::CollectingSink sink;
    RunOptions o;
    o.argv = {"/bin/sleep", "600"};
    o.probeLibrary = FIXTURE_PLAIN;
    auto session = Session::launch(o, sink);
    session->stop();
    EXPECT_EQ(session->wait().exitStatus, 128 + 15);
}

TEST(Session, LaunchErrorsAreTyped) {
    test::CollectingSink sink;
    RunOptions o;
    o.argv = {"/nonexistent/program"};
    o.probeLibrary = FIXTURE_PLAIN;
    EXPECT_THROW(Session::launch(o, sink), ProgramNotFoundError);
    o.argv = {"no-such-program-on-path-xyz"};
    EXPECT_THROW(Session::launch(o, sink), ProgramNotFoundError);
    o.argv = {FIXTURE_SOURCE_DIR "/fixture_plain.c"};
    EXPECT_THROW(Session::launch(o, sink), ProgramNotFoundError);
    o.argv = {"/bin/true"};
    o.probeLibrary = "/nonexistent/liblayertrace_probe.so";
    try {
        Session::launch(o, sink);
        FAIL();
    } catch (const ProbeMissingError& e) {
        EXPECT_EQ(e.exitCode(), 4);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/liblayertrace_probe.so"), std::string::npos);
    }
    o.argv.clear();
    EXPECT_THROW(Session::launch(o, sink), UsageError);
}

TEST(Session, ProgramStdoutCanBeSentToStderr) {
    // The trace owns stdout: with the option, what the program prints arrives on stderr.
    test::TempTree tmp;
    const std::string out = tmp.root() + "/out.txt";
    const std::string err = tmp.root() + "/err.txt";
    test::CollectingSink sink;
    RunOptions o;
    o.probeLibrary = FIXTURE_PLAIN;
    o.argv = {"/bin/sh", "-c", "echo printed"};
    o.programStdoutToStderr = true;
    const int saved1 = dup(1), saved2 = dup(2);
    FILE* fo = std::fopen(out.c_str(), "w");
    FILE* fe = std::fopen(err.c_str(), "w");
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    const SessionResult r = Session::launch(o, sink)->wait();
    dup2(saved1, 1);
    dup2(saved2, 2);
    close(saved1);
    close(saved2);
    std::fclose(fo);
    std::fclose(fe);
    EXPECT_EQ(r.exitStatus, 0);
    std::ifstream so(out), se(err);
    std::stringstream a, b;
    a << so.rdbuf();
    b << se.rdbuf();
    EXPECT_EQ(a.str(), "");
    EXPECT_EQ(b.str(), "printed\n");
}

namespace {

// A decoder that cannot keep up at all: its first event blocks until the program has exited or
// `patience` ran out. Counts the rest (a quarter of a million TraceEvents would not fit in a test).
class StuckSink : public EventSink {
public:
    explicit StuckSink(std::chrono::milliseconds patience) : m_patience(patience) {}
    ~StuckSink() override {
        if (m_pidfd >= 0) {
            ::close(m_pidfd);
        }
    }
    void onStarted(std::uint32_t pid) override { m_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
    void onEvent(const TraceEvent& e) override {
        if (events == 0) {
            pollfd p{m_pidfd, POLLIN, 0};
            programExitedWhileStuck = ::poll(&p, 1, static_cast<int>(m_patience.count())) == 1;
        }
        // The peer's calls alternate enter, exit: one out of order would be a reordered chunk.
        inOrder = inOrder && e.kind == (events % 2 == 0 ? EventKind::NativeEnter : EventKind::NativeExit);
        ++events;
    }
    void onReport(const ProbeReport& r) override { reports += r.message + "\n"; }

    std::uint64_t events = 0;
    bool inOrder = true;
    bool programExitedWhileStuck = false;
    std::string reports;

private:
    std::chrono::milliseconds m_patience;
    int m_pidfd = -1;
};

constexpr int kBurstCalls = 250'000; // about 20 MB of stream: more than the pool and the socket hold

} // namespace

TEST(Session, ASpoolDrainsTheProgramWhileTheDecoderIsStuck) {
    // The program sends its whole burst and exits while the decoder has not finished one event:
    // the reader kept reading, into the spool; then every event is decoded, in order.
    StuckSink sink(std::chrono::seconds(60));
    RunOptions o = peer("calls", kBurstCalls, 3);
    o.lossless = true;
    auto session = Session::launch(o, sink);
    const SessionResult r = session->wait();
    EXPECT_TRUE(sink.programExitedWhileStuck);
    EXPECT_TRUE(r.streamError.empty()) << r.streamError;
    EXPECT_EQ(r.exitStatus, 3);
    EXPECT_EQ(sink.events, 2u * kBurstCalls);
    EXPECT_TRUE(sink.inOrder);
    EXPECT_GT(session->spoolStats().spooledBytes, 0u);
    EXPECT_LE(session->spoolStats().peakBytes, session->spoolStats().spooledBytes);
    EXPECT_NE(sink.reports.find("spool: the tracer is behind the program"), std::string::npos) << sink.reports;
}

TEST(Session, WithoutASpoolTheProgramWaitsForTheDecoder) {
    // --spool-limit 0: with the pool full the reader stops, so the program cannot finish its
    // burst while the decoder is stuck (the real probe would drop instead, or wait with --lossless).
    StuckSink sink(std::chrono::seconds(1));
    RunOptions o = peer("calls", kBurstCalls, 3);
    o.lossless = true;
    o.spoolLimit = 0;
    auto session = Session::launch(o, sink);
    const SessionResult r = session->wait();
    EXPECT_FALSE(sink.programExitedWhileStuck);
    EXPECT_EQ(r.exitStatus, 3);
    EXPECT_EQ(sink.events, 2u * kBurstCalls);
    EXPECT_TRUE(sink.inOrder);
    EXPECT_EQ(session->spoolStats().spooledBytes, 0u);
    EXPECT_EQ(sink.reports.find("spool:"), std::string::npos) << sink.reports;
}
