// File > Attach to a process…: the Python processes this user may attach to (the tracer's
// listPythonProcesses, as `layertrace ps`), with PID, owner, Python version and command line.
#pragma once

#include <layertrace/attach.h>

#include <QDialog>
#include <QLineEdit>
#include <QPushButton>
#include <QTreeWidget>

#include <cstdint>
#include <vector>

namespace layertrace::gui {

class AttachDialog : public QDialog {
    Q_OBJECT
public:
    explicit AttachDialog(QWidget* parent = nullptr);

    // Re-reads the process list (also the Refresh button).
    void refresh();
    // The processes listed, and the chosen PID (0 when none is selected).
    const std::vector<tracer::PythonProcess>& processes() const { return m_processes; }
    std::uint32_t selectedPid() const;
    bool selectPid(std::uint32_t pid);
    QTreeWidget* table() const { return m_table; }

private:
    void applyFilter();

    std::vector<tracer::PythonProcess> m_processes;
    QTreeWidget* m_table;
    QLineEdit* m_filter;
    QPushButton* m_attach;
};

// The login name owning process `pid` (from /proc), or its uid as text.
QString processOwner(std::uint32_t pid);

} // namespace layertrace::gui
