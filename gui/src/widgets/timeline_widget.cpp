// TimelineWidget: flame chart painting, zoom, pan and slice navigation.
#include "widgets/timeline_widget.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

namespace layertrace::gui {

namespace {
constexpr double kLabelW = 110;
}

TimelineWidget::TimelineWidget(TraceDocument& document, const Palette& palette, QWidget* parent)
    : QWidget(parent), m_document(document), m_palette(palette) {
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
    connect(&document, &TraceDocument::appended, this, [this] {
        if (!m_userZoomed)
            fit();
        update();
    });
    connect(&document, &TraceDocument::selectionChanged, this, qOverload<>(&QWidget::update));
    connect(&document, &TraceDocument::cleared, this, [this] {
        m_userZoomed = false;
        fit();
    });
}

void TimelineWidget::fit() {
    const auto& tl = m_document.timeline();
    m_t0 = tl.startNs();
    m_t1 = std::max(tl.endNs(), m_t0 + 1000);
    update();
}

double TimelineWidget::rowHeight() const { return 18 * m_palette.scale(); }

double TimelineWidget::xOf(std::uint64_t ns) const {
    const double w = std::max(1.0, width() - kLabelW * m_palette.scale());
    return kLabelW * m_palette.scale() + (double(ns) - double(m_t0)) / double(std::max<std::uint64_t>(1, m_t1 - m_t0)) * w;
}

std::uint64_t TimelineWidget::nsAt(double x) const {
    const double w = std::max(1.0, width() - kLabelW * m_palette.scale());
    const double t = double(m_t0) + (x - kLabelW * m_palette.scale()) / w * double(m_t1 - m_t0);
    return std::uint64_t(std::max(0.0, t));
}

void TimelineWidget::zoom(double factor, double anchorX) {
    const double anchor = double(nsAt(anchorX));
    const double span = std::max(100.0, double(m_t1 - m_t0) * factor);
    const double frac = (anchor - double(m_t0)) / std::max(1.0, double(m_t1 - m_t0));
    const double start = std::max(0.0, anchor - frac * span);
    m_t0 = std::uint64_t(start);
    m_t1 = std::uint64_t(start + span);
    m_userZoomed = true;
    update();
}

void TimelineWidget::pan(double pixels) {
    const double w = std::max(1.0, width() - kLabelW * m_palette.scale());
    const double delta = pixels / w * double(m_t1 - m_t0);
    const double start = std::max(0.0, double(m_t0) + delta);
    const std::uint64_t span = m_t1 - m_t0;
    m_t0 = std::uint64_t(start);
    m_t1 = m_t0 + span;
    m_userZoomed = true;
    update();
}

double TimelineWidget::laneTop(std::uint32_t tid) const {
    double y = 4;
    for (const auto& [t, track] : m_document.timeline().tracks()) {
        if (t == tid)
            return y;
        y += (track.maxDepth + 2) * rowHeight();
    }
    return y;
}

void TimelineWidget::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    const double s = m_palette.scale();
    const double rh = rowHeight();
    const auto& tl = m_document.timeline();
    const std::int64_t sel = m_document.selected();
    const Slice* selected = sel >= 0 ? tl.sliceForEvent(std::uint64_t(sel)) : nullptr;
    p.setFont(m_palette.font(8));
    const QFontMetricsF fm(p.font());
    double y = 4;
    for (const auto& [tid, track] : tl.tracks()) {
        const double laneH = (track.maxDepth + 1) * rh;
        p.fillRect(QRectF(0, y, width(), laneH), QColor(0xF6, 0xF6, 0xF6));
        p.setPen(Qt::black);
        p.drawText(QRectF(4, y, kLabelW * s - 8, rh), Qt::AlignLeft | Qt::AlignVCenter, QStringLiteral("thread %1").arg(tid));
        // Slices are in start order: skip those ending before the view, stop after it. Slices
        // narrower than a pixel are merged into the previous one at the same depth (zoom in
        // to separate them).
        std::vector<double> lastRight(track.maxDepth + 1, -1e9);
        for (const auto& sl : track.slices) {
            if (sl.startNs > m_t1)
                break;
            const std::uint64_t end = sl.endNs ? sl.endNs : tl.endNs();
            if (end < m_t0)
                continue;
            double x0 = std::max(xOf(sl.startNs), kLabelW * s);
            double x1 = std::min(xOf(end), double(width()));
            if (x1 - x0 < 1 && x0 - lastRight[sl.depth] < 1)
                continue;
            x1 = std::max(x1, x0 + 1);
            lastRight[sl.depth] = x1;
            const QRectF r(x0, y + sl.depth * rh, x1 - x0, rh - 1);
            const int band = bandOf(sl.role, ViewMode::Summary);
            p.fillRect(r, m_palette.layerColor(band, ViewMode::Summary).lighter(sl.endNs ? 140 : 120));
            if (m_palette.scheme() == Palette::Scheme::HighContrast)
                p.fillRect(r, m_palette.bandHatch(band, ViewMode::Summary));
            if (&sl == selected) {
                p.setPen(QPen(Qt::black, 2 * s));
                p.drawRect(r);
            }
            if (r.width() > 30 * s) {
                p.setPen(Qt::black);
                p.drawText(r.adjusted(3, 0, -3, 0), Qt::AlignLeft | Qt::AlignVCenter,
                           fm.elidedText(QString::fromStdString(sl.function), Qt::ElideRight, r.width() - 6));
            }
        }
        y += laneH + rh;
    }
    if (tl.empty()) {
        p.setPen(Qt::gray);
        p.drawText(rect(), Qt::AlignCenter, QStringLiteral("No calls yet"));
    }
    // The playback cursor as a vertical line.
    const std::int64_t cur = m_document.playback()->cursor();
    if (cur >= 0 && m_document.store().contains(std::uint64_t(cur))) {
        const double x = xOf(m_document.store().at(std::uint64_t(cur)).tsNs);
        p.setPen(QPen(m_palette.route(), 1.5 * s));
        p.drawLine(QPointF(x, 0), QPointF(x, height()));
    }
}

