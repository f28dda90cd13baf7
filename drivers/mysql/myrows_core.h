/* MySQL binary-protocol result rows -> Arrow column buffers: a pure decoder over bytes.
 *
 * The bytes are what a server sends after COM_STMT_EXECUTE's column definitions: one packet per
 * row (4-byte header, then 0x00, the NULL bitmap and the values), ended by an EOF/OK packet or
 * an ERR packet. Kept apart from the Python binding (_myrows.c) so it can be fed any split of
 * the stream, and fuzzed alone. Every length read from the stream is checked against the bytes
 * present before it is used; a malformed stream sets `error` and every later call fails. */
#ifndef OSIRIS_MYROWS_CORE_H
#define OSIRIS_MYROWS_CORE_H

#include <stddef.h>
#include <stdint.h>

/* column kinds: what one result column decodes to (drivers/mysql/native.py maps the metadata) */
enum {
    MYR_BOOL = 1,  /* TINYINT(1) -> bool (non-zero is true) */
    MYR_INT8,      /* TINY -> 1 byte (int8 or uint8) */
    MYR_INT16,     /* SHORT, YEAR -> 2 bytes */
    MYR_INT32,     /* LONG, INT24 -> 4 bytes */
    MYR_INT64,     /* LONGLONG -> 8 bytes */
    MYR_FLOAT,     /* FLOAT -> float32 */
    MYR_DOUBLE,    /* DOUBLE -> float64 */
    MYR_DATE,      /* DATE -> date32 (days since 1970) */
    MYR_DATETIME,  /* DATETIME, TIMESTAMP -> int64 microseconds since 1970 */
    MYR_DECIMAL,   /* DECIMAL(p <= 38, s), sent as text -> decimal128(p, s) */
    MYR_TEXT,      /* character strings, JSON -> utf8 (validated) */
    MYR_BINARY,    /* binary strings, GEOMETRY -> binary */
    MYR_NULL,      /* the NULL type: every value is NULL */
    MYR_KIND_MAX
};

/* error classes: Python turns each into its own message */
enum {
    MYR_ERR_NONE = 0,
    MYR_ERR_STREAM,   /* the bytes are not binary rows of the described columns */
    MYR_ERR_RANGE,    /* a zero or partial date ('0000-00-00', '2024-00-10') no Arrow date can hold */
    MYR_ERR_DECIMAL,  /* a decimal with more digits than its column declares */
    MYR_ERR_MEMORY,
};

/* what myr_feed stopped at */
enum {
    MYR_MORE = 0,    /* every byte was used; more are needed */
    MYR_FULL,        /* the batch holds max_rows rows; the rest of the bytes were not used */
    MYR_END,         /* the result's EOF/OK packet: the result is complete */
    MYR_SERVER_ERR,  /* an ERR packet: its payload is in `server_error` */
};

typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t hint; /* the most bytes an earlier batch needed: sizes a new batch's first reservation */
} myr_buf;

typedef struct {
    int kind, precision, scale;
    myr_buf valid;    /* validity bitmap, one bit per row */
    myr_buf offsets;  /* int32 offsets, rows + 1 (text/binary only) */
    myr_buf data;     /* values (a bitmap for bool) */
    int64_t nulls;
} myr_column;

typedef struct {
    int ncols;
    myr_column *cols;
    int64_t rows;          /* rows decoded into the current batch */
    int64_t batch_bytes;   /* stream bytes of those rows */
    int64_t row_hint;      /* rows a batch is expected to hold: the first reservation */
    int ended;             /* the EOF/OK or ERR packet was seen */
    myr_buf carry;         /* bytes of an incomplete packet, waiting for the next feed */
    myr_buf joined;        /* the payload of a row sent in several packets (16 MiB each) */
    myr_buf server_error;  /* the ERR packet's payload */
    int error_code;
    int error_column;      /* the column the error is about, -1 when none */
    char error[200];
} myr_decoder;

/* 0, or -1 (d->error). kinds/precisions/scales have ncols entries; 1 <= ncols <= 4096. */
int myr_init(myr_decoder *d, int ncols, const int *kinds, const int *precisions, const int *scales, int64_t row_hint);
void myr_free(myr_decoder *d);
/* Take `n` bytes (any split of the stream; n may be 0) and decode until the batch holds `max_rows`
 * rows or the result ends. Bytes not decoded yet (an incomplete packet, or what follows a full
 * batch) are kept for the next call, so after MYR_FULL and taking the batch, feed 0 bytes to go on.
 * *trailing gets the count of bytes that followed the end of the result (a protocol error for the
 * caller to report). Returns MYR_MORE, MYR_FULL, MYR_END or MYR_SERVER_ERR, or -1 (d->error). */
int myr_feed(myr_decoder *d, const uint8_t *p, size_t n, int64_t max_rows, size_t *trailing);
/* Hand `b`'s memory over (NULL when it has none): size in *len, capacity in *cap; `b` is left empty. */
uint8_t *myr_buf_release(myr_buf *b, size_t *len, size_t *cap);
/* Free the current batch's buffers (what was not handed over) and start an empty batch. */
void myr_clear_batch(myr_decoder *d);

#endif
