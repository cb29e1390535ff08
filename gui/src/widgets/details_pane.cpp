// DetailsPane: renders the selected event's description.
#include "widgets/details_pane.h"

namespace layertrace::gui {

DetailsPane::DetailsPane(TraceDocument& document, QWidget* parent) : QTextBrowser(parent), m_document(document) {
    setOpenLinks(false);
    showSource();
    connect(&document, &TraceDocument::selectionChanged, this, &DetailsPane::showEvent);
    connect(&document, &TraceDocument::sourceDetailsChanged, this, &DetailsPane::showSource);
    connect(&document, &TraceDocument::cleared, this, &DetailsPane::showSource);
}

void DetailsPane::showSource() {
    // Until an event is selected: where the trace comes from (a recording's origin), if known.
    if (!m_document.sourceDetails().isEmpty())
        return setHtml(m_document.sourceDetails());
    setHtml(QStringLiteral("<p style='color:#666'>Select an event in the list, the call tree, the timeline or step "
                           "the playback to see its details.</p>"));
}

void DetailsPane::showEvent(std::int64_t absolute) {
    if (absolute >= 0)
        setHtml(m_document.describe(std::uint64_t(absolute)));
    else
        showSource();
}

} // namespace layertrace::gui
