/* osiris.drivers.postgres._pgcopy: the Python face of the binary COPY decoder (pgcopy_core.c).
 *
 * Decoder(columns, row_hint) takes (kind, precision, scale) per column. Bytes reach it two ways:
 *   feed(data)   any bytes-like object; the pure path, used by the tests and the fuzzers;
 *   pump(conn, get, free, max_rows, max_bytes)   pulls CopyData messages straight from a libpq
 *                connection (the PGconn* psycopg opened, and PQgetCopyData/PQfreemem of the very libpq
 *                psycopg loaded, all passed in as addresses by native_read.py), so no Python code runs
 *                per row and nothing links against libpq at build time. True while the COPY goes on,
 *                False once libpq reports its end (the caller then checks the server's result).
 * Both release the GIL while decoding. take() hands the batch's buffers over without copying
 * (each an object with the buffer protocol; when pyarrow lets go of it, its memory goes to the
 * buffer cache of pgcopy_pool.c for the next batches, or is freed):
 *   (rows, [(validity or None, offsets or None, data, null_count), ...]).
 * A malformed stream raises DecodeError(code, column, message); the decoder is unusable after. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pgcopy_core.h"
#include "pgcopy_pool.h"

typedef int (*getcopydata_fn)(void *conn, char **buffer, int async);
typedef void (*freemem_fn)(void *ptr);

static PyObject *DecodeError;
static PyObject *LibpqError;

/* ---- Owned: a malloc'ed block exposed read-only through the buffer protocol ------------------- */

typedef struct {
    PyObject_HEAD
    uint8_t *data;
    Py_ssize_t len;
    size_t cap;
} Owned;

static void Owned_dealloc(Owned *self) {
    pgc_pool_give(self->data, self->cap);  /* the next batch's buffers, already mapped */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Owned_getbuffer(Owned *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->len, 1, flags);
}

static PyBufferProcs Owned_as_buffer = {.bf_getbuffer = (getbufferproc)Owned_getbuffer};

static PyTypeObject OwnedType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "osiris.drivers.postgres._pgcopy.Owned",
    .tp_basicsize = sizeof(Owned),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Owned_dealloc,
    .tp_as_buffer = &Owned_as_buffer,
};

/* takes `b`'s memory (b is left empty); an empty buffer still gets a real allocation */
static PyObject *owned_from(pgc_buf *b) {
    if (!b->data) {
        b->data = calloc(1, 8);
        b->len = 0;
        b->cap = 8;
        if (!b->data) return PyErr_NoMemory();
    }
    Owned *o = PyObject_New(Owned, &OwnedType);
    if (!o) return NULL;
    size_t len;
    o->data = pgc_buf_release(b, &len, &o->cap);
    o->len = (Py_ssize_t)len;
    return (PyObject *)o;
}

/* ---- Decoder --------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pgc_decoder d;
    int ready;
    int busy;  /* a feed/pump is running without the GIL: a second call must not touch the state */
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
    if (n < 1 || n > 1664) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "1 to 1664 columns");
        return -1;
    }
    int *spec = PyMem_Calloc((size_t)n * 3, sizeof(int));
    if (!spec) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int kind, precision, scale;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iii", &kind, &precision, &scale)) {
            PyMem_Free(spec);
            Py_DECREF(seq);
            return -1;
        }
        spec[i] = kind;
        spec[n + i] = precision;
        spec[2 * n + i] = scale;
    }
    Py_DECREF(seq);
    int rc = pgc_init(&self->d, (int)n, spec, spec + n, spec + 2 * n, row_hint);
    PyMem_Free(spec);
    if (rc) {
        PyErr_SetString(PyExc_ValueError, self->d.error);
        pgc_free(&self->d);
        return -1;
    }
    self->ready = 1;
    return 0;
}

