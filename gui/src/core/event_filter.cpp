// Event filtering: pure functions, safe to run on any thread.
#include "core/event_filter.h"

#include "core/diagram_state.h"

namespace layertrace::gui {

namespace {
bool containsText(const std::string& haystack, const QByteArray& needleLower) {
    if (needleLower.isEmpty())
        return true;
    if (haystack.size() < std::size_t(needleLower.size()))
        return false;
    return QByteArray::fromRawData(haystack.data(), qsizetype(haystack.size())).toLower().contains(needleLower);
}
} // namespace

bool EventFilter::matches(const TraceEvent& event) const {
    if (role && event.role != *role)
        return false;
    if (tid != 0 && event.tid != tid)
        return false;
    if (pathEventsOnly && !DiagramState::changesPath(event.kind))
        return false;
    if (!module.isEmpty() && QString::fromStdString(event.module) != module)
        return false;
    if (!text.isEmpty()) {
        const QByteArray needle = text.toUtf8().toLower();
        if (!containsText(event.symbol, needle) && !containsText(event.module, needle) && !containsText(event.pyFile, needle))
            return false;
    }
    return true;
}

std::vector<std::uint64_t> filterEvents(const EventSnapshot& snapshot, const EventFilter& filter) {
    std::vector<std::uint64_t> out;
    for (std::uint64_t i = snapshot.begin(); i < snapshot.end(); ++i)
        if (filter.matches(snapshot.at(i)))
            out.push_back(i);
    return out;
}

} // namespace layertrace::gui
