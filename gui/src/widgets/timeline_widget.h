// Per-thread timeline / flame chart: one lane per thread, calls nested by depth and coloured by
// layer. Wheel or W/S zoom, drag or A/D pan, F fits, '.' / ',' select the next / previous slice.
#pragma once

#include "core/palette.h"
#include "core/trace_document.h"

#include <QWidget>

namespace layertrace::gui {

class TimelineWidget : public QWidget {
    Q_OBJECT
public:
    TimelineWidget(TraceDocument& document, const Palette& palette, QWidget* parent = nullptr);

    void fit();
    void zoom(double factor, double anchorX);
    void pan(double pixels);
    bool selectNeighbour(int direction);
    std::uint64_t viewStart() const { return m_t0; }
    std::uint64_t viewEnd() const { return m_t1; }

    QSize sizeHint() const override { return {900, 220}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    double xOf(std::uint64_t ns) const;
    std::uint64_t nsAt(double x) const;
    double rowHeight() const;
    double laneTop(std::uint32_t tid) const;
    std::int64_t sliceAt(QPointF pos) const;

    TraceDocument& m_document;
    const Palette& m_palette;
    std::uint64_t m_t0 = 0, m_t1 = 0;
    bool m_userZoomed = false;
    QPointF m_dragFrom;
    bool m_dragging = false;
};

} // namespace layertrace::gui
