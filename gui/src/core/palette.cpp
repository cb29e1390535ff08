// Palette values. The high-contrast scheme uses the Okabe-Ito colours (distinguishable with
// every common colour-vision deficiency) and gives each layer its own hatching, so layers differ
// by label and pattern as well as by hue.
#include "core/palette.h"

#include <algorithm>

namespace layertrace::gui {

namespace {
// Okabe & Ito, "Color Universal Design" (2008).
const QColor kOkabeBlue(0x00, 0x72, 0xB2);
const QColor kOkabeOrange(0xE6, 0x9F, 0x00);
const QColor kOkabePurple(0xCC, 0x79, 0xA7);
const QColor kOkabeGreen(0x00, 0x9E, 0x73);
const QColor kGrey(0x80, 0x80, 0x80);

// The standard scheme: calm tints that still follow the layer (blue Python, amber extension,
// violet libffi, green native).
const QColor kStdStrong[] = {QColor(0x3B, 0x6E, 0xC5), QColor(0xD9, 0x8A, 0x1C), QColor(0x8E, 0x5B, 0xC2),
                             QColor(0x2E, 0x9E, 0x6B), QColor(0x88, 0x88, 0x88)};
// `amount` of white mixed into `c`: tints that keep the hue but never glare on a projector.
QColor tint(const QColor& c, double amount) {
    return QColor::fromRgbF(float(c.redF() + (1 - c.redF()) * amount), float(c.greenF() + (1 - c.greenF()) * amount),
                            float(c.blueF() + (1 - c.blueF()) * amount));
}
} // namespace

void Palette::setScalePercent(int percent) { m_scalePercent = std::clamp(percent, kMinScalePercent, kMaxScalePercent); }

QColor Palette::layerColor(int band, ViewMode mode) const {
    const int layer = summaryBandOf(band, mode);
    if (m_scheme == Scheme::HighContrast) {
        switch (layer) {
        case BandLayer1: return kOkabeBlue;
        case BandLayer2: return kOkabeOrange;
        case BandLibffi: return kOkabePurple;
        case BandLayer3: return kOkabeGreen;
        default: return kGrey;
        }
    }
    return kStdStrong[std::clamp(layer, 0, 4)];
}

QColor Palette::bandFill(int band, ViewMode mode, bool lit) const {
    if (m_scheme == Scheme::HighContrast)
        return lit ? tint(layerColor(band, mode), 0.62) : QColor(Qt::white);
    const QColor c = layerColor(band, mode);
    // Alternate the lightness of neighbouring rows of one layer so the detailed rows read apart.
    const bool odd = mode == ViewMode::Detailed && (band % 2 == 1);
    return lit ? tint(c, odd ? 0.66 : 0.60) : tint(c, odd ? 0.93 : 0.89);
}

QBrush Palette::bandHatch(int band, ViewMode mode) const {
    Qt::BrushStyle style = Qt::NoBrush;
    switch (summaryBandOf(band, mode)) {
    case BandLayer1: style = Qt::NoBrush; break; // plain: the layer you write
    case BandLayer2: style = Qt::BDiagPattern; break;
    case BandLibffi: style = Qt::CrossPattern; break;
    case BandLayer3: style = Qt::FDiagPattern; break;
    default: style = Qt::Dense6Pattern; break;
    }
    QColor c = layerColor(band, mode);
    c.setAlpha(m_scheme == Scheme::HighContrast ? 150 : 40);
    return QBrush(c, style);
}

QColor Palette::boxFill(int band, ViewMode mode, bool active, bool visited) const {
    if (m_scheme == Scheme::HighContrast) {
        if (active) // light enough for black text at full contrast; the thick border marks it
            return tint(layerColor(band, mode), 0.35);
        return visited ? QColor(0xEE, 0xEE, 0xEE) : QColor(Qt::white);
    }
    if (active)
        return tint(layerColor(band, mode), 0.15);
    return visited ? tint(layerColor(band, mode), 0.72) : QColor(0xFB, 0xFB, 0xFB);
}

QColor Palette::boxBorder(bool active) const {
    if (m_scheme == Scheme::HighContrast)
        return Qt::black;
    return active ? QColor(0x20, 0x20, 0x20) : QColor(0x70, 0x70, 0x70);
}

QColor Palette::text() const { return m_scheme == Scheme::HighContrast ? QColor(Qt::black) : QColor(0x1E, 0x1E, 0x1E); }
QColor Palette::mutedText() const {
    return m_scheme == Scheme::HighContrast ? QColor(0x20, 0x20, 0x20) : QColor(0x55, 0x55, 0x55);
}
QColor Palette::background() const { return Qt::white; }
QColor Palette::route() const { return m_scheme == Scheme::HighContrast ? QColor(Qt::black) : QColor(0xC0, 0x1C, 0x28); }
QColor Palette::justHappened() const {
    return m_scheme == Scheme::HighContrast ? QColor(0xD5, 0x5E, 0x00) : QColor(0x2A, 0x9D, 0x3A);
}
QColor Palette::nextMark() const {
    return m_scheme == Scheme::HighContrast ? QColor(0x56, 0xB4, 0xE9) : QColor(0xC0, 0x1C, 0x28);
}

QFont Palette::font(double basePointSize, bool bold) const {
    QFont f(QStringLiteral("DejaVu Sans"));
    f.setPointSizeF(basePointSize * scale());
    f.setBold(bold);
    return f;
}

} // namespace layertrace::gui
