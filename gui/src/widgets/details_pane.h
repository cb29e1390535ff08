// The details pane: everything known about the selected event (TraceDocument::describe); with
// nothing selected, where the trace comes from (TraceDocument::sourceDetails).
#pragma once

#include "core/trace_document.h"

#include <QTextBrowser>

namespace layertrace::gui {

class DetailsPane : public QTextBrowser {
    Q_OBJECT
public:
    explicit DetailsPane(TraceDocument& document, QWidget* parent = nullptr);
    QSize sizeHint() const override { return {360, 400}; }

private:
    void showEvent(std::int64_t absolute);
    void showSource();
    TraceDocument& m_document;
};

} // namespace layertrace::gui
