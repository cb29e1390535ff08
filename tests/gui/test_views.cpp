// One screenshot test per view, grabbed offscreen with the fixed test font: the image has the
// expected size, is not blank, and regions that show different layers differ. No golden pixels.
#include "gui_test_support.h"

#include "widgets/main_window.h"

#include <QImage>
#include <QTest>

#include <QFileInfo>

#include <gtest/gtest.h>

#include <set>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

namespace {

int distinctColours(const QImage& img) {
    std::set<QRgb> colours;
    for (int y = 0; y < img.height(); y += 3)
        for (int x = 0; x < img.width(); x += 3)
            colours.insert(img.pixel(x, y));
    return int(colours.size());
}

// The most common colour of a rectangle: the band's fill, not its hatching or text.
QRgb dominant(const QImage& img, const QRect& r) {
    std::map<QRgb, int> counts;
    for (int y = r.top(); y <= r.bottom(); ++y)
        for (int x = r.left(); x <= r.right(); ++x)
            ++counts[img.pixel(x, y)];
    return std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

struct Window {
    MainWindow w;
    Window() {
        w.resize(1400, 900);
        w.startExample();
        const bool done = waitFor([this] { return w.ingest() && w.ingest()->finished(); }, 30000);
        EXPECT_TRUE(done) << "the scripted example did not finish ingesting";
        EXPECT_EQ(w.document().totalEvents(), 20u);
        w.show();
        static_cast<void>(QTest::qWaitForWindowExposed(&w));
    }
};

// Renders one view on its own at `size`, then hands it back to the window that owns it (a
// top-level widget would outlive the window's document).
QImage grabView(QWidget* widget, QSize size) {
    QWidget* owner = widget->window();
    widget->setParent(nullptr);
    widget->resize(size);
    widget->show();
    QCoreApplication::processEvents();
    const QImage img = widget->grab().toImage();
    widget->hide();
    widget->setParent(owner);
    return img;
}

} // namespace

TEST(Screenshot, DiagramShowsLitLayersDifferently) {
    Window win;
    ASSERT_EQ(win.w.document().playback()->cursor(), 11); // the example lands on its deepest point
    win.w.setPresentation(true);
    win.w.setScalePercent(100);
    QCoreApplication::processEvents();
    DiagramWidget* d = win.w.diagram();
    const QImage img = d->grab().toImage();
    ASSERT_EQ(img.size(), d->size());
    EXPECT_GT(distinctColours(img), 20);
    const DiagramLayoutResult lay = d->currentLayout();
    // Compare band fills in the strip between the label card and the boxes.
    auto bandSample = [&](int band) {
        for (const auto& b : lay.bands)
            if (b.band == band)
                return QRect(int(b.title.rect.right() + 12), int(b.rect.top() + 4), 8, int(b.rect.height() - 8));
        return QRect();
    };
    const QRgb app = dominant(img, bandSample(BandApp));
    const QRgb ext = dominant(img, bandSample(BandExt));
    const QRgb native = dominant(img, bandSample(BandNative));
    const QRgb capi = dominant(img, bandSample(BandCapi)); // same layer as _ctypes, but not lit
    EXPECT_NE(app, ext);
    EXPECT_NE(ext, native);
    EXPECT_NE(app, native);
    EXPECT_NE(ext, capi) << "a lit band must look different from an idle band of the same layer";
    // Step out of Layer 3: the native band dims.
    win.w.document().playback()->seek(14);
    const QImage after = d->grab().toImage();
    EXPECT_NE(dominant(after, bandSample(BandNative)), native);
}

TEST(Screenshot, HighContrastHatchesLayers) {
    Window win;
    win.w.setPresentation(true);
    win.w.setHighContrast(true);
    win.w.setViewMode(ViewMode::Summary);
    QCoreApplication::processEvents();
    DiagramWidget* d = win.w.diagram();
    const QImage img = d->grab().toImage();
    const DiagramLayoutResult lay = d->currentLayout();
    // Hatched layers (2, libffi, 3) have more than one colour in an empty strip; Layer 1 is plain.
    auto strip = [&](int band) {
        for (const auto& b : lay.bands)
            if (b.band == band)
                return QRect(int(b.rect.right() - 60), int(b.rect.top() + 4), 50, int(b.rect.height() - 8));
        return QRect();
    };
    auto colours = [&](const QRect& r) {
        std::set<QRgb> c;
        for (int y = r.top(); y <= r.bottom(); ++y)
            for (int x = r.left(); x <= r.right(); ++x)
                c.insert(img.pixel(x, y));
        return c.size();
    };
    EXPECT_EQ(colours(strip(BandLayer1)), 1u);
    EXPECT_GT(colours(strip(BandLayer2)), 1u);
    EXPECT_GT(colours(strip(BandLibffi)), 1u);
    EXPECT_GT(colours(strip(BandLayer3)), 1u);
}

TEST(Screenshot, EventListRendersRows) {
    Window win;
    const QImage img = grabView(win.w.eventList(), QSize(1000, 400));
    EXPECT_EQ(img.size(), QSize(1000, 400));
    EXPECT_GT(distinctColours(img), 10);
    EXPECT_EQ(win.w.eventList()->table()->model()->rowCount(), 20);
}

TEST(Screenshot, CallTreeRenders) {
    Window win;
    win.w.callTree()->expandAll();
    const QImage img = grabView(win.w.callTree(), QSize(800, 400));
    EXPECT_EQ(img.size(), QSize(800, 400));
    EXPECT_GT(distinctColours(img), 10);
}

TEST(Screenshot, TimelineColoursSlicesByLayer) {
    Window win;
    TimelineWidget* t = win.w.timeline();
    const QImage img = grabView(t, QSize(1000, 200));
    EXPECT_EQ(img.size(), QSize(1000, 200));
    EXPECT_GT(distinctColours(img), 10);
    // Depth 0 is main (Layer 1), depth 4 transform_record (Layer 3): rows of different colours.
    const Palette& pal = win.w.palette();
    const double rh = 18 * pal.scale();
    // At the time sd_filter_items runs (event 11), every depth 0..5 has a slice.
    const auto& tl = win.w.document().timeline();
    const double frac = double(win.w.document().store().at(11).tsNs + 1000 - tl.startNs()) / double(tl.endNs() - tl.startNs());
    const int x = int(110 * pal.scale() + frac * (img.width() - 110 * pal.scale()));
    const QRgb lane = img.pixel(x, int(4 + rh * 7.5)); // below the deepest slice: the lane only
    const QRgb row0 = img.pixel(x, int(4 + rh * 0 + 1.5)); // main, Layer 1
    const QRgb row2 = img.pixel(x, int(4 + rh * 2 + 1.5)); // PyCFuncPtr_call, Layer 2
    const QRgb row4 = img.pixel(x, int(4 + rh * 4 + 1.5)); // transform_record, Layer 3
    EXPECT_NE(row0, row2);
    EXPECT_NE(row2, row4);
    EXPECT_NE(row0, row4);
    EXPECT_NE(row4, lane);
    // Zoom and pan change the view; fit restores it.
    const auto t0 = t->viewStart(), t1 = t->viewEnd();
    t->zoom(0.5, t->width() / 2.0);
    EXPECT_LT(t->viewEnd() - t->viewStart(), t1 - t0);
    t->pan(100);
    t->fit();
    EXPECT_EQ(t->viewStart(), t0);
    EXPECT_EQ(t->viewEnd(), t1);
    // '.' / ',' walk the slices of the selected thread.
    win.w.document().select(2); // main
    EXPECT_TRUE(t->selectNeighbour(+1));
    EXPECT_EQ(win.w.document().selected(), 3); // InputRecordPy.__init__
    EXPECT_TRUE(t->selectNeighbour(-1));
    EXPECT_EQ(win.w.document().selected(), 2);
}

TEST(Screenshot, DetailsPaneShowsFfiValuesAndMixedStack) {
    Window win;
    win.w.document().select(10); // transform_record
    const QString text = win.w.details()->toPlainText();
    EXPECT_TRUE(text.contains(QStringLiteral("transform_record")));
    EXPECT_TRUE(text.contains(QStringLiteral("Layer 3")));
    EXPECT_TRUE(text.contains(QStringLiteral("struct_demo.c:88")));
    EXPECT_TRUE(text.contains(QStringLiteral("user.py:6")));
    win.w.document().select(9); // ffi_call
    EXPECT_TRUE(win.w.details()->toPlainText().contains(QStringLiteral("1.5")));
    const QImage img = grabView(win.w.details(), QSize(400, 500));
    EXPECT_EQ(img.size(), QSize(400, 500));
    EXPECT_GT(distinctColours(img), 5);
}

TEST(Screenshot, StartScreenListsTheCatalog) {
    MainWindow w;
    w.resize(1200, 800);
    qputenv("LAYERTRACE_DEMOS_DIR", QFileInfo(QStringLiteral(LAYERTRACE_SOURCE_CATALOG)).absolutePath().toUtf8());
    const QString err = w.loadCatalog();
    qunsetenv("LAYERTRACE_DEMOS_DIR");
    ASSERT_TRUE(err.isEmpty()) << err.toStdString();
    w.showStart();
    w.show();
    QCoreApplication::processEvents();
    const QImage img = w.grab().toImage();
    EXPECT_EQ(img.size(), QSize(1200, 800));
    EXPECT_GT(distinctColours(img), 10);
    EXPECT_GT(w.startScreen()->demoList()->model()->rowCount(), 0);
}

TEST(Views, SelectionLinksListTreeAndDetails) {
    Window win;
    win.w.document().select(10);
    const QModelIndex row = win.w.eventList()->table()->currentIndex();
    ASSERT_TRUE(row.isValid());
    EXPECT_EQ(row.row(), 10);
    const QModelIndex node = win.w.callTree()->currentIndex();
    ASSERT_TRUE(node.isValid());
    EXPECT_EQ(node.data().toString(), QStringLiteral("transform_record"));
    // Selecting in the tree moves the list.
    win.w.callTree()->setCurrentIndex(win.w.document().callTree()->indexForEvent(9));
    EXPECT_EQ(win.w.document().selected(), 9);
    EXPECT_EQ(win.w.eventList()->table()->currentIndex().row(), 9);
}

TEST(Views, StatusBarAlwaysShowsLostEvents) {
    MainWindow w(1'000);
    w.startSource(std::make_unique<MemorySource>(syntheticLoad(500, 2), QStringLiteral("load")));
    ASSERT_TRUE(waitFor([&] { return w.ingest()->finished(); }));
    EXPECT_EQ(w.document().evicted(), 3'000u);
    const auto labels = w.findChildren<QLabel*>();
    bool shown = false;
    for (auto* l : labels)
        shown |= l->text().contains(QStringLiteral("evicted 3000"));
    EXPECT_TRUE(shown);
}