std::int64_t TimelineWidget::sliceAt(QPointF pos) const {
    const auto& tl = m_document.timeline();
    const double rh = rowHeight();
    double y = 4;
    const std::uint64_t t = nsAt(pos.x());
    for (const auto& [tid, track] : tl.tracks()) {
        const double laneH = (track.maxDepth + 1) * rh;
        if (pos.y() >= y && pos.y() < y + laneH) {
            const auto depth = std::uint32_t((pos.y() - y) / rh);
            const Slice* best = nullptr;
            for (const auto& sl : track.slices) {
                if (sl.startNs > t)
                    break;
                const std::uint64_t end = sl.endNs ? sl.endNs : tl.endNs();
                if (sl.depth == depth && end >= t)
                    best = &sl;
            }
            return best ? std::int64_t(best->enter) : -1;
        }
        y += laneH + rh;
    }
    return -1;
}

bool TimelineWidget::selectNeighbour(int direction) {
    const auto& tl = m_document.timeline();
    const std::int64_t sel = m_document.selected();
    const Slice* cur = sel >= 0 ? tl.sliceForEvent(std::uint64_t(sel)) : nullptr;
    const Slice* next = nullptr;
    if (cur) {
        next = tl.neighbour(cur->enter, direction);
    } else if (!tl.tracks().empty() && !tl.tracks().begin()->second.slices.empty()) {
        next = &tl.tracks().begin()->second.slices.front();
    }
    if (!next)
        return false;
    m_document.select(std::int64_t(next->enter));
    // Keep the selected slice in view.
    if (next->startNs < m_t0 || next->startNs > m_t1) {
        const std::uint64_t span = m_t1 - m_t0;
        m_t0 = next->startNs > span / 4 ? next->startNs - span / 4 : 0;
        m_t1 = m_t0 + span;
    }
    update();
    return true;
}

void TimelineWidget::wheelEvent(QWheelEvent* e) {
    if (e->modifiers() & Qt::ShiftModifier)
        pan(-e->angleDelta().y() / 2.0);
    else
        zoom(e->angleDelta().y() > 0 ? 0.8 : 1.25, e->position().x());
    e->accept();
}

void TimelineWidget::mousePressEvent(QMouseEvent* e) {
    setFocus();
    m_dragFrom = e->position();
    m_dragging = true;
    const std::int64_t slice = sliceAt(e->position());
    if (slice >= 0)
        m_document.select(slice);
}

void TimelineWidget::mouseMoveEvent(QMouseEvent* e) {
    if (m_dragging && (e->buttons() & Qt::LeftButton)) {
        pan(m_dragFrom.x() - e->position().x());
        m_dragFrom = e->position();
    }
}

void TimelineWidget::keyPressEvent(QKeyEvent* e) {
    switch (e->key()) {
    case Qt::Key_W: zoom(0.8, width() / 2.0); break;
    case Qt::Key_S: zoom(1.25, width() / 2.0); break;
    case Qt::Key_A: pan(-width() / 8.0); break;
    case Qt::Key_D: pan(width() / 8.0); break;
    case Qt::Key_F:
        m_userZoomed = false;
        fit();
        break;
    case Qt::Key_Period: selectNeighbour(+1); break;
    case Qt::Key_Comma: selectNeighbour(-1); break;
    default: QWidget::keyPressEvent(e); return;
    }
    e->accept();
}

} // namespace layertrace::gui
