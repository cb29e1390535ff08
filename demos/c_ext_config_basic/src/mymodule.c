/* mymodule, written by hand against the CPython C API: the Config type and its PyCapsule handles. */
#define PY_SSIZE_T_CLEAN
#include "config_core.h"

#include <Python.h>
#include <structmember.h> /* PyMemberDef's T_BOOL, T_PYSSIZET and READONLY in Python 3.11 */

/* Consumers check this name with PyCapsule_IsValid, so a capsule from another library is refused. */
#define CONFIG_HANDLE_CAPSULE_NAME "mymodule.ConfigHandle"

/* The instance layout. The type is not GC-tracked: it holds only a str, which cannot form a cycle. */
typedef struct {
    PyObject_HEAD int timeout; /* seconds, always within the range config_check_timeout accepts */
    PyObject* url;        /* str, never NULL once tp_new has run, always a url config_check_url accepts */
    char ssl;             /* a T_BOOL member: CPython's member setter only lets True or False in */
    Py_ssize_t processed; /* how many times process() succeeded; read-only from Python */
} ConfigObject;

static PyObject* Config_new(PyTypeObject* type, PyObject* Py_UNUSED(args), PyObject* Py_UNUSED(kwds)) {
    ConfigObject* self = (ConfigObject*)type->tp_alloc(type, 0);
    if (!self) {
        return NULL;
    }
    /* Defaults are set here, not only in tp_init, so an instance is valid even if __init__ is skipped
     * (Config.__new__(Config)) and the getters never see a NULL url. */
    self->url = PyUnicode_FromString("http://example.com");
    if (!self->url) {
        Py_DECREF(self);
        return NULL;
    }
    self->timeout = 30;
    self->ssl = 1;
    self->processed = 0;
    return (PyObject*)self;
}

static void Config_dealloc(ConfigObject* self) {
    Py_XDECREF(self->url);
    Py_TYPE(self)->tp_free((PyObject*)self);
}

static int Config_set_timeout(ConfigObject* self, PyObject* value, void* Py_UNUSED(closure)) {
    if (!value) {
        PyErr_SetString(PyExc_TypeError, "cannot delete the timeout attribute");
        return -1;
    }
    /* bool is an int subclass, but Config(timeout=True) is almost certainly a mistake. */
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "timeout must be an int, not %.100s", Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long timeout = PyLong_AsLongAndOverflow(value, &overflow);
    if (timeout == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow != 0 || config_check_timeout(timeout) != CONFIG_OK) {
        PyErr_Format(PyExc_ValueError, "timeout must be between %d and %d seconds, got %S",
                     CONFIG_TIMEOUT_MIN, CONFIG_TIMEOUT_MAX, value);
        return -1;
    }
    self->timeout = (int)timeout;
    return 0;
}

static PyObject* Config_get_timeout(ConfigObject* self, void* Py_UNUSED(closure)) {
    return PyLong_FromLong(self->timeout);
}

static int Config_set_url(ConfigObject* self, PyObject* value, void* Py_UNUSED(closure)) {
    if (!value) {
        PyErr_SetString(PyExc_TypeError, "cannot delete the url attribute");
        return -1;
    }
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "url must be a str, not %.100s", Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_ssize_t len = 0;
    const char* url = PyUnicode_AsUTF8AndSize(value, &len);
    if (!url) {
        return -1;
    }
    char why[CONFIG_WHY_MAX];
    if (config_check_url(url, (size_t)len, why, sizeof why) != CONFIG_OK) {
        PyErr_Format(PyExc_ValueError, "invalid url %R: %s", value, why);
        return -1;
    }
    Py_XSETREF(self->url, Py_NewRef(value));
    return 0;
}

static PyObject* Config_get_url(ConfigObject* self, void* Py_UNUSED(closure)) {
    return Py_NewRef(self->url);
}

static int Config_init(ConfigObject* self, PyObject* args, PyObject* kwds) {
    static char* kwlist[] = {"timeout", "url", "ssl", NULL};
    PyObject* timeout = NULL;
    PyObject* url = NULL;
    PyObject* ssl = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:Config", kwlist, &timeout, &url, &ssl)) {
        return -1;
    }
    /* Arguments go through the same setters as attribute assignment, so validation lives in one place. */
    if (timeout && Config_set_timeout(self, timeout, NULL) < 0) {
        return -1;
    }
    if (url && Config_set_url(self, url, NULL) < 0) {
        return -1;
    }
    if (ssl) {
        if (!PyBool_Check(ssl)) {
            PyErr_Format(PyExc_TypeError, "ssl must be a bool, not %.100s", Py_TYPE(ssl)->tp_name);
            return -1;
        }
        self->ssl = ssl == Py_True;
    }
    return 0;
}

static PyObject* Config_repr(ConfigObject* self) {
    return PyUnicode_FromFormat("Config(timeout=%d, url=%R, ssl=%s)", self->timeout, self->url,
                                self->ssl ? "True" : "False");
}

/* Fills params from the object. The url pointer borrows the str's UTF-8 buffer, valid while self->url is. */
static int Config_params(ConfigObject* self, config_params* params) {
    Py_ssize_t len = 0;
    const char* url = PyUnicode_AsUTF8AndSize(self->url, &len);
    if (!url) {
        return -1;
    }
    params->timeout = self->timeout;
    params->url = url;
    params->url_len = (size_t)len;
    params->ssl = self->ssl != 0;
    return 0;
}

/* Turns a failed config_build_request status into the matching Python exception; returns NULL. */
static PyObject* raise_config_error(config_status status, const char* why) {
    if (status == CONFIG_ERR_NO_MEMORY) {
        return PyErr_NoMemory();
    }
    PyErr_SetString(PyExc_ValueError, why);
    return NULL;
}

