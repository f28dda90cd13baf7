/* Experiment (issue 12, item 2): PostgreSQL binary COPY -> Arrow buffers in C over libpq.
 *
 * Not part of the package and not built by the install: bench/native_decoder/measure.py compiles
 * it into a temporary directory and times it against ADBC's reader and DuckDB's scanner on the
 * seeded peers table, to size what a native decoder would buy. It handles exactly the ten column
 * types of that table (no arrays, intervals, uuid, json, infinities); numeric(p <= 18, s) goes
 * straight to decimal128 from its binary form, so the server sends numerics in binary too.
 * Reader(conninfo, copy_sql, [(type, scale), ...]).read(max_rows) -> (rows, [(validity, offsets,
 * data, null_count), ...]) or None at the end; the GIL is released while rows are decoded. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

enum { T_BOOL = 1, T_I16, T_I32, T_I64, T_F32, T_F64, T_DATE, T_TS, T_TEXT, T_NUMERIC };

typedef struct { char *data; size_t len, cap; } Buf;
static int reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 1 << 16;
    while (nc < b->len + extra) nc *= 2;
    char *p = realloc(b->data, nc);
    if (!p) return -1;
    b->data = p; b->cap = nc; return 0;
}
typedef struct { int type, scale; Buf valid, off, data; int64_t nulls; } Col;

typedef struct {
    PyObject_HEAD
    const char *errmsg;
    PGconn *conn; int ncols; Col *cols; int done; int header_done; int64_t rows;
} Reader;

static inline uint16_t be16(const char *p) { uint16_t v; memcpy(&v, p, 2); return __builtin_bswap16(v); }
static inline uint32_t be32(const char *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
static inline uint64_t be64(const char *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }
static const int64_t POW10[19] = {1LL,10LL,100LL,1000LL,10000LL,100000LL,1000000LL,10000000LL,100000000LL,
  1000000000LL,10000000000LL,100000000000LL,1000000000000LL,10000000000000LL,100000000000000LL,
  1000000000000000LL,10000000000000000LL,100000000000000000LL,1000000000000000000LL};

static void reset(Reader *r) {
    for (int i = 0; i < r->ncols; i++) { Col *c = &r->cols[i]; c->valid.len = c->off.len = c->data.len = 0; c->nulls = 0; }
    r->rows = 0;
}

static int set_bit(Buf *b, int64_t i, int v) {
    if ((i & 7) == 0) { if (reserve(b, 1)) return -1; b->data[b->len++] = 0; }
    if (v) b->data[i >> 3] |= (char)(1 << (i & 7));
    return 0;
}

/* one CopyData row: 1 decoded, 0 the trailer, -1 an error (r->errmsg) */
static int decode_row(Reader *r, const char *p, const char *end) {
    if (end - p < 2) { r->errmsg = "short row"; return -1; }
    int16_t n = (int16_t)be16(p); p += 2;
    if (n == -1) return 0;
    if (n != r->ncols) { r->errmsg = "unexpected field count"; return -1; }
    int64_t row = r->rows;
    for (int i = 0; i < n; i++) {
        Col *c = &r->cols[i];
        int32_t len = (int32_t)be32(p); p += 4;
        int isnull = len < 0;
        if (set_bit(&c->valid, row, !isnull)) return -1;
        if (isnull) c->nulls++;
        switch (c->type) {
        case T_BOOL:
            if (set_bit(&c->data, row, !isnull && *p)) return -1; break;
        case T_I16: if (reserve(&c->data, 2)) return -1;
            { uint16_t v = isnull ? 0 : be16(p); memcpy(c->data.data + c->data.len, &v, 2); c->data.len += 2; } break;
        case T_I32: case T_F32: if (reserve(&c->data, 4)) return -1;
            { uint32_t v = isnull ? 0 : be32(p); memcpy(c->data.data + c->data.len, &v, 4); c->data.len += 4; } break;
        case T_DATE: if (reserve(&c->data, 4)) return -1;
            { int32_t v = isnull ? 0 : (int32_t)be32(p) + 10957; memcpy(c->data.data + c->data.len, &v, 4); c->data.len += 4; } break;
        case T_I64: case T_F64: if (reserve(&c->data, 8)) return -1;
            { uint64_t v = isnull ? 0 : be64(p); memcpy(c->data.data + c->data.len, &v, 8); c->data.len += 8; } break;
        case T_TS: if (reserve(&c->data, 8)) return -1;
            { int64_t v = isnull ? 0 : (int64_t)be64(p) + 946684800000000LL; memcpy(c->data.data + c->data.len, &v, 8); c->data.len += 8; } break;
        case T_TEXT:
            if (row == 0) { if (reserve(&c->off, 4)) return -1; int32_t z = 0; memcpy(c->off.data, &z, 4); c->off.len = 4; }
            if (!isnull) { if (reserve(&c->data, len)) return -1; memcpy(c->data.data + c->data.len, p, len); c->data.len += len; }
            if (reserve(&c->off, 4)) return -1;
            { int32_t o = (int32_t)c->data.len; memcpy(c->off.data + c->off.len, &o, 4); c->off.len += 4; } break;
        case T_NUMERIC: {
            if (reserve(&c->data, 16)) return -1;
            int64_t v = 0;
            if (!isnull) {
                int nd = (int16_t)be16(p), weight = (int16_t)be16(p + 2), sign = be16(p + 4);
                if (sign == 0xC000) { r->errmsg = "NaN numeric"; return -1; }
                for (int k = 0; k < nd; k++) {
                    int64_t d = be16(p + 8 + 2 * k);
                    int e = 4 * (weight - k) + c->scale;
                    if (e >= 0) v += d * POW10[e];
                    else v += d / POW10[-e]; /* digits beyond the scale: only zeros for a typmod'd column */
                }
                if (sign == 0x4000) v = -v;
            }
            int64_t hi = v < 0 ? -1 : 0;
            memcpy(c->data.data + c->data.len, &v, 8); memcpy(c->data.data + c->data.len + 8, &hi, 8);
            c->data.len += 16; break; }
        }
        if (!isnull) p += len;
        if (p > end) { r->errmsg = "truncated row"; return -1; }
    }
    r->rows++;
    return 1;
}

