// The engineer's event list: a filter bar (text, role, module, thread; debounced) over a
// fixed-row-height QTableView of the live EventListModel, linked to the document's selection.
#pragma once

#include "core/trace_document.h"

#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QTableView>
#include <QTimer>
#include <QTreeView>
#include <QWidget>

namespace layertrace::gui {

class EventListView : public QWidget {
    Q_OBJECT
public:
    static constexpr int kFilterDebounceMs = 300;

    explicit EventListView(TraceDocument& document, QWidget* parent = nullptr);
    QTableView* table() const { return m_table; }
    QLineEdit* searchField() const { return m_text; }
    void applyFilterNow();

private:
    void refreshChoices();
    void followSelection(std::int64_t absolute);

    TraceDocument& m_document;
    QLineEdit* m_text;
    QComboBox* m_role;
    QComboBox* m_module;
    QComboBox* m_thread;
    QLabel* m_status;
    QTableView* m_table;
    QTimer m_debounce;
    QTimer m_choicesTimer;
    bool m_syncingSelection = false;
};

// The call tree with its selection linked to the document.
class CallTreeView : public QTreeView {
    Q_OBJECT
public:
    explicit CallTreeView(TraceDocument& document, QWidget* parent = nullptr);

private:
    TraceDocument& m_document;
    bool m_syncing = false;
};

} // namespace layertrace::gui
