/* Checks the fuzz targets share: a batch's variable-width column is what pyarrow would trust. */
#ifndef OSIRIS_FUZZ_CHECKS_H
#define OSIRIS_FUZZ_CHECKS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* `rows` + 1 int32 offsets, rising from 0 and ending at the data's length; abort() otherwise */
static void check_offsets(const uint8_t *offsets, size_t offsets_len, int64_t rows, size_t data_len) {
    if (rows == 0) return;
    if (offsets_len != (size_t)(rows + 1) * 4) abort();
    int32_t prev = 0, off;
    for (int64_t r = 0; r <= rows; r++) {
        memcpy(&off, offsets + r * 4, 4);
        if (off < prev) abort();
        prev = off;
    }
    if ((size_t)prev != data_len) abort();
}

#endif
