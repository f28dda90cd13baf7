/* libFuzzer target for the binary COPY decoder core (drivers/postgres/pgcopy_core.c), run under
 * AddressSanitizer and UndefinedBehaviorSanitizer by tests/fuzz/run_pgcopy_fuzz.sh.
 *
 * Input: byte 0 picks the column count (1-6), the next bytes one kind each (and, for decimals, one of
 * three precisions), the next byte how the rest is split into feeds; the rest is the stream. After a
 * stream the decoder accepts, the batch's buffers must be consistent (what pyarrow would trust):
 * offsets rising and ending at the data's length, fixed-width data exactly rows x width; the same
 * stream fed again after `pgc_finish` (the next page range) must leave them consistent too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_checks.h"
#include "../../drivers/postgres/pgcopy_core.h"

static const int WIDTH[PGC_KIND_MAX] = {0, 0, 2, 4, 8, 4, 8, 4, 8, 8, 0, 0, 0, 16, 16};

static void check_batch(const pgc_decoder *d) {
    for (int i = 0; i < d->ncols; i++) {
        const pgc_column *c = &d->cols[i];
        int64_t rows = d->rows;
        if (rows && c->valid.len < (size_t)((rows + 7) / 8)) abort();
        if (c->kind == PGC_TEXT || c->kind == PGC_BYTEA || c->kind == PGC_JSONB) {
            check_offsets(c->offsets.data, c->offsets.len, rows, c->data.len);
        } else if (c->kind == PGC_BOOL) {
            if (rows && c->data.len < (size_t)((rows + 7) / 8)) abort();
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
        kinds[i] = 1 + b % (PGC_KIND_MAX - 1);
        precisions[i] = kinds[i] == PGC_DECIMAL ? PRECISION[(b >> 4) % 3][0] : 0;
        scales[i] = kinds[i] == PGC_DECIMAL ? PRECISION[(b >> 4) % 3][1] : 0;
    }
    unsigned split = data[1 + ncols];
    const uint8_t *p = data + ncols + 2;
    size_t n = size - (size_t)ncols - 2;
    pgc_decoder d;
    if (pgc_init(&d, ncols, kinds, precisions, scales, 4)) abort();
    size_t at = 0;
    int rc = 0;
    while (at < n && rc == 0) {
        size_t chunk = split == 0 ? n - at : 1 + (at * 31 + split) % (split * 2);
        if (chunk > n - at) chunk = n - at;
        /* a fresh copy per feed, so ASan sees any read past what this call was given */
        uint8_t *copy = malloc(chunk);
        memcpy(copy, p + at, chunk);
        rc = pgc_feed(&d, copy, chunk);
        free(copy);
        at += chunk;
        if (rc == 0 && d.rows >= 3) {  /* hand a batch over mid-stream as the pump does */
            check_batch(&d);
            pgc_clear_batch(&d);
        }
    }
    if (rc == 0 && pgc_finish(&d) == 0) {
        check_batch(&d);
        /* the next page range of the same table: a second stream whose rows go on into the batch */
        uint8_t *again = malloc(n ? n : 1);
        memcpy(again, p, n);
        if (pgc_feed(&d, again, n) == 0 && pgc_finish(&d) == 0) check_batch(&d);
        free(again);
    }
    pgc_free(&d);
    return 0;
}
