/* PostgreSQL binary COPY -> Arrow column buffers (see pgcopy_core.h).
 *
 * The stream: an 11-byte signature, int32 flags, int32 header-extension length and its bytes; then
 * tuples (int16 field count, per field an int32 length, -1 for NULL, and that many bytes of the
 * type's binary send format, big-endian); then the int16 -1 end-of-data marker. A tuple is scanned
 * whole (every length checked against the bytes present) before any of it is decoded, so an
 * incomplete tuple is kept for the next feed instead of being half-decoded. */
#include "pgcopy_core.h"
#include "pgcopy_pool.h"
#include "../common/utf8_valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGC_MAX_FIELD (1 << 30)             /* PostgreSQL's own limit on one value (MaxAllocSize) */
#define PGC_MAX_CARRY ((size_t)INT32_MAX)   /* a tuple larger than this is refused */
#define PGC_MAX_HEADER_EXT (1 << 20)
#define PG_EPOCH_DAYS 10957                 /* 2000-01-01 - 1970-01-01 */
#define PG_EPOCH_US 946684800000000LL
#define MIN_DATE32 (-2440588LL)             /* 4713-11-24 BC, PostgreSQL's first date, since 1970 */
#define MIN_TS_US (-210866803200000000LL)   /* its first timestamp */
#define US_PER_DAY 86400000000LL

static const uint8_t SIGNATURE[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};

static unsigned __int128 POW10[39];

static void init_pow10(void) {
    if (POW10[0]) return;
    unsigned __int128 v = 1;
    for (int i = 0; i <= 38; i++) { POW10[i] = v; v *= 10; }
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return ((uint64_t)be32(p) << 32) | be32(p + 4); }

static int fail(pgc_decoder *d, int code, int column, const char *fmt, ...) {
    if (d->error_code) return -1;  /* keep the first error */
    va_list args;
    va_start(args, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, args);
    va_end(args);
    d->error_code = code;
    d->error_column = column;
    return -1;
}

/* the rare path of reserve(): double the buffer (from `first` bytes) until `extra` more fit */
static __attribute__((noinline)) int grow(pgc_decoder *d, pgc_buf *b, size_t extra, size_t first) {
    if (!b->data) {  /* a new batch: as much as earlier ones needed, from the cache where it can */
        size_t want = b->hint > first ? b->hint + b->hint / 16 : first;
        if (want < 64) want = 64;
        while (want < extra) want *= 2;
        size_t got = 0;
        uint8_t *cached = pgc_pool_take(want, &got);
        if (cached) {
            b->data = cached;
            b->cap = got;
            return 0;
        }
        first = want;
    }
    size_t cap = b->cap ? b->cap * 2 : first;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return fail(d, PGC_ERR_MEMORY, -1, "out of memory");
    b->data = p;
    b->cap = cap;
    return 0;
}

/* inline, so that an append of a constant width compiles to a store, not a call to memcpy */
static inline int reserve(pgc_decoder *d, pgc_buf *b, size_t extra, size_t first) {
    if (__builtin_expect(b->len + extra <= b->cap, 1)) return 0;
    return grow(d, b, extra, first);
}

