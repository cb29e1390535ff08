// The playback bar under the diagram: start / back / play / forward / live, step by event or
// hop, speed, layer breakpoints, position slider, detailed vs three-layer view, presentation
// scale and high-contrast palette.
#pragma once

#include "core/bands.h"
#include "core/trace_document.h"

#include <QCheckBox>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QToolButton>
#include <QWidget>

namespace layertrace::gui {

class PlaybackBar : public QWidget {
    Q_OBJECT
public:
    explicit PlaybackBar(TraceDocument& document, QWidget* parent = nullptr);

    void setViewMode(ViewMode mode);
    void setScalePercent(int percent);
    void setHighContrast(bool on);
    void setFontScale(double scale);

signals:
    void viewModeRequested(ViewMode mode);
    void scaleRequested(int percent);
    void highContrastRequested(bool on);

private:
    void refresh();
    static double speedFromSlider(int v);
    static int sliderFromSpeed(double s);

    TraceDocument& m_document;
    QToolButton* m_start;
    QToolButton* m_back;
    QToolButton* m_play;
    QToolButton* m_forward;
    QToolButton* m_live;
    QCheckBox* m_byHop;
    QSlider* m_speed;
    QLabel* m_speedLabel;
    QToolButton* m_breaks;
    QSlider* m_position;
    QLabel* m_positionLabel;
    QPushButton* m_detailed;
    QPushButton* m_summary;
    QSpinBox* m_scale;
    QCheckBox* m_contrast;
    bool m_updating = false;
};

} // namespace layertrace::gui
