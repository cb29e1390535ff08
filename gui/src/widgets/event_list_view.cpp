// EventListView and CallTreeView: table/tree widgets over the document's models.
#include "widgets/event_list_view.h"

#include "core/bands.h"

#include <QApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QScrollBar>
#include <QVBoxLayout>

#include <set>

namespace layertrace::gui {

EventListView::EventListView(TraceDocument& document, QWidget* parent) : QWidget(parent), m_document(document) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    auto* bar = new QHBoxLayout;
    m_text = new QLineEdit;
    m_text->setPlaceholderText(QStringLiteral("Search function, module, file…"));
    m_text->setClearButtonEnabled(true);
    m_role = new QComboBox;
    m_role->addItem(QStringLiteral("Any role"), -1);
    for (int r = 0; r <= int(Role::Unknown); ++r)
        m_role->addItem(QString::fromUtf8(roleName(Role(r))), r);
    m_module = new QComboBox;
    m_module->addItem(QStringLiteral("Any module"), QString());
    m_module->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_thread = new QComboBox;
    m_thread->addItem(QStringLiteral("Any thread"), 0u);
    m_status = new QLabel;
    bar->addWidget(m_text, 3);
    bar->addWidget(m_role);
    bar->addWidget(m_module);
    bar->addWidget(m_thread);
    bar->addWidget(m_status);
    layout->addLayout(bar);

    m_table = new QTableView;
    m_table->setModel(document.eventList());
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->verticalHeader()->setVisible(false);
    // Fixed row height: the view never measures rows, so a million of them scroll smoothly.
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 4);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setWordWrap(false);
    m_table->setColumnWidth(EventListModel::ColSeq, 60);
    m_table->setColumnWidth(EventListModel::ColTime, 70);
    m_table->setColumnWidth(EventListModel::ColThread, 60);
    m_table->setColumnWidth(EventListModel::ColKind, 95);
    m_table->setColumnWidth(EventListModel::ColLayer, 120);
    m_table->setColumnWidth(EventListModel::ColModule, 160);
    layout->addWidget(m_table);

    m_debounce.setSingleShot(true);
    m_debounce.setInterval(kFilterDebounceMs);
    connect(&m_debounce, &QTimer::timeout, this, &EventListView::applyFilterNow);
    connect(m_text, &QLineEdit::textChanged, this, [this] { m_debounce.start(); });
    // Enter applies the search; once applied, Enter / Shift+Enter walk through the matches.
    connect(m_text, &QLineEdit::returnPressed, this, [this] {
        if (m_document.eventList()->filter().text != m_text->text().trimmed() || m_debounce.isActive()) {
            applyFilterNow();
            return;
        }
        const int rows = m_document.eventList()->rowCount();
        if (rows == 0)
            return;
        const bool back = QApplication::keyboardModifiers() & Qt::ShiftModifier;
        const int cur = m_table->currentIndex().isValid() ? m_table->currentIndex().row() : (back ? 0 : -1);
        const int next = ((cur + (back ? -1 : 1)) % rows + rows) % rows;
        m_document.select(m_document.eventList()->absoluteIndex(next));
    });
    for (QComboBox* c : {m_role, m_module, m_thread})
        connect(c, &QComboBox::activated, this, &EventListView::applyFilterNow);

    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& cur) {
        if (m_syncingSelection || !cur.isValid())
            return;
        m_document.select(m_document.eventList()->absoluteIndex(cur.row()));
    });
    connect(&document, &TraceDocument::selectionChanged, this, &EventListView::followSelection);
    connect(document.eventList(), &EventListModel::filterProgress, this, [this](bool running) {
        m_status->setText(running ? QStringLiteral("filtering…") : QString());
    });
    // Live follow: keep the newest row in view while following.
    connect(&document, &TraceDocument::appended, this, [this] {
        if (m_document.playback()->mode() == Playback::Mode::Follow)
            m_table->scrollToBottom();
        if (!m_choicesTimer.isActive())
            m_choicesTimer.start();
    });
    m_choicesTimer.setSingleShot(true);
    m_choicesTimer.setInterval(500);
    connect(&m_choicesTimer, &QTimer::timeout, this, &EventListView::refreshChoices);
}

void EventListView::applyFilterNow() {
    m_debounce.stop();
    EventFilter f;
    const int role = m_role->currentData().toInt();
    if (role >= 0)
        f.role = Role(role);
    f.module = m_module->currentData().toString();
    f.tid = m_thread->currentData().toUInt();
    f.text = m_text->text().trimmed();
    m_document.eventList()->setFilter(f);
}

void EventListView::refreshChoices() {
    // Modules and threads seen so far, from the diagram's registry and the timeline's tracks.
    std::set<QString> modules;
    for (const auto& box : m_document.diagram().registry(ViewMode::Detailed).boxes())
        modules.insert(QString::fromStdString(box.module));
    if (m_module->count() - 1 != int(modules.size())) {
        const QString cur = m_module->currentData().toString();
        m_module->clear();
        m_module->addItem(QStringLiteral("Any module"), QString());
        for (const auto& m : modules)
            m_module->addItem(displayModuleName(m.toStdString()), m);
        m_module->setCurrentIndex(std::max(0, m_module->findData(cur)));
    }
    const auto& tracks = m_document.timeline().tracks();
    if (m_thread->count() - 1 != int(tracks.size())) {
        const uint cur = m_thread->currentData().toUInt();
        m_thread->clear();
        m_thread->addItem(QStringLiteral("Any thread"), 0u);
        for (const auto& [tid, track] : tracks)
            m_thread->addItem(QStringLiteral("Thread %1").arg(tid), uint(tid));
        m_thread->setCurrentIndex(std::max(0, m_thread->findData(cur)));
    }
}

void EventListView::followSelection(std::int64_t absolute) {
    if (absolute < 0)
        return;
    const int row = m_document.eventList()->rowOf(std::uint64_t(absolute));
    if (row < 0)
        return;
    m_syncingSelection = true;
    const QModelIndex idx = m_document.eventList()->index(row, 0);
    m_table->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_table->scrollTo(idx);
    m_syncingSelection = false;
}

CallTreeView::CallTreeView(TraceDocument& document, QWidget* parent) : QTreeView(parent), m_document(document) {
    setModel(document.callTree());
    setUniformRowHeights(true);
    setAlternatingRowColors(true);
    header()->setStretchLastSection(false);
    header()->setSectionResizeMode(CallTreeModel::ColFunction, QHeaderView::Stretch);
    setColumnWidth(CallTreeModel::ColLayer, 120);
    setColumnWidth(CallTreeModel::ColModule, 160);
    setColumnWidth(CallTreeModel::ColDuration, 90);
    connect(selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& cur) {
        if (m_syncing || !cur.isValid())
            return;
        const QVariant abs = cur.siblingAtColumn(0).data(CallTreeModel::AbsoluteIndexRole);
        if (abs.isValid())
            m_document.select(abs.toLongLong());
    });
    connect(&document, &TraceDocument::selectionChanged, this, [this](std::int64_t absolute) {
        if (absolute < 0)
            return;
        const QModelIndex idx = m_document.callTree()->indexForEvent(std::uint64_t(absolute));
        if (!idx.isValid())
            return;
        m_syncing = true;
        selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
        scrollTo(idx);
        m_syncing = false;
    });
}

} // namespace layertrace::gui
