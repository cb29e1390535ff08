// DiagramLayout: sizes every element from the text it must hold, so scaling the fonts for a
// projector grows the boxes instead of cutting their labels.
#include "core/diagram_layout.h"

#include <QFontMetricsF>

#include <algorithm>
#include <map>

namespace layertrace::gui {

namespace {

TextItem makeText(const QString& text, const QFontMetricsF& fm) {
    TextItem t;
    t.text = text;
    t.needed = fm.horizontalAdvance(text);
    t.neededHeight = fm.height();
    return t;
}

bool inside(const QRectF& outer, const QRectF& inner) {
    return inner.left() >= outer.left() - 0.5 && inner.top() >= outer.top() - 0.5 &&
           inner.right() <= outer.right() + 0.5 && inner.bottom() <= outer.bottom() + 0.5;
}

} // namespace

const BoxGeometry* DiagramLayoutResult::box(int id) const {
    if (id < 0 || std::size_t(id) >= boxes.size() || boxes[std::size_t(id)].box < 0)
        return nullptr;
    return &boxes[std::size_t(id)];
}

int DiagramLayoutResult::boxAt(QPointF point) const {
    for (const auto& b : boxes)
        if (b.box >= 0 && b.rect.contains(point))
            return b.folded ? b.representative : b.box;
    return -1;
}

int DiagramLayoutResult::displayBox(int id) const {
    const BoxGeometry* g = box(id);
    if (!g)
        return -1;
    return g->folded ? g->representative : id;
}

int DiagramLayoutResult::bandAt(QPointF point) const {
    for (const auto& b : bands)
        if (b.rect.contains(point))
            return b.band;
    return -1;
}

std::vector<QString> DiagramLayoutResult::problems() const {
    std::vector<QString> out;
    const QRectF canvas(QPointF(0, 0), size);
    auto check = [&](const TextItem& t, const QRectF& container, const QString& what) {
        if (t.text.isEmpty())
            return;
        if (!t.fits())
            out.push_back(QStringLiteral("%1 '%2' needs %3x%4 px, has %5x%6")
                              .arg(what, t.text)
                              .arg(t.needed, 0, 'f', 1)
                              .arg(t.neededHeight, 0, 'f', 1)
                              .arg(t.rect.width(), 0, 'f', 1)
                              .arg(t.rect.height(), 0, 'f', 1));
        if (!inside(container, t.rect))
            out.push_back(QStringLiteral("%1 '%2' leaves its %3").arg(what, t.text,
                                                                       container == canvas ? QStringLiteral("canvas")
                                                                                           : QStringLiteral("box")));
    };
    for (const auto& band : bands) {
        check(band.title, band.rect, QStringLiteral("band title"));
        check(band.tag, band.rect, QStringLiteral("band tag"));
        check(band.examples, band.rect, QStringLiteral("band examples"));
    }
    for (const auto& b : boxes) {
        if (b.box < 0 || (b.folded && b.representative != b.box))
            continue;
        if (!inside(canvas, b.rect))
            out.push_back(QStringLiteral("box '%1' leaves the canvas").arg(b.name.text));
        check(b.name, b.rect, QStringLiteral("box name"));
        check(b.role, b.rect, QStringLiteral("box role"));
    }
    for (std::size_t i = 0; i < hops.size(); ++i) {
        const auto& h = hops[i];
        for (std::size_t j = 0; j < i; ++j) {
            const QRectF overlap = hops[j].label.rect.intersected(h.label.rect);
            if (overlap.width() > 1 && overlap.height() > 1)
                out.push_back(QStringLiteral("hop label '%1' covers hop label '%2'").arg(h.label.text, hops[j].label.text));
        }
        check(h.label, canvas, QStringLiteral("hop label"));
        for (const auto& b : boxes) {
            if (b.box < 0 || (b.folded && b.representative != b.box))
                continue;
            const QRectF overlap = b.rect.intersected(h.label.rect);
            if (overlap.width() > 1 && overlap.height() > 1)
                out.push_back(QStringLiteral("hop label '%1' covers box '%2'").arg(h.label.text, b.name.text));
        }
    }
    return out;
}

std::vector<int> DiagramLayout::visibleBands(const DiagramState& state, ViewMode mode) {
    // Every row of the stack is always drawn, used or not, so a learner sees the rows a call
    // skips; only the unclassified row appears on demand.
    std::vector<int> out;
    for (int b = 0; b < bandCount(mode); ++b)
        if (!isUnknownBand(b, mode) || state.registry(mode).bandUsed(b))
            out.push_back(b);
    return out;
}

DiagramLayoutResult DiagramLayout::compute(const DiagramState& state, ViewMode mode, QSizeF size,
                                           const Palette& palette) {
    DiagramLayoutResult r;
    r.size = size;
    const double s = palette.scale();
    r.scale = s;
    const double margin = 10 * s;
    const double pad = 8 * s;

    const QFontMetricsF fmTitle(palette.font(kBandTitlePt, true));
    const QFontMetricsF fmTag(palette.font(kBandTagPt));
    const QFontMetricsF fmExamples(palette.font(kExamplesPt));
    const QFontMetricsF fmName(palette.font(kBoxNamePt, true));
    const QFontMetricsF fmRole(palette.font(kBoxRolePt));
    const QFontMetricsF fmHop(palette.font(kHopPt));
    const QFontMetricsF fmCaption(palette.font(kCaptionPt));

    r.captionFontHeight = fmCaption.height();
    r.caption = QRectF(margin, margin * 0.6, size.width() - 2 * margin, fmCaption.height() * 1.35);
    const double top = r.caption.bottom() + margin * 0.5;

    const std::vector<int> visible = visibleBands(state, mode);
    const double bandH = std::max(1.0, (size.height() - top - margin) / double(visible.size()));

    // Band label column: as wide as the widest title or tag; the examples line only when it
    // fits both across (no more than 40 % of the width) and down (three lines in a row).
    double colW = 0;
    double exampleW = 0;
    for (int b : visible) {
        colW = std::max({colW, fmTitle.horizontalAdvance(bandTitle(b, mode)), fmTag.horizontalAdvance(bandLayerTag(b, mode))});
        exampleW = std::max(exampleW, fmExamples.horizontalAdvance(bandExamples(b, mode)));
    }
    const double threeLines = fmTitle.height() + fmTag.height() + fmExamples.height() + pad;
    const bool showExamples = bandH >= threeLines && std::max(colW, exampleW) + 2 * pad <= size.width() * 0.4;
    if (showExamples)
        colW = std::max(colW, exampleW);
    colW += 2 * pad;

    for (std::size_t i = 0; i < visible.size(); ++i) {
        BandGeometry g;
        g.band = visible[i];
        g.rect = QRectF(margin, top + bandH * double(i), size.width() - 2 * margin, bandH);
        const double lines = fmTitle.height() + fmTag.height() + (showExamples ? fmExamples.height() : 0);
        double y = g.rect.top() + std::max(0.0, (bandH - lines) / 2);
        g.title = makeText(bandTitle(g.band, mode), fmTitle);
        g.title.rect = QRectF(g.rect.left() + pad, y, colW - 2 * pad, fmTitle.height());
        y += fmTitle.height();
        g.tag = makeText(bandLayerTag(g.band, mode), fmTag);
        g.tag.rect = QRectF(g.rect.left() + pad, y, colW - 2 * pad, fmTag.height());
        y += fmTag.height();
        if (showExamples) {
            g.examples = makeText(bandExamples(g.band, mode), fmExamples);
            g.examples.rect = QRectF(g.rect.left() + pad, y, colW - 2 * pad, fmExamples.height());
        }
        r.bands.push_back(std::move(g));
    }

    // Boxes: one width for all (the widest name), so slots line up into columns across bands.
    const BoxRegistry& reg = state.registry(mode);
    double boxW = 180 * s;
    auto foldedName = [&reg](int band) { return QStringLiteral("+%1 more").arg(reg.foldedInBand(band)); };
    auto foldedRole = [](const DiagramBox& box) { return QStringLiteral("%1 modules").arg(QString::fromUtf8(roleName(box.role))); };
    for (const auto& box : reg.boxes()) {
        const bool folded = box.slot < 0;
        boxW = std::max(boxW, fmName.horizontalAdvance(folded ? foldedName(box.band) : displayModuleName(box.module)) + 3 * pad);
        boxW = std::max(boxW, fmRole.horizontalAdvance(folded ? foldedRole(box) : QString::fromUtf8(roleName(box.role))) + 3 * pad);
    }
    const double hopH = fmHop.height() * 1.15;
    const double maxBoxH = bandH - hopH - 4 * s;
    double boxH = fmName.height() + fmRole.height() + pad * 1.5;
    bool showRole = true;
    if (boxH > maxBoxH) {
        showRole = false;
        boxH = std::max(fmName.height() + pad * 0.5, std::min(maxBoxH, fmName.height() + pad));
    }
    const double contentLeft = margin + colW + pad * 2;
    const double contentW = size.width() - margin - pad - contentLeft;
    const int slotCount = std::max(1, reg.maxSlots());
    double gap = std::max(48 * s, fmHop.averageCharWidth() * 12);
    if (double(slotCount) * (boxW + gap) > contentW)
        gap = std::max(8 * s, contentW / double(slotCount) - boxW);
    if (double(slotCount) * (boxW + gap) > contentW)
        boxW = std::max(20.0, contentW / double(slotCount) - gap);
    // Centre the columns in the free area, leaving room on the right for the hop labels; the
    // offset depends only on the set of boxes, so it stays put while stepping.
    const double columnsW = double(slotCount) * (boxW + gap);
    const double offset = std::max(0.0, (contentW - columnsW) * 0.35);

    std::map<int, std::size_t> bandRow;
    for (std::size_t i = 0; i < r.bands.size(); ++i)
        bandRow[r.bands[i].band] = i;
    r.boxes.resize(reg.boxes().size());
    std::map<int, int> representative; // band -> first folded box
    for (const auto& box : reg.boxes()) {
        auto row = bandRow.find(box.band);
        if (row == bandRow.end())
            continue;
        const QRectF& band = r.bands[row->second].rect;
        BoxGeometry g;
        g.box = box.id;
        g.folded = box.slot < 0;
        const int slot = g.folded ? reg.namedInBand(box.band) : box.slot;
        if (g.folded)
            g.representative = representative.try_emplace(box.band, box.id).first->second;
        g.rect = QRectF(contentLeft + offset + double(slot) * (boxW + gap), band.top() + (bandH - boxH) / 2, boxW, boxH);
        const double lines = fmName.height() + (showRole ? fmRole.height() : 0);
        const double y = g.rect.top() + (boxH - lines) / 2;
        g.name = makeText(g.folded ? foldedName(box.band) : displayModuleName(box.module), fmName);
        g.name.rect = QRectF(g.rect.left() + pad * 0.5, y, boxW - pad, fmName.height());
        if (showRole) {
            g.role = makeText(g.folded ? foldedRole(box) : QString::fromUtf8(roleName(box.role)), fmRole);
            g.role.rect = QRectF(g.rect.left() + pad * 0.5, y + fmName.height(), boxW - pad, fmRole.height());
        }
        r.boxes[std::size_t(box.id)] = std::move(g);
    }

    // The route: an arrow into each hop's box, labelled with the function that entered it. The
    // label sits right beside the arrow head, in the free strip between two rows of boxes.
    const auto route = state.route(mode);
    std::map<std::pair<int, int>, int> pairCount;
    std::map<int, int> labelsAtBox;
    for (std::size_t i = 0; i < route.size(); ++i) {
        const BoxGeometry* to = r.box(r.displayBox(route[i].box));
        if (!to)
            continue;
        HopGeometry hop;
        hop.toBox = r.displayBox(route[i].box);
        hop.fromBox = i > 0 ? r.displayBox(route[i - 1].box) : -1;
        const BoxGeometry* from = r.box(hop.fromBox);
        const int repeat = pairCount[{std::min(hop.fromBox, hop.toBox), std::max(hop.fromBox, hop.toBox)}]++;
        const double shift = double(repeat) * 10 * s;
        const double tx = to->rect.center().x() + shift;
        bool below = false; // the label goes below the target when the call travels upwards
        if (!from) {
            hop.line = QLineF(tx, to->rect.top() - (bandH - boxH) * 0.45, tx, to->rect.top());
        } else if (from->rect.center().y() < to->rect.center().y() - 1) {
            hop.line = QLineF(from->rect.center().x() + shift, from->rect.bottom(), tx, to->rect.top());
        } else if (from->rect.center().y() > to->rect.center().y() + 1) {
            hop.line = QLineF(from->rect.center().x() + shift, from->rect.top(), tx, to->rect.bottom());
            below = true;
        } else {
            const bool right = to->rect.left() > from->rect.left();
            hop.line = QLineF(right ? from->rect.right() : from->rect.left(), from->rect.center().y() + shift,
                              right ? to->rect.left() : to->rect.right(), to->rect.center().y() + shift);
        }
        hop.label = makeText(QString::fromStdString(route[i].label()), fmHop);
        const double w = hop.label.needed + 0.8 * pad;
        const int stacked = labelsAtBox[hop.toBox]++;
        double x = tx + 6 * s;
        if (x + w > size.width() - 2)
            x = std::max(2.0, tx - 6 * s - w);
        double y;
        if (below)
            y = to->rect.bottom() + 2 * s + double(stacked) * hopH;
        else
            y = to->rect.top() - 2 * s - hopH - double(stacked) * hopH;
        hop.label.rect = QRectF(x, y, w, hopH);
        // Labels never sit on a box or on another label: slide right past whatever is in the way
        // (the free strip between two rows of boxes is wide), else try the other side.
        auto blocked = [&](const QRectF& rect) -> const QRectF* {
            for (const auto& b : r.boxes)
                if (b.box >= 0 && b.rect.intersects(rect))
                    return &b.rect;
            for (const auto& other : r.hops)
                if (other.label.rect.intersects(rect))
                    return &other.label.rect;
            return nullptr;
        };
        for (int attempt = 0; attempt < 12; ++attempt) {
            const QRectF* in = blocked(hop.label.rect);
            if (!in)
                break;
            hop.label.rect.moveLeft(in->right() + 4 * s);
            if (hop.label.rect.right() > size.width() - 2)
                hop.label.rect.moveTop(hop.label.rect.top() + (below ? hopH : -hopH)), hop.label.rect.moveLeft(x);
        }
        r.hops.push_back(std::move(hop));
    }
    return r;
}

} // namespace layertrace::gui
