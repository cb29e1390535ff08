// Band definitions for the layer diagram, following the stack drawn in Part VIII of the series.
#include "core/bands.h"

#include <QRegularExpression>

namespace layertrace::gui {

int bandCount(ViewMode mode) { return mode == ViewMode::Detailed ? int(DetailedBandCount) : int(SummaryBandCount); }

int bandOf(Role role, ViewMode mode) {
    if (mode == ViewMode::Summary) {
        switch (role) {
        case Role::App:
        case Role::Wrapper:
        case Role::Pylib: return BandLayer1;
        case Role::Ext:
        case Role::Glue:
        case Role::Capi: return BandLayer2;
        case Role::Ffi: return BandLibffi;
        case Role::Native: return BandLayer3;
        case Role::Unknown: return BandUnknownSummary;
        }
        return BandUnknownSummary;
    }
    switch (role) {
    case Role::App: return BandApp;
    case Role::Wrapper: return BandWrapper;
    case Role::Pylib: return BandPylib;
    case Role::Glue: return BandGlue;
    case Role::Ext: return BandExt;
    case Role::Capi: return BandCapi;
    case Role::Ffi: return BandFfi;
    case Role::Native: return BandNative;
    case Role::Unknown: return BandUnknownDetailed;
    }
    return BandUnknownDetailed;
}

bool isUnknownBand(int band, ViewMode mode) {
    return band == (mode == ViewMode::Detailed ? int(BandUnknownDetailed) : int(BandUnknownSummary));
}

int summaryBandOf(int band, ViewMode mode) {
    if (mode == ViewMode::Summary)
        return band;
    switch (band) {
    case BandApp:
    case BandWrapper:
    case BandPylib: return BandLayer1;
    case BandGlue:
    case BandExt:
    case BandCapi: return BandLayer2;
    case BandFfi: return BandLibffi;
    case BandNative: return BandLayer3;
    default: return BandUnknownSummary;
    }
}

QString bandTitle(int band, ViewMode mode) {
    if (mode == ViewMode::Summary) {
        switch (band) {
        case BandLayer1: return QStringLiteral("Pure Python");
        case BandLayer2: return QStringLiteral("C extension modules");
        case BandLibffi: return QStringLiteral("libffi");
        case BandLayer3: return QStringLiteral("Native C / C++");
        default: return QStringLiteral("Unclassified");
        }
    }
    switch (band) {
    case BandApp: return QStringLiteral("Application");
    case BandWrapper: return QStringLiteral("Python mirror / user API");
    case BandPylib: return QStringLiteral("Standard library");
    case BandGlue: return QStringLiteral("Binding glue");
    case BandExt: return QStringLiteral("C extension modules");
    case BandCapi: return QStringLiteral("Python C API");
    case BandFfi: return QStringLiteral("libffi");
    case BandNative: return QStringLiteral("Native libraries");
    default: return QStringLiteral("Unclassified");
    }
}

QString bandLayerTag(int band, ViewMode mode) {
    switch (summaryBandOf(band, mode)) {
    case BandLayer1: return QStringLiteral("Layer 1");
    case BandLayer2: return QStringLiteral("Layer 2");
    case BandLibffi: return QStringLiteral("Layer 3 · FFI");
    case BandLayer3: return QStringLiteral("Layer 3");
    default: return QStringLiteral("?");
    }
}

QString bandExamples(int band, ViewMode mode) {
    if (mode == ViewMode::Summary) {
        switch (band) {
        case BandLayer1: return QStringLiteral("your script, wrapper packages, ctypes declarations");
        case BandLayer2: return QStringLiteral("_ctypes, _cffi_backend, your mymodule.so; marshalling");
        case BandLibffi: return QStringLiteral("packs arguments and calls the foreign function");
        case BandLayer3: return QStringLiteral("libfoo.so: plain C/C++, no Python.h");
        default: return QStringLiteral("code the classifier could not place");
        }
    }
    switch (band) {
    case BandApp: return QStringLiteral("the script you run");
    case BandWrapper: return QStringLiteral("optional: InputRecordPy, transform(), Node");
    case BandPylib: return QStringLiteral("ctypes/__init__.py and friends");
    case BandGlue: return QStringLiteral("entry points of your own extension");
    case BandExt: return QStringLiteral("_ctypes, _cffi_backend, mymodule.so");
    case BandCapi: return QStringLiteral("the interpreter: PyObject, refcounts");
    case BandFfi: return QStringLiteral("the FFI engine _ctypes and cffi share");
    case BandNative: return QStringLiteral("libfoo.so, extern \"C\" bridges");
    default: return QStringLiteral("code the classifier could not place");
    }
}

QString displayModuleName(const std::string& module) {
    static const QRegularExpression abiTag(QStringLiteral(R"(\.(cpython-[^.]+|abi3)\.so$)"));
    QString name = QString::fromStdString(module);
    name.replace(abiTag, QString());
    return name;
}

} // namespace layertrace::gui
