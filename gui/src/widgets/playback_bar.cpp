// PlaybackBar: controls wired to Playback and to the window's view settings.
#include "widgets/playback_bar.h"

#include <QButtonGroup>
#include <QHBoxLayout>
#include <QMenu>
#include <QVBoxLayout>

#include <cmath>

namespace layertrace::gui {

double PlaybackBar::speedFromSlider(int v) {
    // 0..100 on a log scale from 0.25 to 10 steps/s.
    return Playback::kMinSpeed * std::pow(Playback::kMaxSpeed / Playback::kMinSpeed, v / 100.0);
}
int PlaybackBar::sliderFromSpeed(double s) {
    return int(std::lround(100.0 * std::log(s / Playback::kMinSpeed) / std::log(Playback::kMaxSpeed / Playback::kMinSpeed)));
}

PlaybackBar::PlaybackBar(TraceDocument& document, QWidget* parent) : QWidget(parent), m_document(document) {
    Playback* pb = document.playback();
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(6, 2, 6, 4);
    auto* row1 = new QHBoxLayout;
    auto* row2 = new QHBoxLayout;
    outer->addLayout(row1);
    outer->addLayout(row2);

    auto tool = [this](const QString& text, const QString& tip) {
        auto* b = new QToolButton(this);
        b->setText(text);
        b->setToolTip(tip);
        b->setAutoRaise(false);
        return b;
    };
    m_start = tool(QStringLiteral("|\u25C0"), QStringLiteral("First step (Home)"));
    m_back = tool(QStringLiteral("\u25C0 Back"), QStringLiteral("Step back (PageUp, Left)"));
    m_play = tool(QStringLiteral("\u25B6 Play"), QStringLiteral("Autoplay / pause (P)"));
    m_forward = tool(QStringLiteral("Next \u25B6"), QStringLiteral("Step forward (PageDown, Space, Right)"));
    m_live = tool(QStringLiteral("\u25CF Live"), QStringLiteral("Follow the live stream (End)"));
    m_live->setCheckable(true);
    for (auto* b : {m_start, m_back, m_play, m_forward, m_live})
        row1->addWidget(b);
    m_byHop = new QCheckBox(QStringLiteral("by hop"));
    m_byHop->setToolTip(QStringLiteral("Step from box to box instead of event by event"));
    row1->addWidget(m_byHop);
    m_speed = new QSlider(Qt::Horizontal);
    m_speed->setRange(0, 100);
    m_speed->setFixedWidth(110);
    m_speed->setValue(sliderFromSpeed(pb->speed()));
    m_speedLabel = new QLabel;
    row1->addWidget(new QLabel(QStringLiteral("speed")));
    row1->addWidget(m_speed);
    row1->addWidget(m_speedLabel);
    m_breaks = tool(QStringLiteral("Breakpoints \u25BE"), QStringLiteral("Stop when the call enters a layer"));
    m_breaks->setPopupMode(QToolButton::InstantPopup);
    auto* menu = new QMenu(m_breaks);
    const std::pair<int, QString> bps[] = {{BandLayer1, QStringLiteral("Stop when the call enters Layer 1 (Python)")},
                                           {BandLayer2, QStringLiteral("Stop when the call enters Layer 2 (extension)")},
                                           {BandLibffi, QStringLiteral("Stop when the call enters libffi")},
                                           {BandLayer3, QStringLiteral("Stop when the call enters Layer 3 (native)")}};
    for (const auto& [band, text] : bps) {
        QAction* a = menu->addAction(text);
        a->setCheckable(true);
        connect(a, &QAction::toggled, this, [pb, b = band](bool on) { pb->setBreakOnEnter(b, on); });
    }
    m_breaks->setMenu(menu);
    row1->addWidget(m_breaks);
    row1->addStretch(1);

    m_detailed = new QPushButton(QStringLiteral("Detailed stack"));
    m_summary = new QPushButton(QStringLiteral("Three layers"));
    m_detailed->setCheckable(true);
    m_summary->setCheckable(true);
    m_detailed->setChecked(true);
    auto* group = new QButtonGroup(this);
    group->addButton(m_detailed);
    group->addButton(m_summary);
    group->setExclusive(true);
    // View and presentation controls share the second row with the position slider, so the
    // bar still fits a 1920-pixel screen at 200 %.
    row2->addWidget(m_detailed);
    row2->addWidget(m_summary);
    m_scale = new QSpinBox;
    m_scale->setRange(100, 300);
    m_scale->setSingleStep(25);
    m_scale->setSuffix(QStringLiteral(" %"));
    m_scale->setToolTip(QStringLiteral("Presentation scale: fonts, strokes and targets (Ctrl+= / Ctrl+-)"));
    row2->addWidget(new QLabel(QStringLiteral("scale")));
    row2->addWidget(m_scale);
    m_contrast = new QCheckBox(QStringLiteral("high contrast"));
    m_contrast->setToolTip(QStringLiteral("Colour-blind-safe palette; layers also differ by hatching"));
    row2->addWidget(m_contrast);

    m_position = new QSlider(Qt::Horizontal);
    m_position->setRange(-1, -1);
    m_positionLabel = new QLabel;
    m_positionLabel->setMinimumWidth(m_positionLabel->fontMetrics().horizontalAdvance(QStringLiteral("step 0000000 / 0000000")));
    row2->insertWidget(0, m_position, 1);
    row2->insertWidget(1, m_positionLabel);

    connect(m_start, &QToolButton::clicked, pb, [pb] {
        pb->pause();
        pb->toStart();
    });
    connect(m_back, &QToolButton::clicked, pb, &Playback::stepBack);
    connect(m_forward, &QToolButton::clicked, pb, &Playback::stepForward);
    connect(m_play, &QToolButton::clicked, pb, &Playback::togglePlay);
    connect(m_live, &QToolButton::clicked, pb, &Playback::follow);
    connect(m_byHop, &QCheckBox::toggled, pb, [pb](bool on) { pb->setStepByHop(on); });
    connect(m_speed, &QSlider::valueChanged, this, [this, pb](int v) {
        pb->setSpeed(speedFromSlider(v));
        refresh();
    });
    connect(m_position, &QSlider::valueChanged, this, [this, pb](int v) {
        if (m_updating)
            return;
        pb->pause();
        pb->seek(v);
    });
    connect(m_detailed, &QPushButton::clicked, this, [this] { emit viewModeRequested(ViewMode::Detailed); });
    connect(m_summary, &QPushButton::clicked, this, [this] { emit viewModeRequested(ViewMode::Summary); });
    connect(m_scale, &QSpinBox::valueChanged, this, [this](int v) {
        if (!m_updating)
            emit scaleRequested(v);
    });
    connect(m_contrast, &QCheckBox::toggled, this, [this](bool on) {
        if (!m_updating)
            emit highContrastRequested(on);
    });
    connect(pb, &Playback::cursorChanged, this, &PlaybackBar::refresh);
    connect(pb, &Playback::modeChanged, this, &PlaybackBar::refresh);
    connect(&document, &TraceDocument::appended, this, &PlaybackBar::refresh);
    connect(&document, &TraceDocument::cleared, this, &PlaybackBar::refresh);
    refresh();
}

void PlaybackBar::setViewMode(ViewMode mode) {
    (mode == ViewMode::Detailed ? m_detailed : m_summary)->setChecked(true);
}

void PlaybackBar::setScalePercent(int percent) {
    m_updating = true;
    m_scale->setValue(percent);
    m_updating = false;
}

void PlaybackBar::setHighContrast(bool on) {
    m_updating = true;
    m_contrast->setChecked(on);
    m_updating = false;
}

void PlaybackBar::setFontScale(double scale) {
    // Bigger targets for presentation: the bar's own font and buttons follow the scale.
    QFont f = font();
    f.setPointSizeF(QFont().pointSizeF() * scale);
    setFont(f);
    for (auto* b : findChildren<QWidget*>())
        b->setFont(f);
}

void PlaybackBar::refresh() {
    Playback* pb = m_document.playback();
    const auto& store = m_document.store();
    m_updating = true;
    m_position->setRange(int(store.firstIndex()) - 1, int(store.endIndex()) - 1);
    m_position->setValue(int(pb->cursor()));
    m_updating = false;
    m_positionLabel->setText(QStringLiteral("step %1 / %2").arg(pb->cursor() + 1).arg(store.endIndex()));
    m_play->setText(pb->mode() == Playback::Mode::Autoplay ? QStringLiteral("\u23F8 Pause") : QStringLiteral("\u25B6 Play"));
    m_live->setChecked(pb->mode() == Playback::Mode::Follow);
    m_speedLabel->setText(QStringLiteral("%1/s").arg(pb->speed(), 0, 'g', 3));
}

} // namespace layertrace::gui
