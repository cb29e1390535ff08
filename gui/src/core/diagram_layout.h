// Geometry of the layer diagram for one size, view mode and presentation scale: band rows, box
// rectangles in their stable slots, the route's arrows and hop labels. Every text item records
// the width it needs and the rectangle it gets, so a test can prove that no label is cut.
#pragma once

#include "core/diagram_state.h"
#include "core/palette.h"

#include <QLineF>
#include <QRectF>
#include <QSizeF>
#include <QString>
#include <vector>

namespace layertrace::gui {

struct TextItem {
    QString text;
    QRectF rect;     // where it is drawn
    double needed = 0; // horizontal advance of the text in its font
    double neededHeight = 0;
    bool fits() const { return needed <= rect.width() + 0.5 && neededHeight <= rect.height() + 0.5; }
};

struct BandGeometry {
    int band = 0;
    QRectF rect;
    TextItem title;    // "C extension modules"
    TextItem tag;      // "Layer 2"
    TextItem examples; // empty when the row is too low for a third line
};

struct BoxGeometry {
    int box = -1;
    bool folded = false; // drawn as its band's "+N more" box, which `representative` stands for
    int representative = -1;
    QRectF rect;
    TextItem name; // "libstruct_demo.so"
    TextItem role; // "native"; empty when the box is too low for it
};

struct HopGeometry {
    int fromBox = -1; // -1 for the first hop (the entry into the stack)
    int toBox = -1;
    QLineF line;      // arrow from the caller's box to the callee's
    TextItem label;   // the function that entered the box
};

struct DiagramLayoutResult {
    QSizeF size;
    double scale = 1.0;
    QRectF caption;             // the "just happened / next" line at the top
    std::vector<BandGeometry> bands;
    std::vector<BoxGeometry> boxes; // indexed like the registry's boxes
    std::vector<HopGeometry> hops;  // in route order
    double captionFontHeight = 0;

    const BoxGeometry* box(int id) const;
    int boxAt(QPointF point) const; // -1 outside every box; a folded box's representative
    // The box drawn for `id`: itself, or the representative of its band's "+N more" box.
    int displayBox(int id) const;
    int bandAt(QPointF point) const;
    // Text items that do not fit their rectangle, leave the canvas or sit on a box they do not
    // belong to; empty when nothing is cut.
    std::vector<QString> problems() const;
};

class DiagramLayout {
public:
    // Font sizes in points at 100 %; the palette's scale multiplies them.
    static constexpr double kBandTitlePt = 11.0;
    static constexpr double kBandTagPt = 9.0;
    static constexpr double kExamplesPt = 8.0;
    static constexpr double kBoxNamePt = 10.5;
    static constexpr double kBoxRolePt = 8.0;
    static constexpr double kHopPt = 9.5;
    static constexpr double kCaptionPt = 10.5;

    static DiagramLayoutResult compute(const DiagramState& state, ViewMode mode, QSizeF size, const Palette& palette);
    static std::vector<int> visibleBands(const DiagramState& state, ViewMode mode);
};

} // namespace layertrace::gui
