/* PostgreSQL binary COPY -> Arrow column buffers: a pure decoder over bytes (no Python, no libpq).
 *
 * Kept apart from the Python binding (_pgcopy.c) so the same code is fuzzed on its own under
 * AddressSanitizer (tests/drivers/fuzz/pgcopy_fuzz.c). Every length read from the stream is checked
 * against the bytes actually present before it is used; a malformed stream sets `error` and every
 * later call fails, it never reads outside the buffers it was given. */
#ifndef OSIRIS_PGCOPY_CORE_H
#define OSIRIS_PGCOPY_CORE_H

#include <stddef.h>
#include <stdint.h>

/* column kinds: what one PostgreSQL type decodes to (drivers/postgres/native_plan.py maps OIDs) */
enum {
    PGC_BOOL = 1,   /* bool -> Arrow bool (bitmap) */
    PGC_INT2,       /* int2 -> int16 */
    PGC_INT4,       /* int4 -> int32 */
    PGC_INT8,       /* int8 -> int64 */
    PGC_FLOAT4,     /* float4 -> float32 */
    PGC_FLOAT8,     /* float8 -> float64 */
    PGC_DATE,       /* date -> date32 (days since 1970) */
    PGC_TIME,       /* time -> time64[us] */
    PGC_TIMESTAMP,  /* timestamp, timestamptz -> timestamp[us] (since 1970) */
    PGC_TEXT,       /* text, varchar, bpchar, name, json -> utf8 (validated) */
    PGC_BYTEA,      /* bytea -> binary */
    PGC_JSONB,      /* jsonb (version byte 1 + text) -> utf8 */
    PGC_UUID,       /* uuid -> fixed_size_binary(16) */
    PGC_DECIMAL,    /* numeric(p <= 38, s) -> decimal128(p, s) */
    PGC_KIND_MAX
};

/* error classes: Python turns each into its own message */
enum {
    PGC_ERR_NONE = 0,
    PGC_ERR_STREAM,   /* the bytes are not a valid binary COPY stream of the described columns */
    PGC_ERR_RANGE,    /* a date/timestamp Arrow cannot hold: +/-infinity, beyond its range */
    PGC_ERR_DECIMAL,  /* a numeric that does not fit decimal128(p, s): NaN, infinity, too many digits */
    PGC_ERR_MEMORY,
};

typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t hint;  /* the most bytes an earlier batch needed: sizes a new batch's first reservation */
} pgc_buf;

typedef struct {
    int kind, precision, scale;
    pgc_buf valid;    /* validity bitmap, one bit per row */
    pgc_buf offsets;  /* int32 offsets, rows + 1 (text/bytea/jsonb only) */
    pgc_buf data;     /* values (a bitmap for bool) */
    int64_t nulls;
} pgc_column;

typedef struct {
    int ncols;
    pgc_column *cols;
    int64_t rows;         /* rows decoded into the current batch */
    int64_t batch_bytes;  /* stream bytes of those rows */
    int64_t row_hint;     /* rows a batch is expected to hold: the first reservation */
    int state;            /* 0: header expected, 1: tuples, 2: end-of-data marker seen */
    pgc_buf carry;        /* bytes of an incomplete header/tuple, waiting for the next feed */
    const uint8_t **field_at;  /* per column: start of the field in the tuple being decoded */
    int32_t *field_len;        /* per column: its length, -1 for NULL */
    int error_code;
    int error_column;     /* the column the error is about, -1 when none */
    char error[200];
    int pooled;           /* counted among the buffer cache's users (pgcopy_pool.h) */
} pgc_decoder;

/* 0, or -1 when out of memory. kinds/precisions/scales have ncols entries; 1 <= ncols <= 1664. */
int pgc_init(pgc_decoder *d, int ncols, const int *kinds, const int *precisions, const int *scales, int64_t row_hint);
void pgc_free(pgc_decoder *d);
/* Decode `n` bytes of the stream (any split: a message, a part of one, several). 0, or -1 (d->error). */
int pgc_feed(pgc_decoder *d, const uint8_t *p, size_t n);
/* The stream ended: 0 when it was complete (header, tuples, end-of-data marker, nothing after), else -1.
 * After 0 the decoder expects the header of a next stream, whose rows continue the current batch. */
int pgc_finish(pgc_decoder *d);
/* Hand `b`'s memory over (NULL when it has none): its size in *len, its capacity in *cap; `b` is
 * left empty, remembering its size for the next batch's first reservation. */
uint8_t *pgc_buf_release(pgc_buf *b, size_t *len, size_t *cap);
/* Forget the current batch's buffers (the caller took ownership of them or drops them). */
void pgc_reset_batch(pgc_decoder *d);
/* Free the current batch's buffers and start an empty batch. */
void pgc_clear_batch(pgc_decoder *d);

#endif
