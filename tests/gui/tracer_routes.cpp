// catalogPathsInRecording: RecordingReader::replay into the tracer's PathBuilder.
#include "tracer_routes.h"

#include <layertrace/formatters.h>
#include <layertrace/recording.h>

#include <set>

namespace layertrace::gui::test {

namespace {
class PathSink : public tracer::EventSink {
public:
    explicit PathSink(tracer::PathBuilder& builder) : m_builder(builder) {}
    void onModule(const tracer::ModuleInfo& module) override { m_builder.onModule(module); }
    void onEvent(const TraceEvent& event) override { m_builder.onEvent(event); }

private:
    tracer::PathBuilder& m_builder;
};
} // namespace

std::vector<std::string> catalogPathsInRecording(const std::string& recording, const tracer::Demo& demo) {
    std::set<std::string> found;
    tracer::PathBuilder builder([&](std::uint32_t, const std::vector<tracer::Hop>& hops) {
        for (const auto& path : demo.paths)
            if (tracer::pathMatches(path, hops))
                found.insert(path.name);
    });
    PathSink sink(builder);
    tracer::RecordingReader(recording).replay(sink);
    builder.finish();
    std::vector<std::string> out;
    for (const auto& path : demo.paths) // catalog order
        if (found.count(path.name))
            out.push_back(path.name);
    return out;
}

} // namespace layertrace::gui::test
