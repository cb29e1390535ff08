// The CPython C API functions the probe uses, resolved at start with dlsym(RTLD_DEFAULT) from
// whatever interpreter is running: the probe never links libpython, so it loads into any
// process, and a process without Python just gets no Python events.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

namespace layertrace::probe::python {

// Each member has the exact type of the C API declaration it stands for (checked by decltype).
#define LAYERTRACE_PY_FUNCTIONS(X)                                                                  \
    X(PySys_AddAuditHook)                                                                           \
    X(Py_GetVersion)                                                                                \
    X(Py_IsInitialized)                                                                             \
    X(PyInterpreterState_Head)                                                                      \
    X(PyInterpreterState_ThreadHead)                                                                \
    X(PyThreadState_Next)                                                                           \
    X(PyThreadState_Get)                                                                            \
    X(PyGILState_GetThisThreadState)                                                                \
    X(_PyEval_SetProfile)                                                                           \
    X(PyCode_Addr2Line)                                                                             \
    X(PyUnicode_AsUTF8AndSize)                                                                      \
    X(PyErr_Fetch)                                                                                  \
    X(PyErr_Restore)                                                                                \
    X(PyErr_Clear)                                                                                  \
    X(PyImport_ImportModule)                                                                        \
    X(PyObject_GetAttrString)                                                                       \
    X(PyObject_CallFunctionObjArgs)                                                                 \
    X(PyCMethod_New)                                                                                \
    X(PyObject_SetAttrString)                                                                       \
    X(PyLong_AsLong)                                                                                \
    X(PyLong_FromLong)                                                                              \
    X(PyUnicode_FromString)                                                                         \
    X(Py_IncRef)                                                                                    \
    X(Py_DecRef)                                                                                    \
    X(PyModule_GetDict)                                                                             \
    X(PyDict_Next)                                                                                  \
    X(PyImport_GetModuleDict)                                                                       \
    X(PyType_IsSubtype)                                                                             \
    X(Py_AddPendingCall)

// Resolved when present, never required: without them 3.11 full mode falls back to the profile
// function for Python events (frame_hook.cpp).
#define LAYERTRACE_PY_OPTIONAL_FUNCTIONS(X)                                                         \
    X(_PyInterpreterState_GetEvalFrameFunc)                                                         \
    X(_PyInterpreterState_SetEvalFrameFunc)                                                         \
    X(_PyEval_EvalFrameDefault)

#define LAYERTRACE_PY_DATA(X)                                                                       \
    X(PyCFunction_Type, PyTypeObject)                                                               \
    X(PyCMethod_Type, PyTypeObject)                                                                 \
    X(PyFrame_Type, PyTypeObject)                                                                   \
    X(PyMethodDescr_Type, PyTypeObject)                                                             \
    X(PyClassMethodDescr_Type, PyTypeObject)                                                        \
    X(PyStaticMethod_Type, PyTypeObject)                                                            \
    X(PyClassMethod_Type, PyTypeObject)                                                             \
    X(PyInstanceMethod_Type, PyTypeObject)                                                          \
    X(PyModule_Type, PyTypeObject)                                                                  \
    X(PyModuleDef_Type, PyTypeObject)                                                               \
    X(_Py_NoneStruct, PyObject)

struct Api {
#define LAYERTRACE_PY_MEMBER(name) decltype(&::name) name = nullptr;
    LAYERTRACE_PY_FUNCTIONS(LAYERTRACE_PY_MEMBER)
    LAYERTRACE_PY_OPTIONAL_FUNCTIONS(LAYERTRACE_PY_MEMBER)
#undef LAYERTRACE_PY_MEMBER
#define LAYERTRACE_PY_DATA_MEMBER(name, type) type* name = nullptr;
    LAYERTRACE_PY_DATA(LAYERTRACE_PY_DATA_MEMBER)
#undef LAYERTRACE_PY_DATA_MEMBER
    const unsigned long* Py_Version = nullptr; // 3.11+: the running interpreter's PY_VERSION_HEX
};

// Filled by resolve(); read-only afterwards.
extern Api api;

// Resolves every entry; false with the first missing name in *missing.
bool resolve(const char** missing) noexcept;

// Reference counting through the interpreter's own functions: the header macros are those of
// 3.11, and 3.12 changed how counts work (immortal objects), so inline them never.
inline void decref(PyObject* o) noexcept {
    if (o != nullptr) {
        api.Py_DecRef(o);
    }
}
inline void incref(PyObject* o) noexcept {
    if (o != nullptr) {
        api.Py_IncRef(o);
    }
}

} // namespace layertrace::probe::python
