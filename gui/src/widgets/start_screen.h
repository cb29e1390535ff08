// The start screen: the demo launcher (series part, title, one-paragraph summary, expected
// path; one click runs it live under the tracer) and the other ways in.
#pragma once

#include "core/catalog_model.h"

#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QWidget>

namespace layertrace::gui {

class StartScreen : public QWidget {
    Q_OBJECT
public:
    explicit StartScreen(CatalogModel& catalog, QWidget* parent = nullptr);
    void setCatalogError(const QString& error);
    QListView* demoList() const { return m_list; }

signals:
    void runDemoRequested(const QString& name);
    void traceScriptRequested();
    void attachRequested();
    void connectRequested();
    void openRecordingRequested();
    void exampleRequested();

private:
    void showDemo(const QModelIndex& index);

    CatalogModel& m_catalog;
    QListView* m_list;
    QLabel* m_title;
    QLabel* m_summary;
    QLabel* m_paths;
    QLabel* m_error;
    QPushButton* m_run;
};

} // namespace layertrace::gui
