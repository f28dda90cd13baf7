/* osiris.drivers.mysql._myrows: the Python face of the binary-protocol row decoder (myrows_core.c).
 *
 * Decoder(columns, row_hint) takes (kind, precision, scale) per column.
 *   feed(data, max_rows) -> (status, trailing)   decodes any bytes-like object without the GIL;
 *       status is MORE, FULL (take the batch, then feed b"" to go on), END or SERVER_ERR (the
 *       ERR packet's payload is in `server_error`); trailing counts bytes after the result's end.
 *   take() -> (rows, [(validity or None, offsets or None, data, null_count), ...]) hands the
 *       batch's buffers over without copying (objects with the buffer protocol, freed when
 *       pyarrow lets go of them) and starts the next batch.
 * A malformed stream raises DecodeError(code, column, message); the decoder is unusable after. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "myrows_core.h"

static PyObject *DecodeError;

/* ---- Owned: a malloc'ed block exposed read-only through the buffer protocol ------------------- */

typedef struct {
    PyObject_HEAD
    uint8_t *data;
    Py_ssize_t len;
} Owned;

static void Owned_dealloc(Owned *self) {
    free(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Owned_getbuffer(Owned *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->len, 1, flags);
}

static PyBufferProcs Owned_as_buffer = {.bf_getbuffer = (getbufferproc)Owned_getbuffer};

static PyTypeObject OwnedType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "osiris.drivers.mysql._myrows.Owned",
    .tp_basicsize = sizeof(Owned),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Owned_dealloc,
    .tp_as_buffer = &Owned_as_buffer,
};

/* takes `b`'s memory (b is left empty); an empty buffer still gets a real allocation */
static PyObject *owned_from(myr_buf *b) {
    if (!b->data) {
        b->data = calloc(1, 8);
        b->len = 0;
        b->cap = 8;
        if (!b->data) return PyErr_NoMemory();
    }
    Owned *o = PyObject_New(Owned, &OwnedType);
    if (!o) return NULL;
    size_t len, cap;
    o->data = myr_buf_release(b, &len, &cap);
    o->len = (Py_ssize_t)len;
    return (PyObject *)o;
}

/* ---- Decoder --------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    myr_decoder d;
    int ready;
    int busy; /* a feed is running without the GIL: a second call must not touch the state */
} Decoder;

static PyObject *raise_decode_error(Decoder *self) {
    PyObject *args = Py_BuildValue("(iis)", self->d.error_code, self->d.error_column, self->d.error);
    if (args) {
        PyErr_SetObject(DecodeError, args);
        Py_DECREF(args);
    }
    return NULL;
}

static int Decoder_init(Decoder *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"columns", "row_hint", NULL};
    PyObject *columns;
    Py_ssize_t row_hint = 65536;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n", names, &columns, &row_hint)) return -1;
    if (self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is already initialised");
        return -1;
    }
    PyObject *seq = PySequence_Fast(columns, "columns must be a sequence of (kind, precision, scale)");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > 4096) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "1 to 4096 columns");
        return -1;
    }
    int *spec = PyMem_Calloc((size_t)n * 3, sizeof(int));
    if (!spec) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iii", spec + i, spec + n + i, spec + 2 * n + i)) {
            PyMem_Free(spec);
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    int rc = myr_init(&self->d, (int)n, spec, spec + n, spec + 2 * n, row_hint);
    PyMem_Free(spec);
    if (rc) {
        PyErr_SetString(PyExc_ValueError, self->d.error);
        myr_free(&self->d);
        return -1;
    }
    self->ready = 1;
    return 0;
}

static void Decoder_dealloc(Decoder *self) {
    if (self->ready) myr_free(&self->d);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int enter(Decoder *self) {
    if (!self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is not initialised");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is in use by another thread");
        return -1;
    }
    self->busy = 1;
    return 0;
}

