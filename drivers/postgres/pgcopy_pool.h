/* A process-wide cache of the decoder's freed batch buffers.
 *
 * Each batch the decoder hands its column buffers to pyarrow and starts the next batch in new ones.
 * Fresh memory costs a page fault and a zeroed page per 4 KiB (the largest kernel cost of a
 * PostgreSQL -> Parquet run's client, measured in docs/performance.md), so a buffer pyarrow lets go
 * of is kept here, bounded, and the next batch writes into memory already mapped. */
#ifndef PGCOPY_POOL_H
#define PGCOPY_POOL_H

#include <stddef.h>

/* the smallest cached block of at least `need` bytes (at most 4x `need`), its size in *cap; or NULL */
void *pgc_pool_take(size_t need, size_t *cap);
/* cache `block` of `cap` bytes for reuse, or free it (cache full, or no decoder alive) */
void pgc_pool_give(void *block, size_t cap);
/* decoders alive: +1 when one starts, -1 when one ends; when none is left the cache is emptied */
void pgc_pool_users(int delta);
/* what the cache holds now, and how many reservations it has served since the process started */
void pgc_pool_stats(int *blocks, size_t *bytes, long *served);

#endif
