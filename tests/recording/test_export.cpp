// Export tests on the synthetic sample: the Chrome JSON parses, its B/E events nest per thread
// with matching names, every layer hop has one s/f flow pair, threads are named; the speedscope
// file has one evented profile per thread whose open/close events nest and never go back in time.
#include "recording_samples.h"

#include <layertrace/export.h>
#include <layertrace/json.h>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

namespace layertrace::tracer::test {
namespace {

std::size_t countKinds(const Sample& s, bool (*pred)(EventKind)) {
    std::size_t n = 0;
    for (const auto& e : s.events) {
        n += pred(e.kind) ? 1 : 0;
    }
    return n;
}

TEST(ChromeExport, NestsPerThreadWithFlowsAndThreadNames) {
    const Sample s = makeSample();
    std::ostringstream out;
    auto exporter = makeChromeExporter(out, ExportOptions{"python3 user.py", "layertrace test"});
    play(s, *exporter);
    const json::Value doc = json::parse(out.str(), "chrome export");
    const json::Array& events = doc.find("traceEvents")->asArray();
    std::map<double, std::vector<std::string>> open; // tid -> names
    std::map<double, std::string> threadNames;
    std::map<double, int> flowStarts, flowEnds;
    std::size_t b = 0, e = 0, lost = 0;
    std::set<std::string> categories;
    for (const auto& ev : events) {
        const std::string ph = ev.find("ph")->asString();
        const double tid = ev.find("tid")->asNumber();
        if (ph == "B") {
            ++b;
            open[tid].push_back(ev.find("name")->asString());
            categories.insert(ev.find("cat")->asString());
        } else if (ph == "E") {
            ++e;
            ASSERT_FALSE(open[tid].empty()) << "E without B on tid " << tid;
            EXPECT_EQ(open[tid].back(), ev.find("name")->asString());
            open[tid].pop_back();
            const json::Value* args = ev.find("args");
            lost += args != nullptr && args->find("lost") != nullptr && args->find("lost")->asBool() ? 1 : 0;
        } else if (ph == "s") {
            ++flowStarts[ev.find("id")->asNumber()];
        } else if (ph == "f") {
            ++flowEnds[ev.find("id")->asNumber()];
            EXPECT_EQ(ev.find("bp")->asString(), "e");
        } else if (ph == "M" && ev.find("name")->asString() == "thread_name") {
            threadNames[tid] = ev.find("args")->find("name")->asString();
        }
    }
    for (const auto& [tid, names] : open) {
        EXPECT_TRUE(names.empty()) << "unclosed B on tid " << tid;
    }
    EXPECT_EQ(b, countKinds(s, isEnter));
    EXPECT_EQ(e, b); // the CCall left open on thread 4243 is closed at the end
    EXPECT_EQ(exporter->stats().closedAtEnd, 1u);
    EXPECT_EQ(lost, 1u); // the sample's one exit the tracer made
    EXPECT_EQ(exporter->stats().lostExits, 1u);
    EXPECT_EQ(flowStarts.size(), 6u); // app -> ffi and ffi -> native, three times
    EXPECT_EQ(flowStarts, flowEnds);
    EXPECT_EQ(exporter->stats().flows, 6u);
    EXPECT_EQ(threadNames[4242], "main");
    EXPECT_EQ(threadNames[4243], "worker-1");
    EXPECT_EQ(categories, (std::set<std::string>{"app", "ffi", "native", "glue"}));
    EXPECT_EQ(doc.find("displayTimeUnit")->asString(), "ns");
}

TEST(SpeedscopeExport, OneEventedProfilePerThreadThatNests) {
    const Sample s = makeSample();
    std::ostringstream out;
    auto exporter = makeSpeedscopeExporter(out, ExportOptions{"python3 user.py", "layertrace test"});
    play(s, *exporter);
    const json::Value doc = json::parse(out.str(), "speedscope export");
    EXPECT_EQ(doc.find("$schema")->asString(), "https://www.speedscope.app/file-format-schema.json");
    const std::size_t frames = doc.find("shared")->find("frames")->asArray().size();
    const json::Array& profiles = doc.find("profiles")->asArray();
    ASSERT_EQ(profiles.size(), 2u);
    std::size_t opens = 0;
    for (const auto& p : profiles) {
        EXPECT_EQ(p.find("type")->asString(), "evented");
        EXPECT_EQ(p.find("unit")->asString(), "nanoseconds");
        std::vector<double> stack;
        double last = p.find("startValue")->asNumber();
        for (const auto& ev : p.find("events")->asArray()) {
            const double at = ev.find("at")->asNumber();
            const double frame = ev.find("frame")->asNumber();
            EXPECT_GE(at, last);
            EXPECT_LT(frame, static_cast<double>(frames));
            last = at;
            if (ev.find("type")->asString() == "O") {
                ++opens;
                stack.push_back(frame);
            } else {
                ASSERT_FALSE(stack.empty());
                EXPECT_EQ(stack.back(), frame);
                stack.pop_back();
            }
        }
        EXPECT_TRUE(stack.empty());
        EXPECT_LE(last, p.find("endValue")->asNumber());
    }
    EXPECT_EQ(opens, countKinds(s, isEnter));
    EXPECT_EQ(exporter->stats().lostExits, 1u); // closes carry no arguments: counted only
    EXPECT_NE(out.str().find("sd_score_item [native libstruct_demo.so]"), std::string::npos);
}

} // namespace
} // namespace layertrace::tracer::test
