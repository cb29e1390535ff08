// A detach from a target that outran the decoder (RunOptions::skipBacklogOnDetach, what the GUI
// sets): the backlog received before the detach is skimmed, counted as dropped and said in one
// notice, and the session ends without decoding it. Against a real Python process and the real
// probe (Session::attach injects it), so it needs ptrace permission; skipped without it.
#include <layertrace/attach.h>
#include <layertrace/errors.h>
#include <layertrace/session.h>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

// A Python loop making Python calls as fast as it can; ready once it printed "ready".
class LoopingPython {
public:
    LoopingPython() {
        int out[2];
        if (::pipe(out) != 0)
            return;
        m_pid = ::fork();
        if (m_pid == 0) {
            ::dup2(out[1], STDOUT_FILENO);
            ::close(out[0]);
            ::close(out[1]);
            ::execl(PYTHON_EXE, PYTHON_EXE, "-c",
                    "def f(n):\n    return n + 1\nprint('ready', flush=True)\nn = 0\nwhile True:\n    n = f(n)\n",
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(out[1]);
        char buf[6] = {};
        m_ready = m_pid > 0 && ::read(out[0], buf, 5) == 5 && std::string(buf) == "ready";
        // The read end stays open while the program lives: print() may write its newline
        // separately, and into a closed pipe that is a BrokenPipeError that ends the program.
        m_out = out[0];
    }
    ~LoopingPython() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
        ::close(m_out);
    }
    bool ready() const { return m_ready; }
    pid_t pid() const { return m_pid; }
    bool running() const { return m_pid > 0 && ::waitpid(m_pid, nullptr, WNOHANG) == 0; }

private:
    pid_t m_pid = -1;
    int m_out = -1;
    bool m_ready = false;
};

// A decoder as far behind as the test wants: its first event waits until release().
class HeldSink : public EventSink {
public:
    void onEvent(const TraceEvent& e) override {
        if (events++ == 0) {
            std::unique_lock lock(m_mutex);
            m_released.wait(lock, [this] { return m_release; });
        }
        if (e.kind == EventKind::Dropped)
            droppedEvents += e.dropped;
    }
    void onReport(const ProbeReport& r) override { reports += r.message + "\n"; }
    void release() {
        std::lock_guard lock(m_mutex);
        m_release = true;
        m_released.notify_all();
    }

    std::uint64_t events = 0;
    std::uint64_t droppedEvents = 0;
    std::string reports;

private:
    std::mutex m_mutex;
    std::condition_variable m_released;
    bool m_release = false;
};

} // namespace

TEST(SessionDetach, SkippingTheBacklogSkimsWhatWasReceivedBeforeTheDetach) {
    try {
        findProbeLibrary();
    } catch (const Error& e) {
        GTEST_SKIP() << "probe not built: " << e.what();
    }
    LoopingPython target;
    ASSERT_TRUE(target.ready());
    RunOptions options;
    options.stacks = false;
    options.skipBacklogOnDetach = true;
    HeldSink sink;
    std::unique_ptr<Session> session;
    try {
        session = Session::attach(static_cast<std::uint32_t>(target.pid()), options, sink);
    } catch (const AttachError& e) {
        if (e.failure() == AttachFailure::PermissionDenied)
            GTEST_SKIP() << "ptrace not permitted here: " << e.what();
        FAIL() << e.what();
    }
    // The decoder holds its first event while the reader takes in the loop's events (millions a
    // second: the pool and the spool fill); then the detach, then the decoder may go on.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    session->stop();
    sink.release();
    const SessionResult r = session->wait();

    EXPECT_TRUE(r.attached);
    EXPECT_FALSE(r.targetExited);
    EXPECT_TRUE(r.streamError.empty()) << r.streamError;
    const std::size_t notice = sink.reports.find("detach: ");
    ASSERT_NE(notice, std::string::npos) << sink.reports;
    const std::uint64_t skipped = std::stoull(sink.reports.substr(notice + 8));
    EXPECT_GT(skipped, 1000u) << sink.reports;
    EXPECT_NE(sink.reports.find(" events were skipped, not decoded"), std::string::npos)
        << sink.reports;
    // Skimmed events are marked in the trace (Dropped events) and counted with the probe's drops.
    EXPECT_GE(sink.droppedEvents, skipped);
    EXPECT_GE(r.dropped, skipped);
    EXPECT_LT(r.events, skipped) << "the backlog was decoded rather than skimmed";
    EXPECT_TRUE(target.running());
}
