/* libFuzzer target for the MySQL binary-protocol row decoder core (drivers/mysql/myrows_core.c), run
 * under AddressSanitizer and UndefinedBehaviorSanitizer by tests/fuzz/run_myrows_fuzz.sh.
 *
 * Input: byte 0 picks the column count (1-6), the next bytes one kind each (and, for decimals, one of
 * three precisions), the next byte how the rest is split into feeds and how many rows make a batch;
 * the rest is the stream. Whenever the decoder holds a batch, its buffers must be consistent (what
 * pyarrow would trust): offsets rising and ending at the data's length, fixed-width data exactly
 * rows x width, a validity bit per row. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_checks.h"
#include "../../drivers/mysql/myrows_core.h"

static const int WIDTH[MYR_KIND_MAX] = {0, 0, 1, 2, 4, 8, 4, 8, 4, 8, 16, 0, 0, 0};

static void check_batch(const myr_decoder *d) {
    for (int i = 0; i < d->ncols; i++) {
        const myr_column *c = &d->cols[i];
        int64_t rows = d->rows;
        if (rows && c->valid.len != (size_t)((rows + 7) / 8)) abort();
        if (c->kind == MYR_TEXT || c->kind == MYR_BINARY) {
            check_offsets(c->offsets.data, c->offsets.len, rows, c->data.len);
        } else if (c->kind == MYR_BOOL) {
            if (rows && c->data.len != (size_t)((rows + 7) / 8)) abort();
        } else if (c->data.len != (size_t)rows * (size_t)WIDTH[c->kind]) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int PRECISION[3][2] = {{12, 2}, {38, 10}, {1, 0}};
    if (size < 3) return 0;
    int ncols = 1 + data[0] % 6;
    if (size < (size_t)ncols + 2) return 0;
    int kinds[6], precisions[6], scales[6];
    for (int i = 0; i < ncols; i++) {
        uint8_t b = data[1 + i];
        kinds[i] = 1 + b % (MYR_KIND_MAX - 1);
        precisions[i] = kinds[i] == MYR_DECIMAL ? PRECISION[(b >> 4) % 3][0] : 0;
        scales[i] = kinds[i] == MYR_DECIMAL ? PRECISION[(b >> 4) % 3][1] : 0;
    }
    unsigned split = data[1 + ncols] & 0x3F, max_rows = 1 + (data[1 + ncols] >> 6);
    const uint8_t *p = data + ncols + 2;
    size_t n = size - (size_t)ncols - 2;
    myr_decoder d;
    if (myr_init(&d, ncols, kinds, precisions, scales, 4)) abort();
    size_t at = 0, trailing = 0;
    int rc = MYR_MORE;
    while (at < n && rc == MYR_MORE) {
        size_t chunk = split == 0 ? n - at : 1 + (at * 31 + split) % (split * 2);
        if (chunk > n - at) chunk = n - at;
        /* a fresh copy per feed, so ASan sees any read past what this call was given */
        uint8_t *copy = malloc(chunk);
        memcpy(copy, p + at, chunk);
        rc = myr_feed(&d, copy, chunk, max_rows, &trailing);
        free(copy);
        at += chunk;
        while (rc == MYR_FULL) { /* hand the batch over, then go on with what was kept */
            check_batch(&d);
            if (d.rows != (int64_t)max_rows) abort();
            myr_clear_batch(&d);
            rc = myr_feed(&d, NULL, 0, max_rows, &trailing);
        }
    }
    if (rc >= 0) check_batch(&d);
    if ((rc == MYR_END || rc == MYR_SERVER_ERR) && trailing > n) abort();
    myr_free(&d);
    return 0;
}
