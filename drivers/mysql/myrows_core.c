/* MySQL binary-protocol result rows -> Arrow column buffers (see myrows_core.h).
 *
 * A packet: 3-byte little-endian payload length, 1-byte sequence number, payload. A payload of
 * 0xFFFFFF bytes continues in the next packet (a row over 16 MiB). A row's payload: 0x00, a NULL
 * bitmap of (columns + 9) / 8 bytes whose bit i + 2 marks column i NULL, then each non-NULL
 * value: integers and floats little-endian at their fixed width, DATE/DATETIME/TIMESTAMP as a
 * length byte (0, 4, 7 or 11) and that many bytes, everything else as a length-encoded string.
 * A packet is decoded only once it is complete, so an incomplete one waits in `carry`. */
#include "myrows_core.h"
#include "../common/utf8_valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAYLOAD 0xFFFFFFu
#define MAX_ROW ((size_t)1 << 30) /* MySQL's max_allowed_packet cannot exceed 1 GiB */
#define US_PER_DAY 86400000000LL

static unsigned __int128 POW10[39];

static void init_pow10(void) {
    if (POW10[0]) return;
    unsigned __int128 v = 1;
    for (int i = 0; i <= 38; i++) { POW10[i] = v; v *= 10; }
}

static inline uint32_t le24(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16); }
static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | ((uint32_t)le16(p + 2) << 16); }

static int fail(myr_decoder *d, int code, int column, const char *fmt, ...) {
    if (d->error_code) return -1; /* keep the first error */
    va_list args;
    va_start(args, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, args);
    va_end(args);
    d->error_code = code;
    d->error_column = column;
    return -1;
}