static PyObject *Reader_read(Reader *r, PyObject *args) {
    Py_ssize_t max_rows;
    if (!PyArg_ParseTuple(args, "n", &max_rows)) return NULL;
    if (r->done) Py_RETURN_NONE;
    reset(r);
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    while (r->rows < max_rows) {
        char *buf = NULL;
        int len = PQgetCopyData(r->conn, &buf, 0);
        if (len == -1) { r->done = 1; break; }
        if (len < 0) { err = 1; break; }
        const char *p = buf, *end = buf + len;
        if (!r->header_done) {
            if (len >= 19 && memcmp(p, "PGCOPY\n\377\r\n\0", 11) == 0) {
                uint32_t ext = be32(p + 15); p += 19 + ext; r->header_done = 1;
                if (p >= end) { PQfreemem(buf); continue; }
            }
        }
        int got;
        got = decode_row(r, p, end);
        PQfreemem(buf);
        if (got < 0) { err = 2; break; }
        if (got == 0) { r->done = 1; }
    }
    Py_END_ALLOW_THREADS
    if (err == 1) { PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(r->conn)); return NULL; }
    if (err == 2) { PyErr_SetString(PyExc_ValueError, r->errmsg); return NULL; }
    if (r->done) { PGresult *res; while ((res = PQgetResult(r->conn))) PQclear(res); }
    PyObject *cols = PyList_New(r->ncols);
    for (int i = 0; i < r->ncols; i++) {
        Col *c = &r->cols[i];
        PyObject *t = Py_BuildValue("(y#y#y#L)", c->valid.data ? c->valid.data : "", (Py_ssize_t)c->valid.len,
                                    c->off.data ? c->off.data : "", (Py_ssize_t)c->off.len,
                                    c->data.data ? c->data.data : "", (Py_ssize_t)c->data.len, (long long)c->nulls);
        PyList_SET_ITEM(cols, i, t);
    }
    return Py_BuildValue("(LN)", (long long)r->rows, cols);
}

static int Reader_init(Reader *r, PyObject *args, PyObject *kw) {
    const char *conninfo, *sql; PyObject *types;
    if (!PyArg_ParseTuple(args, "ssO", &conninfo, &sql, &types)) return -1;
    r->ncols = (int)PyList_Size(types);
    r->cols = calloc(r->ncols, sizeof(Col));
    for (int i = 0; i < r->ncols; i++) {
        PyObject *t = PyList_GetItem(types, i);
        r->cols[i].type = (int)PyLong_AsLong(PyTuple_GetItem(t, 0));
        r->cols[i].scale = (int)PyLong_AsLong(PyTuple_GetItem(t, 1));
    }
    r->conn = PQconnectdb(conninfo);
    if (PQstatus(r->conn) != CONNECTION_OK) { PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(r->conn)); return -1; }
    PGresult *res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) { PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(r->conn)); PQclear(res); return -1; }
    PQclear(res);
    return 0;
}
static void Reader_dealloc(Reader *r) {
    if (r->conn) PQfinish(r->conn);
    for (int i = 0; r->cols && i < r->ncols; i++) { free(r->cols[i].valid.data); free(r->cols[i].off.data); free(r->cols[i].data.data); }
    free(r->cols);
    Py_TYPE(r)->tp_free((PyObject *)r);
}
static PyMethodDef Reader_methods[] = {{"read", (PyCFunction)Reader_read, METH_VARARGS, NULL}, {NULL}};
static PyTypeObject ReaderType = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "pgcopy_decoder.Reader", .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_new = PyType_GenericNew, .tp_init = (initproc)Reader_init,
    .tp_dealloc = (destructor)Reader_dealloc, .tp_methods = Reader_methods};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "pgcopy_decoder", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_pgcopy_decoder(void) {
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&mod);
    Py_INCREF(&ReaderType); PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType);
    return m;
}
