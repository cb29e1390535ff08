// StartScreen: catalog list and entry buttons.
#include "widgets/start_screen.h"

#include <QHBoxLayout>
#include <QVBoxLayout>

namespace layertrace::gui {

StartScreen::StartScreen(CatalogModel& catalog, QWidget* parent) : QWidget(parent), m_catalog(catalog) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(24, 18, 24, 18);
    auto* heading = new QLabel(QStringLiteral("<h1 style='margin:0'>layertrace</h1>"
                                              "<p style='margin-top:4px'>Watch a Python call walk the layers: your script, "
                                              "the wrapper package, the C extension module, libffi, the native library — "
                                              "live, hop by hop.</p>"));
    heading->setWordWrap(true);
    outer->addWidget(heading);

    auto* row = new QHBoxLayout;
    outer->addLayout(row, 1);
    auto* left = new QVBoxLayout;
    left->addWidget(new QLabel(QStringLiteral("<b>Demos of the series</b>")));
    m_list = new QListView;
    m_list->setModel(&catalog);
    m_list->setMinimumWidth(380);
    m_list->setSpacing(4);
    m_list->setWordWrap(true);
    m_list->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_list->setResizeMode(QListView::Adjust);
    QFont listFont = m_list->font();
    listFont.setPointSizeF(listFont.pointSizeF() * 1.1);
    m_list->setFont(listFont);
    left->addWidget(m_list, 1);
    row->addLayout(left, 2);

    auto* right = new QVBoxLayout;
    m_title = new QLabel;
    m_title->setWordWrap(true);
    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_summary->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_paths = new QLabel;
    m_paths->setWordWrap(true);
    m_run = new QPushButton(QStringLiteral("\u25B6  Run it live under the tracer"));
    m_run->setEnabled(false);
    m_run->setMinimumHeight(36);
    right->addWidget(m_title);
    right->addWidget(m_summary);
    right->addWidget(m_paths);
    right->addStretch(1);
    right->addWidget(m_run);
    row->addLayout(right, 3);

    m_error = new QLabel;
    m_error->setStyleSheet(QStringLiteral("color:#B00020"));
    m_error->setWordWrap(true);
    m_error->hide();
    outer->addWidget(m_error);

    auto* buttons = new QHBoxLayout;
    auto* trace = new QPushButton(QStringLiteral("Trace a script…"));
    auto* attach = new QPushButton(QStringLiteral("Attach to a process…"));
    attach->setToolTip(QStringLiteral("Trace a Python process that is already running; detaching leaves it running"));
    auto* remote = new QPushButton(QStringLiteral("Connect to a server…"));
    remote->setToolTip(QStringLiteral("Watch a session that `layertrace serve` streams from another machine"));
    auto* open = new QPushButton(QStringLiteral("Open a recording…"));
    open->setToolTip(QStringLiteral("Open a .ltr recording (layertrace run -o, or File > Save trace as…); "
                                    "you can also drop one on the window"));
    auto* example = new QPushButton(QStringLiteral("Scripted example (not a live trace)"));
    example->setToolTip(QStringLiteral("The Part IV transform() call as a constructed event sequence: explore the "
                                       "views without running anything"));
    for (auto* b : {trace, attach, remote, open, example})
        buttons->addWidget(b);
    buttons->addStretch(1);
    outer->addLayout(buttons);

    connect(m_list->selectionModel(), &QItemSelectionModel::currentChanged, this, &StartScreen::showDemo);
    // Part IV's transform() is the series' flagship path: preselect it.
    auto preselect = [this] {
        for (int r = 0; r < m_catalog.rowCount(); ++r)
            if (m_catalog.index(r).data(CatalogModel::NameRole).toString() == QLatin1String("ctypes_complex_struct"))
                return m_list->setCurrentIndex(m_catalog.index(r));
        if (m_catalog.rowCount() > 0)
            m_list->setCurrentIndex(m_catalog.index(0));
    };
    connect(&catalog, &QAbstractItemModel::modelReset, this, preselect);
    connect(m_list, &QListView::doubleClicked, this, [this](const QModelIndex& i) {
        emit runDemoRequested(i.data(CatalogModel::NameRole).toString());
    });
    connect(m_run, &QPushButton::clicked, this, [this] {
        const QModelIndex i = m_list->currentIndex();
        if (i.isValid())
            emit runDemoRequested(i.data(CatalogModel::NameRole).toString());
    });
    connect(trace, &QPushButton::clicked, this, &StartScreen::traceScriptRequested);
    connect(attach, &QPushButton::clicked, this, &StartScreen::attachRequested);
    connect(remote, &QPushButton::clicked, this, &StartScreen::connectRequested);
    connect(open, &QPushButton::clicked, this, &StartScreen::openRecordingRequested);
    connect(example, &QPushButton::clicked, this, &StartScreen::exampleRequested);
    preselect();
}

void StartScreen::setCatalogError(const QString& error) {
    m_error->setText(error);
    m_error->setVisible(!error.isEmpty());
}

void StartScreen::showDemo(const QModelIndex& index) {
    m_run->setEnabled(index.isValid());
    if (!index.isValid())
        return;
    m_title->setText(QStringLiteral("<h2 style='margin:0'>%1</h2><p style='color:#555;margin-top:2px'>Series part %2 · "
                                    "<code>%3</code></p>")
                         .arg(index.data(CatalogModel::TitleRole).toString().toHtmlEscaped(),
                              index.data(CatalogModel::PartRole).toString().toHtmlEscaped(),
                              index.data(CatalogModel::NameRole).toString().toHtmlEscaped()));
    m_summary->setText(index.data(CatalogModel::SummaryRole).toString());
    const tracer::Demo& demo = m_catalog.catalog().demos[std::size_t(index.row())];
    QString paths;
    for (const auto& p : demo.paths) {
        QStringList hops;
        for (const auto& h : p.hops) {
            QString mod = h.modules.empty() ? QStringLiteral("*") : QString::fromStdString(h.modules.front());
            if (!h.symbols.empty())
                mod += QStringLiteral(" <code>%1</code>").arg(QString::fromStdString(h.symbols.front()).toHtmlEscaped());
            hops << mod;
        }
        paths += QStringLiteral("<p><b>%1</b>: %2</p>").arg(QString::fromStdString(p.name).toHtmlEscaped(),
                                                            hops.join(QStringLiteral(" \u2192 ")));
    }
    m_paths->setText(paths.isEmpty() ? QString() : QStringLiteral("<p style='margin-bottom:0'>Expected route:</p>") + paths);
}

} // namespace layertrace::gui
