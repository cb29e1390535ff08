// Colours, hatch patterns and the presentation scale: everything the painters need to draw a
// layer so that it reads the same on a laptop, on a projector and to a colour-blind viewer.
#pragma once

#include "core/bands.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace layertrace::gui {

class Palette {
public:
    enum class Scheme { Standard, HighContrast };

    static constexpr int kMinScalePercent = 100;
    static constexpr int kMaxScalePercent = 300;

    Palette() = default;

    Scheme scheme() const { return m_scheme; }
    void setScheme(Scheme scheme) { m_scheme = scheme; }

    // 100..300: one control scales fonts, strokes and hit targets together (presentation mode).
    int scalePercent() const { return m_scalePercent; }
    void setScalePercent(int percent);
    double scale() const { return m_scalePercent / 100.0; }

    // Fill of a band's background; lit = a call is inside it now.
    QColor bandFill(int band, ViewMode mode, bool lit) const;
    // Hatching that tells layers apart without colour (high-contrast scheme only draws it bold).
    QBrush bandHatch(int band, ViewMode mode) const;
    QColor layerColor(int band, ViewMode mode) const; // the layer's strong colour
    QColor boxFill(int band, ViewMode mode, bool active, bool visited) const;
    QColor boxBorder(bool active) const;
    QColor text() const;
    QColor mutedText() const;
    QColor background() const;
    QColor route() const;      // the route drawn through the boxes
    QColor justHappened() const;
    QColor nextMark() const;

    double stroke(double base = 1.0) const { return base * scale(); }
    QFont font(double basePointSize, bool bold = false) const;

private:
    Scheme m_scheme = Scheme::Standard;
    int m_scalePercent = 100;
};

} // namespace layertrace::gui
