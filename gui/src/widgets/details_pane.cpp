// DetailsPane: renders the selected event's description.
#include "widgets/details_pane.h"

namespace layertrace::gui {

DetailsPane::DetailsPane(TraceDocument& document, QWidget* parent) : QTextBrowser(parent), m_document(document) {
    setOpenLinks(false);
    setHtml(QStringLiteral("<p style='color:#666'>Select an event in the list, the call tree, the timeline or step "
                           "the playback to see its details.</p>"));
    connect(&document, &TraceDocument::selectionChanged, this, &DetailsPane::showEvent);
}

void DetailsPane::showEvent(std::int64_t absolute) {
    if (absolute >= 0)
        setHtml(m_document.describe(std::uint64_t(absolute)));
}

} // namespace layertrace::gui
