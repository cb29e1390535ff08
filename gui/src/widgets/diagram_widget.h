// The layer diagram: paints DiagramState through DiagramLayout — bands, boxes, the route with a
// label per hop, the "just happened" and "next" marks — and explains a box's layer on hover.
#pragma once

#include "core/diagram_layout.h"
#include "core/palette.h"
#include "core/trace_document.h"

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

namespace layertrace::gui {

class DiagramWidget : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMinRepaintMs = 30; // repaint cap while a live stream pours in

    DiagramWidget(TraceDocument& document, const Palette& palette, QWidget* parent = nullptr);

    ViewMode mode() const { return m_mode; }
    void setMode(ViewMode mode);
    DiagramLayoutResult currentLayout() const;
    // Blank the diagram (clicker "B" key) without losing the position.
    void setBlanked(bool blanked);
    bool blanked() const { return m_blanked; }

    QSize sizeHint() const override { return {900, 640}; }
    QSize minimumSizeHint() const override { return {420, 320}; }

public slots:
    void requestRepaint();

signals:
    void modeChanged(ViewMode mode);
    void boxClicked(int box);

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;

private:
    QString captionText() const;
    QString describeMark(const StepMark& mark, bool next) const;

    TraceDocument& m_document;
    const Palette& m_palette;
    ViewMode m_mode = ViewMode::Detailed;
    bool m_blanked = false;
    QElapsedTimer m_sinceRepaint;
    QTimer m_repaintTimer;
};

} // namespace layertrace::gui
