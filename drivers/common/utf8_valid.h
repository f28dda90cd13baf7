/* UTF-8 validation for the decoders that build Arrow string arrays (Arrow strings must be valid
 * UTF-8): drivers/postgres/pgcopy_core.c and drivers/mysql/myrows_core.c. Header-only, so each
 * decoder inlines it into its hot loop. */
#ifndef OSIRIS_UTF8_VALID_H
#define OSIRIS_UTF8_VALID_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF */
static inline int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) { i += 8; continue; }
        }
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        if (c < 0xC2) return 0;
        if (c < 0xE0) {
            if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
            continue;
        }
        if (c < 0xF0) {
            if (n - i < 3 || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F)) return 0;
            i += 3;
            continue;
        }
        if (c < 0xF5) {
            if (n - i < 4 || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F)) return 0;
            i += 4;
            continue;
        }
        return 0;
    }
    return 1;
}

#endif