static inline int append(pgc_decoder *d, pgc_buf *b, const void *src, size_t n, size_t first) {
    if (reserve(d, b, n, first)) return -1;
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

/* bit `row` of a bitmap grown one byte per 8 rows */
static inline int bit_append(pgc_decoder *d, pgc_buf *b, int64_t row, int set) {
    if ((row & 7) == 0) {
        uint8_t zero = 0;
        if (append(d, b, &zero, 1, (size_t)(d->row_hint / 8 + 1))) return -1;
    }
    if (set) b->data[row >> 3] |= (uint8_t)(1u << (row & 7));
    return 0;
}

static inline int fixed_append(pgc_decoder *d, pgc_column *c, const void *value, size_t width) {
    return append(d, &c->data, value, width, (size_t)d->row_hint * width);
}

static inline int var_append(pgc_decoder *d, pgc_column *c, int col, const uint8_t *p, int32_t len) {
    if (c->offsets.len == 0) {
        int32_t zero = 0;
        if (append(d, &c->offsets, &zero, 4, (size_t)(d->row_hint + 1) * 4)) return -1;
    }
    if (len > 0) {
        if (c->data.len + (size_t)len > (size_t)INT32_MAX)
            return fail(d, PGC_ERR_STREAM, col, "over 2 GiB of values in one batch");
        if (append(d, &c->data, p, (size_t)len, (size_t)d->row_hint * 16)) return -1;
    }
    int32_t end = (int32_t)c->data.len;
    return append(d, &c->offsets, &end, 4, (size_t)(d->row_hint + 1) * 4);
}

/* numeric's binary form (ndigits, weight, sign, dscale, base-10000 digits) -> a decimal128 of `scale` */
static int decode_numeric(pgc_decoder *d, pgc_column *c, int col, const uint8_t *f, int32_t len, __int128 *out) {
    if (len < 8) return fail(d, PGC_ERR_STREAM, col, "a numeric of %d bytes (its header alone is 8)", len);
    int ndigits = (int16_t)be16(f), weight = (int16_t)be16(f + 2), dscale = (int16_t)be16(f + 6);
    uint16_t sign = be16(f + 4);
    if (ndigits < 0 || len != 8 + 2 * ndigits)
        return fail(d, PGC_ERR_STREAM, col, "a numeric claiming %d digits in %d bytes", ndigits, len);
    if (sign == 0xC000) return fail(d, PGC_ERR_DECIMAL, col, "NaN");
    if (sign == 0xD000) return fail(d, PGC_ERR_DECIMAL, col, "Infinity");
    if (sign == 0xF000) return fail(d, PGC_ERR_DECIMAL, col, "-Infinity");
    if (sign != 0 && sign != 0x4000) return fail(d, PGC_ERR_STREAM, col, "a numeric with sign word 0x%04x", sign);
    if (dscale < 0 || dscale > 0x3FFF) return fail(d, PGC_ERR_STREAM, col, "a numeric with display scale %d", dscale);
    const unsigned __int128 limit = POW10[c->precision] - 1;
    unsigned __int128 v = 0;
    for (int k = 0; k < ndigits; k++) {
        unsigned digit = be16(f + 8 + 2 * k);
        if (digit > 9999) return fail(d, PGC_ERR_STREAM, col, "a numeric digit group of %u (over 9999)", digit);
        if (digit == 0) continue;
        int e = 4 * (weight - k) + c->scale;  /* this group's power of ten in the scaled integer */
        if (e >= 0) {
            /* below 10^35 a group adds less than 10^39 - 10^38 to a v <= limit < 10^38: no wrap,
             * so only the rare large exponents need the (128-bit, slow) division */
            if (e > 38 || (e > 34 && digit > limit / POW10[e]))
                return fail(d, PGC_ERR_DECIMAL, col, "more than %d digits", c->precision);
            v += digit * POW10[e];
        } else {
            if (e <= -4 || digit % (unsigned)POW10[-e])
                return fail(d, PGC_ERR_DECIMAL, col, "more than %d digits after the point", c->scale);
            v += digit / (unsigned)POW10[-e];
        }
        if (v > limit) return fail(d, PGC_ERR_DECIMAL, col, "more than %d digits", c->precision);
    }
    *out = sign == 0x4000 ? -(__int128)v : (__int128)v;
    return 0;
}

static int bad_length(pgc_decoder *d, int col, int32_t len, int want) {
    return fail(d, PGC_ERR_STREAM, col, "a value of %d bytes where %d are expected", len, want);
}

/* decode the tuple whose fields step() located */
static int decode_row(pgc_decoder *d) {
    const int64_t row = d->rows;
    for (int i = 0; i < d->ncols; i++) {
        pgc_column *c = &d->cols[i];
        const uint8_t *f = d->field_at[i];
        const int32_t len = d->field_len[i];
        const int valid = len >= 0;
        if (bit_append(d, &c->valid, row, valid)) return -1;
        if (!valid) c->nulls++;
        switch (c->kind) {
        case PGC_BOOL:
            if (valid && len != 1) return bad_length(d, i, len, 1);
            if (bit_append(d, &c->data, row, valid && f[0])) return -1;
            break;
        case PGC_INT2: {
            if (valid && len != 2) return bad_length(d, i, len, 2);
            int16_t v = valid ? (int16_t)be16(f) : 0;
            if (fixed_append(d, c, &v, 2)) return -1;
            break;
        }
        case PGC_INT4:
        case PGC_FLOAT4: {
            if (valid && len != 4) return bad_length(d, i, len, 4);
            uint32_t v = valid ? be32(f) : 0;
            if (fixed_append(d, c, &v, 4)) return -1;
            break;
        }
        case PGC_INT8:
        case PGC_FLOAT8: {
            if (valid && len != 8) return bad_length(d, i, len, 8);
            uint64_t v = valid ? be64(f) : 0;
            if (fixed_append(d, c, &v, 8)) return -1;
            break;
        }
        case PGC_DATE: {
            int32_t v = 0;
            if (valid) {
                if (len != 4) return bad_length(d, i, len, 4);
                int32_t raw = (int32_t)be32(f);
                if (raw == INT32_MAX || raw == INT32_MIN) return fail(d, PGC_ERR_RANGE, i, "infinity");
                int64_t days = (int64_t)raw + PG_EPOCH_DAYS;
                if (days < MIN_DATE32 || days > INT32_MAX) return fail(d, PGC_ERR_RANGE, i, "a date out of range");
                v = (int32_t)days;
            }
            if (fixed_append(d, c, &v, 4)) return -1;
            break;
        }
        case PGC_TIME: {
            int64_t v = 0;
            if (valid) {
                if (len != 8) return bad_length(d, i, len, 8);
                v = (int64_t)be64(f);
                if (v < 0 || v > US_PER_DAY) return fail(d, PGC_ERR_STREAM, i, "a time of day out of range");
            }
            if (fixed_append(d, c, &v, 8)) return -1;
            break;
        }
        case PGC_TIMESTAMP: {
            int64_t v = 0;
            if (valid) {
                if (len != 8) return bad_length(d, i, len, 8);
                int64_t raw = (int64_t)be64(f);
                if (raw == INT64_MAX || raw == INT64_MIN) return fail(d, PGC_ERR_RANGE, i, "infinity");
                if (raw > INT64_MAX - PG_EPOCH_US) return fail(d, PGC_ERR_RANGE, i, "a timestamp out of range");
                v = raw + PG_EPOCH_US;
                if (v < MIN_TS_US) return fail(d, PGC_ERR_RANGE, i, "a timestamp out of range");
            }
            if (fixed_append(d, c, &v, 8)) return -1;
            break;
        }
        case PGC_TEXT:
            if (valid && !utf8_valid(f, (size_t)len)) return fail(d, PGC_ERR_STREAM, i, "text that is not valid UTF-8");
            if (var_append(d, c, i, f, valid ? len : 0)) return -1;
            break;
        case PGC_BYTEA:
            if (var_append(d, c, i, f, valid ? len : 0)) return -1;
            break;
        case PGC_JSONB:
            if (valid) {
                if (len < 1 || f[0] != 1) return fail(d, PGC_ERR_STREAM, i, "jsonb without its version byte 1");
                if (!utf8_valid(f + 1, (size_t)len - 1)) return fail(d, PGC_ERR_STREAM, i, "jsonb that is not valid UTF-8");
            }
            if (var_append(d, c, i, valid ? f + 1 : f, valid ? len - 1 : 0)) return -1;
            break;
        case PGC_UUID: {
            static const uint8_t zeros[16] = {0};
            if (valid && len != 16) return bad_length(d, i, len, 16);
            if (fixed_append(d, c, valid ? f : zeros, 16)) return -1;
            break;
        }
        case PGC_DECIMAL: {
            __int128 v = 0;
            if (valid && decode_numeric(d, c, i, f, len, &v)) return -1;
            uint8_t le[16];
            memcpy(le, &v, 16);  /* little-endian hosts only (checked by pgc_init) */
            if (fixed_append(d, c, le, 16)) return -1;
            break;
        }
        default:
            return fail(d, PGC_ERR_STREAM, i, "no decoder for kind %d", c->kind);
        }
    }
    return 0;
}

/* One unit at p: the header, a tuple or the end-of-data marker. Bytes consumed, 0 when more are needed, -1. */
static int64_t step(pgc_decoder *d, const uint8_t *p, size_t n) {
    if (d->state == 2) return fail(d, PGC_ERR_STREAM, -1, "data after the end-of-data marker");
    if (d->state == 0) {
        if (memcmp(p, SIGNATURE, n < 11 ? n : 11) != 0) return fail(d, PGC_ERR_STREAM, -1, "not a binary COPY stream");
        if (n < 19) return 0;
        uint32_t flags = be32(p + 11), ext = be32(p + 15);
        if (flags & (1u << 16)) return fail(d, PGC_ERR_STREAM, -1, "the stream carries OIDs");
        if (flags & 0xFFFE0000u) return fail(d, PGC_ERR_STREAM, -1, "unknown critical header flags 0x%08x", flags);
        if (ext > PGC_MAX_HEADER_EXT) return fail(d, PGC_ERR_STREAM, -1, "a header extension of %u bytes", ext);
        if (n - 19 < ext) return 0;
        d->state = 1;
        return 19 + (int64_t)ext;
    }
    if (n < 2) return 0;
    int count = (int16_t)be16(p);
    if (count == -1) {
        d->state = 2;
        return 2;
    }
    if (count != d->ncols) return fail(d, PGC_ERR_STREAM, -1, "a row of %d fields where %d are expected", count, d->ncols);
    size_t pos = 2;
    for (int i = 0; i < d->ncols; i++) {
        if (n - pos < 4) return 0;
        int32_t len = (int32_t)be32(p + pos);
        pos += 4;
        if (len == -1) {
            d->field_at[i] = p + pos;
            d->field_len[i] = -1;
            continue;
        }
        if (len < 0) return fail(d, PGC_ERR_STREAM, i, "a field length of %d", len);
        if (len > PGC_MAX_FIELD) return fail(d, PGC_ERR_STREAM, i, "a field of %d bytes (over 1 GiB)", len);
        if (n - pos < (size_t)len) return 0;
        d->field_at[i] = p + pos;
        d->field_len[i] = len;
        pos += (size_t)len;
    }
    if (decode_row(d)) return -1;
    d->rows++;
    d->batch_bytes += (int64_t)pos;
    return (int64_t)pos;
}

static int64_t consume(pgc_decoder *d, const uint8_t *p, size_t n) {
    size_t used = 0;
    while (used < n) {
        int64_t got = step(d, p + used, n - used);
        if (got < 0) return -1;
        if (got == 0) break;
        used += (size_t)got;
    }
    return (int64_t)used;
}

int pgc_feed(pgc_decoder *d, const uint8_t *p, size_t n) {
    if (d->error_code) return -1;
    if (n == 0) return 0;
    if (d->carry.len == 0) {
        int64_t used = consume(d, p, n);
        if (used < 0) return -1;
        if ((size_t)used == n) return 0;
        if (n - (size_t)used > PGC_MAX_CARRY) return fail(d, PGC_ERR_STREAM, -1, "a row larger than 2 GiB");
        return append(d, &d->carry, p + used, n - (size_t)used, 0);
    }
    if (n > PGC_MAX_CARRY - d->carry.len) return fail(d, PGC_ERR_STREAM, -1, "a row larger than 2 GiB");
    if (append(d, &d->carry, p, n, 0)) return -1;
    int64_t used = consume(d, d->carry.data, d->carry.len);
    if (used < 0) return -1;
    memmove(d->carry.data, d->carry.data + used, d->carry.len - (size_t)used);
    d->carry.len -= (size_t)used;
    return 0;
}

int pgc_finish(pgc_decoder *d) {
    if (d->error_code) return -1;
    if (d->state == 0) return fail(d, PGC_ERR_STREAM, -1, "the stream ended before its header");
    if (d->carry.len) return fail(d, PGC_ERR_STREAM, -1, "the stream ended inside a row");
    if (d->state != 2) return fail(d, PGC_ERR_STREAM, -1, "the stream ended without its end-of-data marker");
    d->state = 0; /* a next stream may follow (another page range): its rows go on into the same batch */
    return 0;
}

/* empty `b` (its memory now belongs elsewhere), remembering the most bytes a batch needed: a
 * column that outgrew its first reservation (text) starts the next batch at that size plus 1/16,
 * not at the doubled capacity it grew to, which held up to twice the batch's bytes */
static void forget(pgc_buf *b) {
    if (b->len > b->hint) b->hint = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
}

uint8_t *pgc_buf_release(pgc_buf *b, size_t *len, size_t *cap) {
    uint8_t *data = b->data;
    *len = b->len;
    *cap = b->cap;
    forget(b);
    return data;
}

void pgc_reset_batch(pgc_decoder *d) {
    for (int i = 0; d->cols && i < d->ncols; i++) {
        pgc_column *c = &d->cols[i];
        forget(&c->valid);
        forget(&c->offsets);
        forget(&c->data);
        c->nulls = 0;
    }
    d->rows = 0;
    d->batch_bytes = 0;
}

void pgc_clear_batch(pgc_decoder *d) {
    for (int i = 0; d->cols && i < d->ncols; i++) {
        pgc_pool_give(d->cols[i].valid.data, d->cols[i].valid.cap);
        pgc_pool_give(d->cols[i].offsets.data, d->cols[i].offsets.cap);
        pgc_pool_give(d->cols[i].data.data, d->cols[i].data.cap);
    }
    pgc_reset_batch(d);
}

int pgc_init(pgc_decoder *d, int ncols, const int *kinds, const int *precisions, const int *scales, int64_t row_hint) {
    const uint16_t probe = 1;
    memset(d, 0, sizeof *d);
    d->error_column = -1;
    init_pow10();
    if (*(const uint8_t *)&probe != 1) return fail(d, PGC_ERR_STREAM, -1, "a big-endian host is not supported");
    if (ncols < 1 || ncols > 1664) return fail(d, PGC_ERR_STREAM, -1, "%d columns (1 to 1664 are possible)", ncols);
    for (int i = 0; i < ncols; i++) {
        if (kinds[i] < PGC_BOOL || kinds[i] >= PGC_KIND_MAX) return fail(d, PGC_ERR_STREAM, i, "unknown kind %d", kinds[i]);
        if (kinds[i] == PGC_DECIMAL && (precisions[i] < 1 || precisions[i] > 38 || scales[i] < 0 || scales[i] > precisions[i]))
            return fail(d, PGC_ERR_STREAM, i, "decimal128(%d, %d) is not supported", precisions[i], scales[i]);
    }
    d->ncols = ncols;
    d->row_hint = row_hint < 1 ? 1 : (row_hint > (1 << 20) ? (1 << 20) : row_hint);
    d->cols = calloc((size_t)ncols, sizeof *d->cols);
    d->field_at = calloc((size_t)ncols, sizeof *d->field_at);
    d->field_len = calloc((size_t)ncols, sizeof *d->field_len);
    if (!d->cols || !d->field_at || !d->field_len) {
        pgc_free(d);
        return fail(d, PGC_ERR_MEMORY, -1, "out of memory");
    }
    for (int i = 0; i < ncols; i++) {
        d->cols[i].kind = kinds[i];
        d->cols[i].precision = precisions[i];
        d->cols[i].scale = scales[i];
    }
    d->pooled = 1;
    pgc_pool_users(+1);
    return 0;
}

void pgc_free(pgc_decoder *d) {
    pgc_clear_batch(d);
    if (d->pooled) pgc_pool_users(-1);
    d->pooled = 0;
    free(d->cols);
    free(d->field_at);
    free(d->field_len);
    free(d->carry.data);
    d->cols = NULL;
    d->field_at = NULL;
    d->field_len = NULL;
    d->carry.data = NULL;
    d->carry.len = d->carry.cap = 0;
    d->ncols = 0;
}
