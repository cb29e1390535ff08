/* A hand-written multi-phase C extension with one function per ml_meth calling convention, for
   the probe's C function thunk tests: module functions come from m_methods, the type (a heap
   type with a METH_METHOD method, whose defining class is the 5th argument) is created by the
   Py_mod_exec slot, so only a probe that follows the exec slot sees its methods. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject* noargs(PyObject* self, PyObject* unused) {
    (void)self;
    (void)unused;
    return PyLong_FromLong(1);
}

static PyObject* one(PyObject* self, PyObject* arg) {
    (void)self;
    return PyNumber_Add(arg, arg);
}

static PyObject* varargs(PyObject* self, PyObject* args, PyObject* kwargs) {
    (void)self;
    (void)kwargs;
    return PyLong_FromSsize_t(PyTuple_GET_SIZE(args));
}

static PyObject* fast_keywords(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    (void)self;
    (void)args;
    return PyLong_FromSsize_t(nargs * 10 + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0));
}

static PyObject* raising(PyObject* self, PyObject* arg) {
    (void)self;
    PyErr_Format(PyExc_ValueError, "raised for %S", arg);
    return NULL;
}

/* Where ml_meth should point when nothing is patched: the test compares it with the def. */
static PyObject* address_of_one(PyObject* self, PyObject* unused) {
    (void)self;
    (void)unused;
    return PyLong_FromVoidPtr((void*)one);
}

static PyObject* counter_method(PyObject* self, PyTypeObject* defining_class, PyObject* const* args, Py_ssize_t nargs,
                                PyObject* kwnames) {
    (void)self;
    (void)args;
    (void)kwnames;
    /* The 5-argument convention: a thunk that dropped r8 would lose kwnames, rdx the class. */
    return Py_BuildValue("(sn)", defining_class->tp_name, nargs);
}

static PyObject* counter_static(PyObject* self, PyObject* arg) {
    (void)self;
    Py_INCREF(arg);
    return arg;
}

static PyMethodDef counter_methods[] = {
    {"method", (PyCFunction)(void (*)(void))counter_method, METH_METHOD | METH_FASTCALL | METH_KEYWORDS, NULL},
    {"static", counter_static, METH_O | METH_STATIC, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot counter_slots[] = {
    {Py_tp_methods, counter_methods},
    {0, NULL},
};

static PyType_Spec counter_spec = {
    "probe_cfunctions.Counter", sizeof(PyObject), 0, Py_TPFLAGS_DEFAULT, counter_slots,
};

static int exec_module(PyObject* module) {
    PyObject* type = PyType_FromModuleAndSpec(module, &counter_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    return PyModule_AddObject(module, "Counter", type);
}

static PyMethodDef module_methods[] = {
    {"noargs", noargs, METH_NOARGS, NULL},
    {"one", one, METH_O, NULL},
    {"varargs", (PyCFunction)(void (*)(void))varargs, METH_VARARGS | METH_KEYWORDS, NULL},
    {"fast_keywords", (PyCFunction)(void (*)(void))fast_keywords, METH_FASTCALL | METH_KEYWORDS, NULL},
    {"raising", raising, METH_O, NULL},
    {"address_of_one", address_of_one, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "probe_cfunctions", NULL, 0, module_methods, module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_probe_cfunctions(void) { return PyModuleDef_Init(&module_def); }
