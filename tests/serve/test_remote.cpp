// RemoteServer + connectRemote over loopback: a viewer receives every field of a session
// (tests/recording's synthetic sample), a missing/wrong token or a bad hello is refused before
// anything is sent and the server goes on serving, a late viewer gets the module map then the kept
// history (told how many events were let go), and a non-loopback address needs a token.
#include "recording_samples.h"

#include <layertrace/remote.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <string>

namespace layertrace::tracer::test {
namespace {

constexpr const char* kToken = "unit-test-token-0123456789";

ServeOptions loopbackOptions() {
    ServeOptions o;
    o.listen = {"127.0.0.1", 0};
    o.token = kToken;
    return o;
}

std::uint16_t portOf(const RemoteServer& server) {
    const std::string a = server.address();
    return static_cast<std::uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
}

// Views `server` on a thread; the future holds what arrived.
std::future<ReplaySink> viewAsync(const RemoteServer& server, std::string token = kToken) {
    const std::uint16_t port = portOf(server);
    return std::async(std::launch::async, [port, token] {
        ReplaySink sink;
        connectRemote("127.0.0.1", port, token, sink);
        return sink;
    });
}

void expectWholeSample(const Sample& s, const ReplaySink& got) {
    EXPECT_EQ(got.pid, s.pid);
    ASSERT_EQ(got.modules.size(), s.modules.size());
    for (std::size_t i = 0; i < s.modules.size(); ++i) {
        EXPECT_EQ(got.modules[i].path, s.modules[i].path);
        EXPECT_EQ(got.modules[i].role, s.modules[i].role);
        EXPECT_EQ(got.modules[i].elf.pyInitName, s.modules[i].elf.pyInitName);
    }
    ASSERT_EQ(got.events.size(), s.events.size());
    for (std::size_t i = 0; i < s.events.size(); ++i) {
        expectSameEvent(s.events[i], got.events[i]);
    }
    ASSERT_EQ(got.reports.size(), s.reports.size());
    for (std::size_t i = 0; i < s.reports.size(); ++i) {
        EXPECT_EQ(got.reports[i].message, s.reports[i].message);
    }
    EXPECT_EQ(got.dropped, s.dropped);
    EXPECT_EQ(got.finishedCalls, 1);
    EXPECT_EQ(got.result.exitStatus, s.result.exitStatus);
    EXPECT_EQ(got.result.events, s.result.events);
}

// Every test here: the synthetic sample `s` served by `server` (made by serve()) on loopback.
class Remote : public ::testing::Test {
protected:
    void serve(int repeat, ServeOptions options = loopbackOptions()) {
        s = makeSample(repeat);
        m_server = std::make_unique<RemoteServer>(std::move(options));
        m_server->setInfo(s.info);
    }
    RemoteServer& server() { return *m_server; }

    // A viewer connected before the session starts gets all of it.
    void expectAViewerGetsTheWholeSession() {
        auto viewer = viewAsync(server());
        server().waitForViewers(1);
        play(s, server());
        server().finish(std::chrono::seconds(30));
        expectWholeSample(s, viewer.get());
    }