static void Decoder_dealloc(Decoder *self) {
    if (self->ready) pgc_free(&self->d);
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

static PyObject *Decoder_feed(Decoder *self, PyObject *arg) {
    Py_buffer view;
    if (enter(self)) return NULL;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) {
        self->busy = 0;
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pgc_feed(&self->d, view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    self->busy = 0;
    if (rc) return raise_decode_error(self);
    Py_RETURN_NONE;
}

static PyObject *Decoder_finish(Decoder *self, PyObject *unused) {
    if (enter(self)) return NULL;
    int rc = pgc_finish(&self->d);
    self->busy = 0;
    if (rc) return raise_decode_error(self);
    Py_RETURN_NONE;
}

static PyObject *Decoder_pump(Decoder *self, PyObject *args) {
    unsigned long long conn, get, release;
    Py_ssize_t max_rows, max_bytes;
    if (!PyArg_ParseTuple(args, "KKKnn", &conn, &get, &release, &max_rows, &max_bytes)) return NULL;
    if (!conn || !get || !release) {
        PyErr_SetString(PyExc_ValueError, "pump needs a connection and the two libpq functions");
        return NULL;
    }
    if (enter(self)) return NULL;
    getcopydata_fn getcopydata = (getcopydata_fn)(uintptr_t)get;
    freemem_fn freemem = (freemem_fn)(uintptr_t)release;
    void *pgconn = (void *)(uintptr_t)conn;
    int status = 1; /* 1: batch full, 0: COPY ended, -1: decode error, -2: libpq error */
    Py_BEGIN_ALLOW_THREADS
    while (self->d.rows < max_rows && self->d.batch_bytes < max_bytes) {
        char *buffer = NULL;
        int n = getcopydata(pgconn, &buffer, 0);
        if (n == -1) { status = 0; break; }
        if (n < 0) { status = -2; break; }
        int rc = pgc_feed(&self->d, (const uint8_t *)buffer, (size_t)n);
        if (buffer) freemem(buffer);
        if (rc) { status = -1; break; }
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (status == -1) return raise_decode_error(self);
    if (status == -2) {
        PyErr_SetString(LibpqError, "the connection failed while reading the COPY stream");
        return NULL;
    }
    return PyBool_FromLong(status);
}

static PyObject *Decoder_take(Decoder *self, PyObject *unused) {
    if (enter(self)) return NULL;
    pgc_decoder *d = &self->d;
    if (d->error_code) {
        self->busy = 0;
        return raise_decode_error(self);
    }
    PyObject *columns = PyList_New(d->ncols);
    if (!columns) goto fail;
    for (int i = 0; i < d->ncols; i++) {
        pgc_column *c = &d->cols[i];
        int var = c->kind == PGC_TEXT || c->kind == PGC_BYTEA || c->kind == PGC_JSONB;
        if (var && c->offsets.len == 0) {  /* no rows: the one offset 0 */
            c->offsets.data = calloc(1, 8);
            if (!c->offsets.data) { PyErr_NoMemory(); goto fail; }
            c->offsets.len = 4;
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
    pgc_clear_batch(d); /* frees what was not handed over (a validity bitmap with no NULLs) */
    self->busy = 0;
    return Py_BuildValue("(LN)", rows, columns);
fail:
    Py_XDECREF(columns);
    pgc_clear_batch(d);
    self->busy = 0;
    return NULL;
}

static PyObject *Decoder_get_rows(Decoder *self, void *unused) {
    return PyLong_FromLongLong(self->ready ? (long long)self->d.rows : 0);
}

static PyObject *Decoder_get_batch_bytes(Decoder *self, void *unused) {
    return PyLong_FromLongLong(self->ready ? (long long)self->d.batch_bytes : 0);
}

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)Decoder_feed, METH_O, "Decode the next bytes of the stream (any split)."},
    {"pump", (PyCFunction)Decoder_pump, METH_VARARGS, "Read CopyData from a libpq connection until a batch is full."},
    {"finish", (PyCFunction)Decoder_finish, METH_NOARGS, "The stream ended: raise unless it was complete; a next stream may follow into the same batch."},
    {"take", (PyCFunction)Decoder_take, METH_NOARGS, "(rows, column buffers) of the current batch; starts a new one."},
    {NULL},
};

static PyGetSetDef Decoder_getset[] = {
    {"rows", (getter)Decoder_get_rows, NULL, "rows in the current batch", NULL},
    {"batch_bytes", (getter)Decoder_get_batch_bytes, NULL, "stream bytes in the current batch", NULL},
    {NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "osiris.drivers.postgres._pgcopy.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

/* pool_stats() -> (blocks held, bytes held, reservations served): the buffer cache, for the tests */
static PyObject *pool_stats(PyObject *unused, PyObject *noargs) {
    int blocks;
    size_t bytes;
    long served;
    pgc_pool_stats(&blocks, &bytes, &served);
    return Py_BuildValue("(inl)", blocks, (Py_ssize_t)bytes, served);
}

static PyMethodDef module_methods[] = {
    {"pool_stats", pool_stats, METH_NOARGS, "(blocks held, bytes held, reservations served) of the buffer cache"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pgcopy",
                                    "PostgreSQL binary COPY -> Arrow buffers (see _pgcopy.c).", -1, module_methods};

PyMODINIT_FUNC PyInit__pgcopy(void) {
    if (PyType_Ready(&OwnedType) < 0 || PyType_Ready(&DecoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    DecodeError = PyErr_NewException("osiris.drivers.postgres._pgcopy.DecodeError", PyExc_ValueError, NULL);
    LibpqError = PyErr_NewException("osiris.drivers.postgres._pgcopy.LibpqError", PyExc_OSError, NULL);
    if (!DecodeError || !LibpqError || PyModule_AddObjectRef(m, "DecodeError", DecodeError) < 0 ||
        PyModule_AddObjectRef(m, "LibpqError", LibpqError) < 0 ||
        PyModule_AddObjectRef(m, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#define KIND(name) PyModule_AddIntConstant(m, #name, PGC_##name)
    if (KIND(BOOL) || KIND(INT2) || KIND(INT4) || KIND(INT8) || KIND(FLOAT4) || KIND(FLOAT8) || KIND(DATE) ||
        KIND(TIME) || KIND(TIMESTAMP) || KIND(TEXT) || KIND(BYTEA) || KIND(JSONB) || KIND(UUID) || KIND(DECIMAL) ||
        KIND(ERR_STREAM) || KIND(ERR_RANGE) || KIND(ERR_DECIMAL) || KIND(ERR_MEMORY)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
