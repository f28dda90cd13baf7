/* The decoder's buffer cache (pgcopy_pool.h): a small best-fit list under one mutex.
 *
 * Bounded by POOL_BLOCKS blocks and POOL_BYTES bytes, so it holds at most about one row group of
 * the writer's (whose buffers come back together when the writer lets go of the group). Taking
 * and giving happen once per column per batch, never per row, so one lock is cheap enough. */
#include "pgcopy_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POOL_BLOCKS 256
#define POOL_BYTES ((size_t)64 << 20)
#define POOL_MIN_BLOCK ((size_t)64 << 10) /* smaller blocks are cheap to get anew */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *blocks[POOL_BLOCKS];
static size_t sizes[POOL_BLOCKS];
static int count;
static size_t held;
static int users;
static long served;

void *pgc_pool_take(size_t need, size_t *cap) {
    void *found = NULL;
    pthread_mutex_lock(&lock);
    int best = -1;
    for (int i = 0; i < count; i++) {
        if (sizes[i] >= need && sizes[i] / 4 <= need && (best < 0 || sizes[i] < sizes[best])) best = i;
    }
    if (best >= 0) {
        served++;
        found = blocks[best];
        *cap = sizes[best];
        held -= sizes[best];
        count--;
        memmove(blocks + best, blocks + best + 1, (size_t)(count - best) * sizeof *blocks);
        memmove(sizes + best, sizes + best + 1, (size_t)(count - best) * sizeof *sizes);
    }
    pthread_mutex_unlock(&lock);
    return found;
}

void pgc_pool_give(void *block, size_t cap) {
    if (!block) return;
    void *evicted[POOL_BLOCKS];
    int gone = 0;
    pthread_mutex_lock(&lock);
    if (users > 0 && cap >= POOL_MIN_BLOCK && cap <= POOL_BYTES) {
        /* full: the oldest blocks make room, so sizes no batch asks for any more do not linger */
        while (count == POOL_BLOCKS || held + cap > POOL_BYTES) {
            evicted[gone++] = blocks[0];
            held -= sizes[0];
            count--;
            memmove(blocks, blocks + 1, (size_t)count * sizeof *blocks);
            memmove(sizes, sizes + 1, (size_t)count * sizeof *sizes);
        }
        blocks[count] = block;
        sizes[count] = cap;
        count++;
        held += cap;
        block = NULL;
    }
    pthread_mutex_unlock(&lock);
    free(block);
    for (int i = 0; i < gone; i++) free(evicted[i]);
}

void pgc_pool_users(int delta) {
    void *drop[POOL_BLOCKS];
    int dropped = 0;
    pthread_mutex_lock(&lock);
    users += delta;
    if (users <= 0) {
        users = 0;
        for (int i = 0; i < count; i++) drop[dropped++] = blocks[i];
        count = 0;
        held = 0;
    }
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < dropped; i++) free(drop[i]);
}

void pgc_pool_stats(int *blocks_held, size_t *bytes, long *served_so_far) {
    pthread_mutex_lock(&lock);
    *blocks_held = count;
    *bytes = held;
    *served_so_far = served;
    pthread_mutex_unlock(&lock);
}