static PyObject* Config_process(ConfigObject* self, PyObject* Py_UNUSED(ignored)) {
    config_params params;
    if (Config_params(self, &params) < 0) {
        return NULL;
    }
    config_request request;
    char why[CONFIG_WHY_MAX];
    /* The GIL stays held: the work takes microseconds, and releasing it would let another thread
     * replace self->url and free the buffer params.url points into. */
    config_status status = config_build_request(&params, &request, why, sizeof why);
    if (status != CONFIG_OK) {
        return raise_config_error(status, why);
    }
    PyObject* line = PyUnicode_FromString(request.line);
    if (line) {
        self->processed++;
    }
    return line;
}

static void ConfigHandle_destructor(PyObject* capsule) {
    config_handle* handle = PyCapsule_GetPointer(capsule, CONFIG_HANDLE_CAPSULE_NAME);
    if (!handle) {
        PyErr_WriteUnraisable(capsule); /* a destructor has nobody to raise to */
        return;
    }
    config_handle_destroy(handle);
}

static PyObject* Config_native_handle(ConfigObject* self, PyObject* Py_UNUSED(ignored)) {
    config_params params;
    if (Config_params(self, &params) < 0) {
        return NULL;
    }
    config_handle* handle = config_handle_create(&params);
    if (!handle) {
        return PyErr_NoMemory();
    }
    PyObject* capsule = PyCapsule_New(handle, CONFIG_HANDLE_CAPSULE_NAME, ConfigHandle_destructor);
    if (!capsule) {
        config_handle_destroy(handle); /* the capsule never took ownership */
        return NULL;
    }
    return capsule;
}

static PyObject* mymodule_process_handle(PyObject* Py_UNUSED(module), PyObject* capsule) {
    if (!PyCapsule_CheckExact(capsule)) {
        PyErr_Format(PyExc_TypeError, "expected a " CONFIG_HANDLE_CAPSULE_NAME " capsule, not %.100s",
                     Py_TYPE(capsule)->tp_name);
        return NULL;
    }
    if (!PyCapsule_IsValid(capsule, CONFIG_HANDLE_CAPSULE_NAME)) {
        const char* name = PyCapsule_GetName(capsule);
        PyErr_Format(PyExc_ValueError, "capsule is named %s, expected " CONFIG_HANDLE_CAPSULE_NAME,
                     name ? name : "NULL");
        return NULL;
    }
    const config_handle* handle = PyCapsule_GetPointer(capsule, CONFIG_HANDLE_CAPSULE_NAME);
    if (!handle) {
        return NULL;
    }
    config_request request;
    char why[CONFIG_WHY_MAX];
    config_status status = config_build_request(config_handle_params(handle), &request, why, sizeof why);
    return status == CONFIG_OK ? PyUnicode_FromString(request.line) : raise_config_error(status, why);
}

static PyObject* mymodule_live_handles(PyObject* Py_UNUSED(module), PyObject* Py_UNUSED(ignored)) {
    return PyLong_FromSize_t(config_handle_live_count());
}

static PyMemberDef Config_members[] = {
    {"ssl", T_BOOL, offsetof(ConfigObject, ssl), 0, "Use TLS; an http:// url is upgraded to https."},
    {"processed", T_PYSSIZET, offsetof(ConfigObject, processed), READONLY,
     "Number of successful process() calls on this Config."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Config_getset[] = {
    {"timeout", (getter)Config_get_timeout, (setter)Config_set_timeout,
     "Request timeout in seconds, 1 to 3600.", NULL},
    {"url", (getter)Config_get_url, (setter)Config_set_url, "http:// or https:// url with a host.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Config_methods[] = {
    {"process", (PyCFunction)Config_process, METH_NOARGS,
     "process() -> str\n\nBuild the canonical request line for this configuration."},
    {"native_handle", (PyCFunction)Config_native_handle, METH_NOARGS,
     "native_handle() -> PyCapsule\n\nAn opaque native snapshot of this Config, named "
     "\"" CONFIG_HANDLE_CAPSULE_NAME "\"."},
    {NULL, NULL, 0, NULL},
};

/* PyVarObject_HEAD_INIT ends in a comma clang-format cannot see; it would glue .tp_name onto it. */
/* clang-format off */
static PyTypeObject ConfigType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mymodule.Config",
    .tp_doc = PyDoc_STR("Config(timeout=30, url='http://example.com', ssl=True)\n\n"
                        "A validated client configuration whose process() runs in native code."),
    .tp_basicsize = sizeof(ConfigObject),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = Config_new,
    .tp_init = (initproc)Config_init,
    .tp_dealloc = (destructor)Config_dealloc,
    .tp_repr = (reprfunc)Config_repr,
    .tp_members = Config_members,
    .tp_getset = Config_getset,
    .tp_methods = Config_methods,
};
/* clang-format on */

static PyMethodDef mymodule_methods[] = {
    {"process_handle", mymodule_process_handle, METH_O,
     "process_handle(handle) -> str\n\nBuild the request line from a Config.native_handle() capsule."},
    {"live_handles", mymodule_live_handles, METH_NOARGS,
     "live_handles() -> int\n\nNative handles created and not yet freed by their capsule."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mymodule_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mymodule",
    .m_doc = "Part I: a Config type written by hand against the CPython C API.",
    .m_size = -1,
    .m_methods = mymodule_methods,
};

PyMODINIT_FUNC PyInit_mymodule(void) {
    if (PyType_Ready(&ConfigType) < 0) {
        return NULL;
    }
    PyObject* module = PyModule_Create(&mymodule_def);
    if (!module) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Config", (PyObject*)&ConfigType) < 0 ||
        PyModule_AddStringConstant(module, "HANDLE_CAPSULE_NAME", CONFIG_HANDLE_CAPSULE_NAME) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
