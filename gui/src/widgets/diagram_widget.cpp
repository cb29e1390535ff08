// DiagramWidget: painting and hover of the layer diagram.
#include "widgets/diagram_widget.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>

#include <cmath>

namespace layertrace::gui {

DiagramWidget::DiagramWidget(TraceDocument& document, const Palette& palette, QWidget* parent)
    : QWidget(parent), m_document(document), m_palette(palette) {
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
    m_repaintTimer.setSingleShot(true);
    connect(&m_repaintTimer, &QTimer::timeout, this, [this] { update(); });
    connect(&document, &TraceDocument::appended, this, &DiagramWidget::requestRepaint);
    connect(document.playback(), &Playback::cursorChanged, this, &DiagramWidget::requestRepaint);
    connect(&document, &TraceDocument::cleared, this, &DiagramWidget::requestRepaint);
    m_sinceRepaint.start();
}

void DiagramWidget::setMode(ViewMode mode) {
    if (mode == m_mode)
        return;
    m_mode = mode;
    update();
    emit modeChanged(mode);
}

void DiagramWidget::setBlanked(bool blanked) {
    m_blanked = blanked;
    update();
}

void DiagramWidget::requestRepaint() {
    // At most one repaint per kMinRepaintMs: a live stream can change the state thousands of
    // times a second, the eye needs ~30.
    const qint64 since = m_sinceRepaint.elapsed();
    if (since >= kMinRepaintMs)
        update();
    else if (!m_repaintTimer.isActive())
        m_repaintTimer.start(int(kMinRepaintMs - since));
}

DiagramLayoutResult DiagramWidget::currentLayout() const {
    return DiagramLayout::compute(m_document.diagram(), m_mode, QSizeF(size()), m_palette);
}

QString DiagramWidget::describeMark(const StepMark& mark, bool next) const {
    const int box = mark.box[m_mode == ViewMode::Detailed ? 0 : 1];
    const BoxRegistry& reg = m_document.diagram().registry(m_mode);
    const QString where = box >= 0 ? displayModuleName(reg.box(box).module) : QStringLiteral("?");
    const QString fn = QString::fromStdString(mark.function);
    if (mark.enter)
        return next ? QStringLiteral("%1() will enter %2").arg(fn, where) : QStringLiteral("%1() entered %2").arg(fn, where);
    return next ? QStringLiteral("%1() will return from %2").arg(fn, where)
                : QStringLiteral("%1() returned from %2").arg(fn, where);
}

QString DiagramWidget::captionText() const {
    const auto& d = m_document.diagram();
    const auto& store = m_document.store();
    if (store.endIndex() == 0)
        return m_document.sourceState().isEmpty() ? QStringLiteral("Waiting for the first event…")
                                                  : m_document.sourceState();
    QString s = QStringLiteral("Step %1 / %2").arg(d.cursor() + 1).arg(store.endIndex());
    if (d.focusThread())
        s += QStringLiteral("  ·  thread %1").arg(d.focusThread());
    if (d.justHappened())
        s += QStringLiteral("  ·  \u25B6 just happened: %1").arg(describeMark(*d.justHappened(), false));
    if (d.next())
        s += QStringLiteral("  ·  \u25B7 next: %1").arg(describeMark(*d.next(), true));
    return s;
}

namespace {
void drawArrow(QPainter& p, const QLineF& line, double headSize) {
    p.drawLine(line);
    const double angle = std::atan2(line.dy(), line.dx());
    const QPointF tip = line.p2();
    QPolygonF head;
    head << tip << tip - QPointF(std::cos(angle - 0.45) * headSize, std::sin(angle - 0.45) * headSize)
         << tip - QPointF(std::cos(angle + 0.45) * headSize, std::sin(angle + 0.45) * headSize);
    p.save();
    p.setBrush(p.pen().color());
    p.drawPolygon(head);
    p.restore();
}
} // namespace

void DiagramWidget::paintEvent(QPaintEvent*) {
    m_sinceRepaint.restart();
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    p.fillRect(rect(), m_palette.background());
    if (m_blanked) {
        p.fillRect(rect(), Qt::black);
        return;
    }
    const DiagramState& state = m_document.diagram();
    const DiagramLayoutResult lay = currentLayout();
    const double s = m_palette.scale();

    // Caption: what the last step did and what the next one will do.
    p.setPen(m_palette.text());
    p.setFont(m_palette.font(DiagramLayout::kCaptionPt));
    p.drawText(lay.caption, Qt::AlignLeft | Qt::AlignVCenter,
               p.fontMetrics().elidedText(captionText(), Qt::ElideRight, int(lay.caption.width())));

    // Bands: fill (lit while a call is inside), the layer's hatching, and their labels.
    for (const auto& band : lay.bands) {
        const Activity a = state.bandActivity(m_mode, band.band);
        p.fillRect(band.rect, m_palette.bandFill(band.band, m_mode, a == Activity::Active));
        p.fillRect(band.rect, m_palette.bandHatch(band.band, m_mode));
        p.setPen(QPen(m_palette.layerColor(band.band, m_mode), m_palette.stroke(a == Activity::Active ? 4 : 2)));
        p.drawLine(QPointF(band.rect.left() + 1, band.rect.top() + 2), QPointF(band.rect.left() + 1, band.rect.bottom() - 2));
        p.setPen(QPen(QColor(0, 0, 0, 40), 1));
        p.drawLine(band.rect.bottomLeft(), band.rect.bottomRight());
        // Labels sit on a white card so the hatching never runs through the text.
        QRectF card = band.title.rect.united(band.tag.rect);
        if (!band.examples.text.isEmpty())
            card = card.united(band.examples.rect);
        card.adjust(-4 * s, -2 * s, 4 * s, 2 * s);
        p.setPen(Qt::NoPen);
        p.setBrush(QColor(255, 255, 255, 225));
        p.drawRoundedRect(card, 4 * s, 4 * s);
        p.setPen(a == Activity::Idle ? m_palette.mutedText() : m_palette.text());
        p.setFont(m_palette.font(DiagramLayout::kBandTitlePt, true));
        p.drawText(band.title.rect, Qt::AlignLeft | Qt::AlignVCenter, band.title.text);
        p.setFont(m_palette.font(DiagramLayout::kBandTagPt, a == Activity::Active));
        p.setPen(m_palette.layerColor(band.band, m_mode).darker(140));
        p.drawText(band.tag.rect, Qt::AlignLeft | Qt::AlignVCenter, band.tag.text);
        if (!band.examples.text.isEmpty()) {
            p.setPen(m_palette.mutedText());
            p.setFont(m_palette.font(DiagramLayout::kExamplesPt));
            p.drawText(band.examples.rect, Qt::AlignLeft | Qt::AlignVCenter, band.examples.text);
        }
    }

    // Route arrows under the boxes, labels over everything.
    p.setPen(QPen(m_palette.route(), m_palette.stroke(3.0), Qt::SolidLine, Qt::RoundCap));
    for (const auto& hop : lay.hops)
        drawArrow(p, hop.line, 11 * s);

    const auto& reg = state.registry(m_mode);
    const std::size_t mi = m_mode == ViewMode::Detailed ? 0 : 1;
    const int justBox = lay.displayBox(state.justHappened() ? state.justHappened()->box[mi] : -1);
    const int nextBox = lay.displayBox(state.next() ? state.next()->box[mi] : -1);
    // A "+N more" box is as active as the most active module folded into it.
    auto activityOf = [&](const BoxGeometry& g) {
        if (!g.folded)
            return state.boxActivity(m_mode, g.box);
        Activity best = Activity::Idle;
        for (const auto& other : lay.boxes)
            if (other.folded && other.representative == g.representative)
                best = std::max(best, state.boxActivity(m_mode, other.box));
        return best;
    };
    for (const auto& g : lay.boxes) {
        if (g.box < 0 || (g.folded && g.representative != g.box))
            continue;
        const DiagramBox& box = reg.box(g.box);
        const Activity a = activityOf(g);
        p.setBrush(m_palette.boxFill(box.band, m_mode, a == Activity::Active, a == Activity::Visited));
        p.setPen(QPen(m_palette.boxBorder(a == Activity::Active), m_palette.stroke(a == Activity::Active ? 2.5 : 1.2)));
        p.drawRoundedRect(g.rect, 7 * s, 7 * s);
        const bool strongText = a == Activity::Active && m_palette.scheme() == Palette::Scheme::HighContrast;
        p.setPen(strongText ? QColor(Qt::black) : m_palette.text());
        p.setFont(m_palette.font(DiagramLayout::kBoxNamePt, true));
        p.drawText(g.name.rect, Qt::AlignCenter, g.name.text);
        if (!g.role.text.isEmpty()) {
            p.setFont(m_palette.font(DiagramLayout::kBoxRolePt));
            p.setPen(strongText ? QColor(Qt::black) : m_palette.mutedText());
            p.drawText(g.role.rect, Qt::AlignCenter, g.role.text);
        }
        // Python Tutor's two marks: solid for what just happened, dashed for what runs next.
        if (g.box == nextBox && nextBox != justBox) {
            p.setBrush(Qt::NoBrush);
            p.setPen(QPen(m_palette.nextMark(), m_palette.stroke(2.5), Qt::DashLine));
            p.drawRoundedRect(g.rect.adjusted(-5 * s, -5 * s, 5 * s, 5 * s), 9 * s, 9 * s);
        }
        if (g.box == justBox) {
            p.setBrush(Qt::NoBrush);
            p.setPen(QPen(m_palette.justHappened(), m_palette.stroke(4)));
            p.drawRoundedRect(g.rect.adjusted(-4 * s, -4 * s, 4 * s, 4 * s), 9 * s, 9 * s);
            // An arrow-shaped badge on the left edge, readable without colour.
            const QPointF c(g.rect.left() - 4 * s, g.rect.center().y());
            QPolygonF tri;
            tri << c + QPointF(-12 * s, -8 * s) << c + QPointF(0, 0) << c + QPointF(-12 * s, 8 * s);
            p.setBrush(m_palette.justHappened());
            p.setPen(Qt::NoPen);
            p.drawPolygon(tri);
        }
    }

    p.setFont(m_palette.font(DiagramLayout::kHopPt));
    for (const auto& hop : lay.hops) {
        p.setPen(QPen(m_palette.route(), m_palette.stroke(1.0)));
        p.setBrush(QColor(255, 255, 255, 235));
        p.drawRoundedRect(hop.label.rect, 4 * s, 4 * s);
        p.setPen(m_palette.text());
        p.drawText(hop.label.rect, Qt::AlignCenter, hop.label.text);
    }

    if (reg.boxes().empty()) {
        p.setPen(m_palette.mutedText());
        p.setFont(m_palette.font(12));
        QRectF area(lay.bands.empty() ? QRectF(rect()) : lay.bands.front().rect.united(lay.bands.back().rect));
        p.drawText(area.adjusted(area.width() * 0.35, 0, 0, 0), Qt::AlignCenter,
                   QStringLiteral("No calls yet: boxes appear here as calls enter each layer."));
    }
}

bool DiagramWidget::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        const DiagramLayoutResult lay = currentLayout();
        const int box = lay.boxAt(help->pos());
        const BoxGeometry* geometry = box >= 0 ? lay.box(box) : nullptr;
        if (geometry && geometry->folded) {
            const BoxRegistry& reg = m_document.diagram().registry(m_mode);
            QStringList names;
            for (const auto& g : lay.boxes)
                if (g.folded && g.representative == geometry->representative)
                    names << QString::fromStdString(reg.box(g.box).module).toHtmlEscaped();
            QToolTip::showText(help->globalPos(),
                               QStringLiteral("<b>%1 more modules</b> in this band, folded until a call into native "
                                              "code passes through them:<br>%2")
                                   .arg(names.size())
                                   .arg(names.mid(0, 30).join(QStringLiteral(", "))),
                               this);
        } else if (box >= 0) {
            const DiagramBox& b = m_document.diagram().registry(m_mode).box(box);
            QString tip = QStringLiteral("<b>%1</b><br>role <b>%2</b> — %3, %4<br>%5<br><i>Why: %6</i><br>%7 calls")
                              .arg(QString::fromStdString(b.module).toHtmlEscaped(), QString::fromUtf8(roleName(b.role)),
                                   bandTitle(bandOf(b.role, ViewMode::Detailed), ViewMode::Detailed),
                                   bandLayerTag(b.band, m_mode),
                                   QString::fromStdString(b.modulePath).toHtmlEscaped(),
                                   b.reason.empty() ? QStringLiteral("(the classifier gave no reason)")
                                                    : QString::fromStdString(b.reason).toHtmlEscaped())
                              .arg(b.calls);
            QToolTip::showText(help->globalPos(), tip, this);
        } else if (int band = lay.bandAt(help->pos()); band >= 0) {
            QToolTip::showText(help->globalPos(),
                               QStringLiteral("<b>%1</b> (%2)<br>%3").arg(bandTitle(band, m_mode), bandLayerTag(band, m_mode),
                                                                         bandExamples(band, m_mode)),
                               this);
        } else {
            QToolTip::hideText();
        }
        return true;
    }
    return QWidget::event(e);
}

void DiagramWidget::mousePressEvent(QMouseEvent* e) {
    const int box = currentLayout().boxAt(e->position());
    if (box >= 0)
        emit boxClicked(box);
    QWidget::mousePressEvent(e);
}

} // namespace layertrace::gui
