// AttachDialog: the process table, a filter and Refresh; Attach accepts with the selected PID.
#include "widgets/attach_dialog.h"

#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QVBoxLayout>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace layertrace::gui {

QString processOwner(std::uint32_t pid) {
    struct stat st {};
    if (::stat(QStringLiteral("/proc/%1").arg(pid).toLocal8Bit().constData(), &st) != 0)
        return QStringLiteral("?");
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    if (::getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &found) == 0 && found)
        return QString::fromLocal8Bit(found->pw_name);
    return QString::number(st.st_uid);
}

AttachDialog::AttachDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(QStringLiteral("Attach to a Python process"));
    resize(900, 460);
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(QStringLiteral(
        "The Python processes you may attach to. Attaching pauses the process for a moment to load the probe; "
        "<b>File > Detach</b> detaches again and the process goes on untouched (docs/cli/attach.md)."));
    intro->setWordWrap(true);
    layout->addWidget(intro);
    m_filter = new QLineEdit;
    m_filter->setPlaceholderText(QStringLiteral("Filter by PID, user or command line"));
    layout->addWidget(m_filter);
    m_table = new QTreeWidget;
    m_table->setRootIsDecorated(false);
    m_table->setUniformRowHeights(true);
    m_table->setHeaderLabels({QStringLiteral("PID"), QStringLiteral("User"), QStringLiteral("Python"),
                              QStringLiteral("Command line")});
    m_table->header()->setStretchLastSection(true);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(0, Qt::AscendingOrder);
    layout->addWidget(m_table, 1);

    auto* buttons = new QDialogButtonBox;
    auto* refreshButton = buttons->addButton(QStringLiteral("Refresh"), QDialogButtonBox::ResetRole);
    m_attach = buttons->addButton(QStringLiteral("Attach"), QDialogButtonBox::AcceptRole);
    buttons->addButton(QDialogButtonBox::Cancel);
    layout->addWidget(buttons);

    connect(refreshButton, &QPushButton::clicked, this, &AttachDialog::refresh);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_filter, &QLineEdit::textChanged, this, &AttachDialog::applyFilter);
    connect(m_table, &QTreeWidget::itemSelectionChanged, this, [this] { m_attach->setEnabled(selectedPid() != 0); });
    connect(m_table, &QTreeWidget::itemDoubleClicked, this, [this] { accept(); });
    refresh();
}

void AttachDialog::refresh() {
    const std::uint32_t keep = selectedPid();
    m_processes = tracer::listPythonProcesses();
    m_table->setSortingEnabled(false);
    m_table->clear();
    const auto self = std::uint32_t(::getpid());
    for (const auto& p : m_processes) {
        if (p.pid == self)
            continue;
        auto* item = new QTreeWidgetItem;
        item->setData(0, Qt::DisplayRole, p.pid); // numeric, so PIDs sort as numbers
        item->setText(1, processOwner(p.pid));
        item->setText(2, QString::fromStdString(p.version));
        QString command = QString::fromStdString(p.commandLine);
        if (p.probeLoaded)
            command += QStringLiteral("   (probe loaded: traced before)");
        item->setText(3, command);
        item->setToolTip(3, QStringLiteral("%1\ninterpreter: %2").arg(QString::fromStdString(p.executable),
                                                                      QString::fromStdString(p.interpreterObject)));
        m_table->addTopLevelItem(item);
    }
    m_table->setSortingEnabled(true);
    for (int c = 0; c < 3; ++c)
        m_table->resizeColumnToContents(c);
    applyFilter();
    if (!keep || !selectPid(keep))
        m_attach->setEnabled(false);
}

void AttachDialog::applyFilter() {
    const QString text = m_filter->text().trimmed();
    for (int i = 0; i < m_table->topLevelItemCount(); ++i) {
        QTreeWidgetItem* item = m_table->topLevelItem(i);
        bool match = text.isEmpty();
        for (int c = 0; !match && c < 4; ++c)
            match = item->text(c).contains(text, Qt::CaseInsensitive);
        item->setHidden(!match);
    }
}

std::uint32_t AttachDialog::selectedPid() const {
    const auto items = m_table->selectedItems();
    return items.isEmpty() ? 0 : items.front()->data(0, Qt::DisplayRole).toUInt();
}

bool AttachDialog::selectPid(std::uint32_t pid) {
    for (int i = 0; i < m_table->topLevelItemCount(); ++i) {
        QTreeWidgetItem* item = m_table->topLevelItem(i);
        if (item->data(0, Qt::DisplayRole).toUInt() == pid) {
            m_table->setCurrentItem(item);
            item->setSelected(true);
            return true;
        }
    }
    return false;
}

} // namespace layertrace::gui