static PyObject *Decoder_feed(Decoder *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t max_rows;
    if (!PyArg_ParseTuple(args, "y*n", &view, &max_rows)) return NULL;
    if (enter(self)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int rc;
    size_t trailing = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = myr_feed(&self->d, view.buf, (size_t)view.len, max_rows < 1 ? 1 : max_rows, &trailing);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    self->busy = 0;
    if (rc < 0) return raise_decode_error(self);
    return Py_BuildValue("(in)", rc, (Py_ssize_t)trailing);
}

static PyObject *Decoder_take(Decoder *self, PyObject *unused) {
    if (enter(self)) return NULL;
    myr_decoder *d = &self->d;
    if (d->error_code) {
        self->busy = 0;
        return raise_decode_error(self);
    }
    PyObject *columns = PyList_New(d->ncols);
    if (!columns) goto fail;
    for (int i = 0; i < d->ncols; i++) {
        myr_column *c = &d->cols[i];
        int var = c->kind == MYR_TEXT || c->kind == MYR_BINARY;
        if (var && c->offsets.len == 0) { /* no rows: the one offset 0 */
            c->offsets.data = calloc(1, 8);
            if (!c->offsets.data) { PyErr_NoMemory(); goto fail; }
            c->offsets.len = 4;
            c->offsets.cap = 8;
        }
        PyObject *valid = c->nulls ? owned_from(&c->valid) : Py_NewRef(Py_None);
        PyObject *offsets = var ? owned_from(&c->offsets) : Py_NewRef(Py_None);
        PyObject *data = owned_from(&c->data);
        PyObject *item = (valid && offsets && data) ? Py_BuildValue("(OOOL)", valid, offsets, data, (long long)c->nulls) : NULL;
        Py_XDECREF(valid);
        Py_XDECREF(offsets);
        Py_XDECREF(data);
        if (!item) goto fail;
        PyList_SET_ITEM(columns, i, item);
    }
    long long rows = (long long)d->rows;
    myr_clear_batch(d); /* frees what was not handed over (a validity bitmap with no NULLs) */
    self->busy = 0;
    return Py_BuildValue("(LN)", rows, columns);
fail:
    Py_XDECREF(columns);
    myr_clear_batch(d);
    self->busy = 0;
    return NULL;
}

static PyObject *Decoder_get_rows(Decoder *self, void *unused) {
    return PyLong_FromLongLong(self->ready ? (long long)self->d.rows : 0);
}

static PyObject *Decoder_get_batch_bytes(Decoder *self, void *unused) {
    return PyLong_FromLongLong(self->ready ? (long long)self->d.batch_bytes : 0);
}

static PyObject *Decoder_get_server_error(Decoder *self, void *unused) {
    if (!self->ready) return PyBytes_FromStringAndSize("", 0);
    return PyBytes_FromStringAndSize((const char *)self->d.server_error.data, (Py_ssize_t)self->d.server_error.len);
}

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)Decoder_feed, METH_VARARGS, "Decode the next bytes of the result (any split) until a batch is full."},
    {"take", (PyCFunction)Decoder_take, METH_NOARGS, "(rows, column buffers) of the current batch; starts a new one."},
    {NULL},
};

static PyGetSetDef Decoder_getset[] = {
    {"rows", (getter)Decoder_get_rows, NULL, "rows in the current batch", NULL},
    {"batch_bytes", (getter)Decoder_get_batch_bytes, NULL, "stream bytes in the current batch", NULL},
    {"server_error", (getter)Decoder_get_server_error, NULL, "the payload of the ERR packet that ended the result", NULL},
    {NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "osiris.drivers.mysql._myrows.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_myrows",
                                    "MySQL binary-protocol rows -> Arrow buffers (see _myrows.c).", -1, NULL};

PyMODINIT_FUNC PyInit__myrows(void) {
    if (PyType_Ready(&OwnedType) < 0 || PyType_Ready(&DecoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    DecodeError = PyErr_NewException("osiris.drivers.mysql._myrows.DecodeError", PyExc_ValueError, NULL);
    if (!DecodeError || PyModule_AddObjectRef(m, "DecodeError", DecodeError) < 0 ||
        PyModule_AddObjectRef(m, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#define CONST(name) PyModule_AddIntConstant(m, #name, MYR_##name)
    if (CONST(BOOL) || CONST(INT8) || CONST(INT16) || CONST(INT32) || CONST(INT64) || CONST(FLOAT) || CONST(DOUBLE) ||
        CONST(DATE) || CONST(DATETIME) || CONST(DECIMAL) || CONST(TEXT) || CONST(BINARY) || CONST(NULL) ||
        CONST(ERR_STREAM) || CONST(ERR_RANGE) || CONST(ERR_DECIMAL) || CONST(ERR_MEMORY) || CONST(MORE) ||
        CONST(FULL) || CONST(END) || CONST(SERVER_ERR)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