/* the rare path of reserve(): grow the buffer (from `first` bytes, or what an earlier batch needed) */
static __attribute__((noinline)) int grow(myr_decoder *d, myr_buf *b, size_t extra, size_t first) {
    size_t cap = b->cap ? b->cap * 2 : (b->hint > first ? b->hint + b->hint / 16 : first);
    if (cap < 64) cap = 64;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return fail(d, MYR_ERR_MEMORY, -1, "out of memory");
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int reserve(myr_decoder *d, myr_buf *b, size_t extra, size_t first) {
    if (__builtin_expect(b->len + extra <= b->cap, 1)) return 0;
    return grow(d, b, extra, first);
}

static inline int append(myr_decoder *d, myr_buf *b, const void *src, size_t n, size_t first) {
    if (reserve(d, b, n, first)) return -1;
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int bit_append(myr_decoder *d, myr_buf *b, int64_t row, int set) {
    if ((row & 7) == 0) {
        uint8_t zero = 0;
        if (append(d, b, &zero, 1, (size_t)(d->row_hint / 8 + 1))) return -1;
    }
    if (set) b->data[row >> 3] |= (uint8_t)(1u << (row & 7));
    return 0;
}

static inline int fixed_append(myr_decoder *d, myr_column *c, const void *value, size_t width) {
    return append(d, &c->data, value, width, (size_t)d->row_hint * width);
}

static inline int var_append(myr_decoder *d, myr_column *c, int col, const uint8_t *p, size_t len) {
    if (c->offsets.len == 0) {
        int32_t zero = 0;
        if (append(d, &c->offsets, &zero, 4, (size_t)(d->row_hint + 1) * 4)) return -1;
    }
    if (len) {
        if (c->data.len + len > (size_t)INT32_MAX) return fail(d, MYR_ERR_STREAM, col, "over 2 GiB of values in one batch");
        if (append(d, &c->data, p, len, (size_t)d->row_hint * 16)) return -1;
    }
    int32_t end = (int32_t)c->data.len;
    return append(d, &c->offsets, &end, 4, (size_t)(d->row_hint + 1) * 4);
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* a DATE/DATETIME value of `len` bytes at f -> days (and microseconds into the day) */
static int decode_moment(myr_decoder *d, int col, const uint8_t *f, unsigned len, int64_t *days, int64_t *micros) {
    if (len != 0 && len != 4 && len != 7 && len != 11)
        return fail(d, MYR_ERR_STREAM, col, "a date/time value of %u bytes (0, 4, 7 or 11 are possible)", len);
    if (len == 0) return fail(d, MYR_ERR_RANGE, col, "0000-00-00");
    unsigned year = le16(f), month = f[2], day = f[3];
    if (month == 0 || day == 0) /* year 0 is a date (1 BC, proleptic Gregorian), as the other paths read it */
        return fail(d, MYR_ERR_RANGE, col, "%04u-%02u-%02u", year, month, day);
    if (month > 12 || day > 31 || year > 9999)
        return fail(d, MYR_ERR_STREAM, col, "the date %u-%u-%u", year, month, day);
    *days = days_from_civil(year, month, day);
    *micros = 0;
    if (len >= 7) {
        unsigned hour = f[4], minute = f[5], second = f[6];
        uint32_t fraction = len == 11 ? le32(f + 7) : 0;
        if (hour > 23 || minute > 59 || second > 59 || fraction > 999999)
            return fail(d, MYR_ERR_STREAM, col, "the time %u:%u:%u.%u", hour, minute, second, fraction);
        *micros = ((int64_t)(hour * 60 + minute) * 60 + second) * 1000000 + fraction;
    }
    return 0;
}

/* DECIMAL text ("-123.45") -> the integer of `scale` decimal places, at most `precision` digits */
static int decode_decimal(myr_decoder *d, myr_column *c, int col, const uint8_t *f, size_t len, __int128 *out) {
    size_t i = 0;
    int negative = 0, point = 0, fraction = 0, digits = 0;
    if (i < len && (f[i] == '-' || f[i] == '+')) negative = f[i++] == '-';
    unsigned __int128 v = 0;
    const unsigned __int128 limit = POW10[c->precision] - 1;
    for (; i < len; i++) {
        uint8_t ch = f[i];
        if (ch == '.' && !point) { point = 1; continue; }
        if (ch < '0' || ch > '9') return fail(d, MYR_ERR_STREAM, col, "a decimal with the character 0x%02x", ch);
        digits++;
        if (point) {
            if (fraction == c->scale) {
                if (ch != '0') return fail(d, MYR_ERR_DECIMAL, col, "more than %d digits after the point", c->scale);
                continue;
            }
            fraction++;
        }
        if (v > limit / 10) return fail(d, MYR_ERR_DECIMAL, col, "more than %d digits", c->precision);
        v = v * 10 + (unsigned)(ch - '0');
    }
    if (!digits) return fail(d, MYR_ERR_STREAM, col, "a decimal without digits");
    for (; fraction < c->scale; fraction++) {
        if (v > limit / 10) return fail(d, MYR_ERR_DECIMAL, col, "more than %d digits", c->precision);
        v *= 10;
    }
    if (v > limit) return fail(d, MYR_ERR_DECIMAL, col, "more than %d digits", c->precision);
    *out = negative ? -(__int128)v : (__int128)v;
    return 0;
}

static int truncated(myr_decoder *d, int col) {
    return fail(d, MYR_ERR_STREAM, col, "a row that ends inside a value");
}

/* a length-encoded integer at p[*pos] (a string's length); -1 when malformed or past n */
static int lenenc(myr_decoder *d, int col, const uint8_t *p, size_t n, size_t *pos, uint64_t *out) {
    if (*pos >= n) return truncated(d, col);
    uint8_t first = p[(*pos)++];
    size_t width = first < 0xFB ? 0 : first == 0xFC ? 2 : first == 0xFD ? 3 : first == 0xFE ? 8 : 9;
    if (width == 9) return fail(d, MYR_ERR_STREAM, col, "a value length starting with 0x%02x", first);
    if (width == 0) { *out = first; return 0; }
    if (n - *pos < width) return truncated(d, col);
    uint64_t v = 0;
    for (size_t k = 0; k < width; k++) v |= (uint64_t)p[*pos + k] << (8 * k);
    *pos += width;
    *out = v;
    return 0;
}

static const size_t FIXED_WIDTH[MYR_KIND_MAX] = {
    [MYR_BOOL] = 1, [MYR_INT8] = 1, [MYR_INT16] = 2, [MYR_INT32] = 4, [MYR_INT64] = 8, [MYR_FLOAT] = 4, [MYR_DOUBLE] = 8,
};

/* one row's payload (after the packet headers) */
static int decode_row(myr_decoder *d, const uint8_t *p, size_t n) {
    const int64_t row = d->rows;
    const size_t bitmap = ((size_t)d->ncols + 9) / 8;
    if (n < 1 + bitmap) return fail(d, MYR_ERR_STREAM, -1, "a row of %zu bytes (its NULL bitmap alone is %zu)", n, 1 + bitmap);
    const uint8_t *nulls = p + 1;
    size_t pos = 1 + bitmap;
    for (int i = 0; i < d->ncols; i++) {
        myr_column *c = &d->cols[i];
        const int bit = i + 2;
        const int valid = !(nulls[bit >> 3] & (1u << (bit & 7)));
        if (bit_append(d, &c->valid, row, valid)) return -1;
        if (!valid) c->nulls++;
        const size_t width = FIXED_WIDTH[c->kind];
        if (width) {
            if (valid && n - pos < width) return truncated(d, i);
            if (c->kind == MYR_BOOL) {
                if (bit_append(d, &c->data, row, valid && p[pos])) return -1;
            } else {
                static const uint8_t zeros[8] = {0};
                if (fixed_append(d, c, valid ? p + pos : zeros, width)) return -1;
            }
            if (valid) pos += width;
            continue;
        }
        switch (c->kind) {
        case MYR_DATE:
        case MYR_DATETIME: {
            int64_t days = 0, micros = 0;
            if (valid) {
                if (pos >= n) return truncated(d, i);
                unsigned len = p[pos++];
                if (n - pos < len) return truncated(d, i);
                if (decode_moment(d, i, p + pos, len, &days, &micros)) return -1;
                pos += len;
            }
            if (c->kind == MYR_DATE) {
                int32_t v = (int32_t)days;
                if (fixed_append(d, c, &v, 4)) return -1;
            } else {
                int64_t v = days * US_PER_DAY + micros;
                if (fixed_append(d, c, &v, 8)) return -1;
            }
            break;
        }
        case MYR_DECIMAL:
        case MYR_TEXT:
        case MYR_BINARY: {
            uint64_t len = 0;
            const uint8_t *f = p + pos;
            if (valid) {
                if (lenenc(d, i, p, n, &pos, &len)) return -1;
                if (n - pos < len) return truncated(d, i);
                f = p + pos;
                pos += (size_t)len;
            }
            if (c->kind == MYR_DECIMAL) {
                __int128 v = 0;
                if (valid && decode_decimal(d, c, i, f, (size_t)len, &v)) return -1;
                if (fixed_append(d, c, &v, 16)) return -1; /* little-endian hosts only (myr_init) */
            } else {
                if (c->kind == MYR_TEXT && !utf8_valid(f, (size_t)len))
                    return fail(d, MYR_ERR_STREAM, i, "text that is not valid UTF-8");
                if (var_append(d, c, i, f, (size_t)len)) return -1;
            }
            break;
        }
        case MYR_NULL:
            if (valid) return fail(d, MYR_ERR_STREAM, i, "a value in a column of the NULL type");
            break;
        default:
            return fail(d, MYR_ERR_STREAM, i, "no decoder for kind %d", c->kind);
        }
    }
    if (pos != n) return fail(d, MYR_ERR_STREAM, -1, "%zu bytes after the row's last value", n - pos);
    return 0;
}

/* The payload starting at p (headers included), joined when it spans several packets: bytes used,
 * 0 when more are needed, -1. *payload and *len get the payload (in `joined` when it was split). */
static int64_t locate(myr_decoder *d, const uint8_t *p, size_t n, const uint8_t **payload, size_t *len) {
    size_t pos = 0, total = 0, parts = 0;
    for (;;) {
        if (n - pos < 4) return 0;
        size_t size = le24(p + pos);
        if (n - pos - 4 < size) return 0;
        total += size;
        if (total > MAX_ROW) return fail(d, MYR_ERR_STREAM, -1, "a row larger than 1 GiB");
        pos += 4 + size;
        parts++;
        if (size < MAX_PAYLOAD) break;
    }
    if (parts == 1) {
        *payload = p + 4;
        *len = total;
        return (int64_t)pos;
    }
    d->joined.len = 0;
    if (reserve(d, &d->joined, total, total)) return -1;
    for (size_t at = 0; at < pos;) {
        size_t size = le24(p + at);
        memcpy(d->joined.data + d->joined.len, p + at + 4, size);
        d->joined.len += size;
        at += 4 + size;
    }
    *payload = d->joined.data;
    *len = total;
    return (int64_t)pos;
}

/* One packet at p: a row, or the end of the result. Bytes consumed (0: more needed), -1; *status set at the end. */
static int64_t step(myr_decoder *d, const uint8_t *p, size_t n, int *status) {
    const uint8_t *payload = NULL;
    size_t len = 0;
    int64_t got = locate(d, p, n, &payload, &len);
    if (got <= 0) return got;
    if (len == 0) return fail(d, MYR_ERR_STREAM, -1, "an empty packet");
    if (payload[0] == 0x00) {
        if (decode_row(d, payload, len)) return -1;
        d->rows++;
        d->batch_bytes += got;
        return got;
    }
    if (payload[0] == 0xFE && len < 0xFFFFFF) { /* EOF (< 9 bytes) or, with CLIENT_DEPRECATE_EOF, OK */
        d->ended = 1;
        *status = MYR_END;
        return got;
    }
    if (payload[0] == 0xFF) {
        d->ended = 1;
        d->server_error.len = 0;
        if (append(d, &d->server_error, payload, len, len)) return -1;
        *status = MYR_SERVER_ERR;
        return got;
    }
    return fail(d, MYR_ERR_STREAM, -1, "a packet starting with 0x%02x where a row was expected", payload[0]);
}

static int64_t consume(myr_decoder *d, const uint8_t *p, size_t n, int64_t max_rows, int *status) {
    size_t used = 0;
    while (used < n && *status == MYR_MORE) {
        if (d->rows >= max_rows) { *status = MYR_FULL; break; }
        int64_t got = step(d, p + used, n - used, status);
        if (got < 0) return -1;
        if (got == 0) break;
        used += (size_t)got;
    }
    if (*status == MYR_MORE && d->rows >= max_rows && used == n) *status = MYR_FULL;
    return (int64_t)used;
}

int myr_feed(myr_decoder *d, const uint8_t *p, size_t n, int64_t max_rows, size_t *trailing) {
    *trailing = 0;
    if (d->error_code) return -1;
    if (d->ended) return n ? fail(d, MYR_ERR_STREAM, -1, "bytes after the end of the result") : MYR_END;
    int status = MYR_MORE;
    const int carried = d->carry.len > 0;
    if (carried) { /* an incomplete packet (or the rest of a full batch's bytes) goes first */
        if (n > MAX_ROW) return fail(d, MYR_ERR_STREAM, -1, "a feed of over 1 GiB");
        if (append(d, &d->carry, p, n, 0)) return -1;
        p = d->carry.data;
        n = d->carry.len;
    }
    int64_t got = consume(d, p, n, max_rows, &status);
    if (got < 0) return -1;
    size_t rest = n - (size_t)got;
    if (status == MYR_END || status == MYR_SERVER_ERR) {
        *trailing = rest;
        d->carry.len = 0;
        return status;
    }
    if (carried) {
        memmove(d->carry.data, d->carry.data + got, rest);
        d->carry.len = rest;
    } else if (rest && append(d, &d->carry, p + got, rest, 0)) {
        return -1;
    }
    return status;
}

uint8_t *myr_buf_release(myr_buf *b, size_t *len, size_t *cap) {
    uint8_t *data = b->data;
    *len = b->len;
    *cap = b->cap;
    if (b->len > b->hint) b->hint = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

void myr_clear_batch(myr_decoder *d) {
    for (int i = 0; d->cols && i < d->ncols; i++) {
        myr_column *c = &d->cols[i];
        myr_buf *bufs[3] = {&c->valid, &c->offsets, &c->data};
        for (int k = 0; k < 3; k++) {
            size_t len, cap;
            free(myr_buf_release(bufs[k], &len, &cap));
        }
        c->nulls = 0;
    }
    d->rows = 0;
    d->batch_bytes = 0;
}

int myr_init(myr_decoder *d, int ncols, const int *kinds, const int *precisions, const int *scales, int64_t row_hint) {
    const uint16_t probe = 1;
    memset(d, 0, sizeof *d);
    d->error_column = -1;
    init_pow10();
    if (*(const uint8_t *)&probe != 1) return fail(d, MYR_ERR_STREAM, -1, "a big-endian host is not supported");
    if (ncols < 1 || ncols > 4096) return fail(d, MYR_ERR_STREAM, -1, "%d columns (1 to 4096 are possible)", ncols);
    for (int i = 0; i < ncols; i++) {
        if (kinds[i] < MYR_BOOL || kinds[i] >= MYR_KIND_MAX) return fail(d, MYR_ERR_STREAM, i, "unknown kind %d", kinds[i]);
        if (kinds[i] == MYR_DECIMAL && (precisions[i] < 1 || precisions[i] > 38 || scales[i] < 0 || scales[i] > precisions[i]))
            return fail(d, MYR_ERR_STREAM, i, "decimal128(%d, %d) is not supported", precisions[i], scales[i]);
    }
    d->ncols = ncols;
    d->row_hint = row_hint < 1 ? 1 : (row_hint > (1 << 20) ? (1 << 20) : row_hint);
    d->cols = calloc((size_t)ncols, sizeof *d->cols);
    if (!d->cols) return fail(d, MYR_ERR_MEMORY, -1, "out of memory");
    for (int i = 0; i < ncols; i++) {
        d->cols[i].kind = kinds[i];
        d->cols[i].precision = precisions[i];
        d->cols[i].scale = scales[i];
    }
    return 0;
}

void myr_free(myr_decoder *d) {
    myr_clear_batch(d);
    free(d->cols);
    free(d->carry.data);
    free(d->joined.data);
    free(d->server_error.data);
    memset(d, 0, sizeof *d);
}
