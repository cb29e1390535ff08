// The committed recordings in tests/data/ (one per demo, listed with their counts in
// tests/data/fixtures.json) must stay readable: a format change that breaks them fails here.
#include <layertrace/json.h>
#include <layertrace/recording.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace layertrace::tracer::test {
namespace {

class CountingSink : public EventSink {
public:
    void onModule(const ModuleInfo&) override { ++modules; }
    void onEvent(const TraceEvent& e) override {
        ++events;
        enters += isEnter(e.kind) ? 1 : 0;
        exits += isExit(e.kind) ? 1 : 0;
        threads.insert(e.tid);
        located += e.sourceFile.empty() ? 0 : 1;
        for (const auto& f : e.stack) {
            frames += f.python ? 0 : 1;
        }
        if (e.kind == EventKind::NativeEnter || e.kind == EventKind::FfiCall) {
            symbols.insert(e.module + ":" + e.symbol);
        }
    }
    void onFinished(const SessionResult& r) override { result = r; }
    std::uint64_t modules = 0, events = 0, enters = 0, exits = 0, frames = 0, located = 0;
    std::set<std::uint32_t> threads;
    std::set<std::string> symbols;
    SessionResult result;
};

TEST(RecordingFixtures, EveryCommittedRecordingStillReads) {
    const std::string dir = RECORDING_FIXTURE_DIR;
    std::ifstream in(dir + "/fixtures.json");
    ASSERT_TRUE(in) << dir << "/fixtures.json is missing";
    std::stringstream text;
    text << in.rdbuf();
    const json::Value doc = json::parse(text.str(), dir + "/fixtures.json");
    const json::Object& fixtures = doc.find("fixtures")->asObject();
    ASSERT_GE(fixtures.size(), 7u) << "one recording per demo";
    for (const auto& [file, expect] : fixtures) {
        SCOPED_TRACE(file);
        RecordingReader reader(dir + "/" + file);
        CountingSink sink;
        const ReplayStats stats = reader.replay(sink); // throws RecordingError if the format broke
        EXPECT_TRUE(stats.finished);
        auto num = [&](const char* key) { return static_cast<std::uint64_t>(expect.find(key)->asNumber()); };
        EXPECT_EQ(sink.events, num("events"));
        EXPECT_EQ(sink.modules, num("modules"));
        EXPECT_EQ(sink.enters, num("enters"));
        EXPECT_EQ(sink.exits, num("exits"));
        EXPECT_EQ(sink.threads.size(), num("threads"));
        EXPECT_EQ(sink.frames, num("native_frames"));
        EXPECT_EQ(sink.located, num("src_located"));
        EXPECT_EQ(sink.result.events, num("events"));
        EXPECT_EQ(sink.result.exitStatus, static_cast<int>(num("exit_status")));
        EXPECT_EQ(reader.info().argv.empty(), false);
        for (const auto& s : expect.find("symbols")->asArray()) {
            EXPECT_EQ(sink.symbols.count(s.asString()), 1u) << "symbol " << s.asString();
        }
    }
}

} // namespace
} // namespace layertrace::tracer::test