    Sample s;

private:
    std::unique_ptr<RemoteServer> m_server;
};

TEST_F(Remote, ViewerReceivesEveryField) {
    serve(50);
    expectAViewerGetsTheWholeSession();
    EXPECT_EQ(server().stats().viewersServed, 1u);
    EXPECT_EQ(server().stats().eventsNotSent, 0u);
}

TEST_F(Remote, MissingOrWrongTokenIsRefusedAndTheServerGoesOn) {
    std::vector<std::string> log;
    ServeOptions o = loopbackOptions();
    o.log = [&](const std::string& line) { log.push_back(line); };
    serve(5, o);
    for (const std::string& bad : {std::string(), std::string(kToken) + "x", std::string(kToken).substr(1), std::string("x")}) {
        SCOPED_TRACE("token '" + bad + "'");
        ReplaySink sink;
        try {
            connectRemote("127.0.0.1", portOf(server()), bad, sink);
            ADD_FAILURE() << "a bad token was accepted";
        } catch (const RemoteRefusedError& e) {
            EXPECT_EQ(e.exitCode(), 9);
            EXPECT_NE(std::string(e.what()).find(bad.empty() ? "missing token" : "wrong token"), std::string::npos)
                << e.what();
        }
        EXPECT_EQ(sink.finishedCalls, 0); // nothing of the session arrived
        EXPECT_TRUE(sink.events.empty() && sink.modules.empty());
    }
    expectAViewerGetsTheWholeSession();
    EXPECT_EQ(server().stats().viewersRefused, 4u);
    EXPECT_EQ(std::count_if(log.begin(), log.end(), [](const std::string& l) { return l.find("refused") == 0; }), 4);
}

// A peer that is no viewer: its bytes are never interpreted beyond the hello's magic.
TEST_F(Remote, GarbageHelloGetsNothing) {
    RemoteServer server(loopbackOptions());
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(portOf(server));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const std::string junk = "GET / HTTP/1.0\r\n\r\n; rm -rf /tmp/x\n";
    ASSERT_EQ(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
    char buf[64];
    // Closed without a byte of reply (a reset: the rest of the junk was never read).
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << ' ' << std::strerror(errno);
    ::close(fd);
    server.finish(std::chrono::seconds(5));
    EXPECT_EQ(server.stats().viewersRefused, 1u);
    EXPECT_EQ(server.stats().viewersServed, 0u);
}

TEST_F(Remote, LateViewerGetsModulesThenHistory) {
    ServeOptions o = loopbackOptions();
    o.historyEvents = 1000;
    serve(20, o);
    play(s, server()); // the whole session, the end included, before anyone connects
    auto viewer = viewAsync(server());
    server().waitForViewers(1);
    const ReplaySink got = viewer.get();
    server().finish(std::chrono::seconds(5));
    expectWholeSample(s, got);
}

TEST_F(Remote, TrimmedHistoryIsAnnounced) {
    ServeOptions o = loopbackOptions();
    o.historyEvents = 5;
    serve(20, o);
    play(s, server());
    auto viewer = viewAsync(server());
    const ReplaySink got = viewer.get();
    server().finish(std::chrono::seconds(5));
    ASSERT_EQ(got.events.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        expectSameEvent(s.events[s.events.size() - 5 + i], got.events[i]);
    }
    EXPECT_EQ(got.modules.size(), s.modules.size()); // the module map is always kept
    ASSERT_FALSE(got.reports.empty());
    EXPECT_EQ(got.reports.front().message,
              "serve: this viewer joined late: the session's first " + std::to_string(s.events.size() - 5) +
                  " events are no longer kept (serve --history)");
    EXPECT_EQ(got.finishedCalls, 1);
}

TEST_F(Remote, NonLoopbackNeedsAToken) {
    ServeOptions o;
    o.listen = {"0.0.0.0", 0};
    try {
        RemoteServer server(o);
        ADD_FAILURE() << "listened on 0.0.0.0 without a token";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("refusing to listen on 0.0.0.0:0 without a token"), std::string::npos);
    }
    EXPECT_TRUE(isLoopbackHost("127.0.0.1"));
    EXPECT_TRUE(isLoopbackHost("::1"));
    EXPECT_FALSE(isLoopbackHost("0.0.0.0"));
}

// Without history (the default) a late viewer gets the start and the module map, is told how many
// events it missed, and then the live events.
TEST_F(Remote, WithoutHistoryALateViewerStartsAtItsJoin) {
    serve(20);
    Sample before = s;
    before.events.resize(10);
    before.reports.clear();
    before.dropped.clear();
    play(before, server(), false);
    auto viewer = viewAsync(server());
    server().waitForViewers(1);
    for (std::size_t i = 10; i < s.events.size(); ++i) {
        server().onEvent(s.events[i]);
    }
    server().onFinished(s.result);
    const ReplaySink got = viewer.get();
    server().finish(std::chrono::seconds(5));
    EXPECT_EQ(got.modules.size(), s.modules.size());
    ASSERT_EQ(got.events.size(), s.events.size() - 10);
    expectSameEvent(s.events[10], got.events.front());
    ASSERT_EQ(got.reports.size(), 1u);
    EXPECT_NE(got.reports[0].message.find("the session's first 10 events are no longer kept"), std::string::npos);
}

TEST_F(Remote, NoServerIsATransportError) {
    std::uint16_t port = 0;
    {
        RemoteServer server(loopbackOptions());
        port = portOf(server);
    } // closed again: nothing listens there now
    ReplaySink sink;
    EXPECT_THROW(connectRemote("127.0.0.1", port, kToken, sink), TransportError);
}

TEST_F(Remote, HostPortParsing) {
    EXPECT_EQ(parseHostPort("10.0.0.1:7450", "127.0.0.1").host, "10.0.0.1");
    EXPECT_EQ(parseHostPort("[::1]:80", "127.0.0.1").host, "::1");
    EXPECT_EQ(parseHostPort(":81", "127.0.0.1").port, 81);
    EXPECT_EQ(parseHostPort("82", "127.0.0.1").host, "127.0.0.1");
    EXPECT_THROW(parseHostPort("host:", "127.0.0.1"), UsageError);
    EXPECT_THROW(parseHostPort("host:70000", "127.0.0.1"), UsageError);
    EXPECT_THROW(parseHostPort("::1:80", "127.0.0.1"), UsageError);
}

} // namespace
} // namespace layertrace::tracer::test
