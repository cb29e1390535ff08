// The diagram's bands: which row of the series' stack each role is drawn in, in the detailed
// view (one row per kind of code) and in the three-layer summary (Layer 1 / 2 / libffi / 3).
#pragma once

#include <layertrace/trace_event.h>

#include <QString>

namespace layertrace::gui {

enum class ViewMode { Detailed, Summary };

// Band indices, top to bottom. The unclassified band sits last and is drawn only when used.
enum DetailedBand : int {
    BandApp = 0,
    BandWrapper,
    BandPylib,
    BandGlue,
    BandExt,
    BandCapi,
    BandFfi,
    BandNative,
    BandUnknownDetailed,
    DetailedBandCount
};
enum SummaryBand : int { BandLayer1 = 0, BandLayer2, BandLibffi, BandLayer3, BandUnknownSummary, SummaryBandCount };

int bandCount(ViewMode mode);
int bandOf(Role role, ViewMode mode);
bool isUnknownBand(int band, ViewMode mode);
// The summary band a band belongs to (itself in Summary mode): colours and hatching follow it,
// so a layer looks the same in both views.
int summaryBandOf(int band, ViewMode mode);
QString bandTitle(int band, ViewMode mode);    // "C extension modules"
QString bandLayerTag(int band, ViewMode mode); // "Layer 2"
QString bandExamples(int band, ViewMode mode); // one short line for learners

// "_ctypes.cpython-311-x86_64-linux-gnu.so" -> "_ctypes": the ABI tag says nothing to a learner.
QString displayModuleName(const std::string& module);

} // namespace layertrace::gui
