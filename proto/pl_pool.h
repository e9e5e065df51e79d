/* pl_pool — a bounded free list of fixed-size blocks, for objects made and dropped once
 * or twice per message on one thread (a malloc and a free each otherwise).
 *
 * Blocks come from malloc and go back to it: a pool keeps at most `max` free blocks, so
 * the memory of a burst returns to malloc, and pl_pool_drain frees what it keeps (at
 * exit, after the last block was put back). A kept block holds the list's link in its
 * first bytes: `size` must be at least sizeof(void *). The pool owns only its free
 * blocks; a block handed out belongs to the caller until pl_pool_put. Not thread-safe:
 * one pool, one thread. */
#ifndef PL_POOL_H
#define PL_POOL_H

#include <stdlib.h>
#include <string.h>

typedef struct {
    void *head;  /* the free blocks, linked through their first bytes */
    int n, max;  /* kept, and at most kept */
    size_t size; /* bytes per block */
} pl_pool_t;

/* An empty pool of blocks of sz bytes keeping at most mx (a static initialiser too). */
#define PL_POOL_INIT(sz, mx)                                                                       \
    {                                                                                              \
        NULL, 0, (mx), (sz)                                                                        \
    }

/* A block of `size` bytes, not zeroed; NULL when malloc fails. */
static inline void *pl_pool_take(pl_pool_t *p)
{
    void *b = p->head;
    if (!b)
        return malloc(p->size);
    memcpy(&p->head, b, sizeof b);
    p->n--;
    return b;
}

/* A zeroed block; NULL when calloc fails. */
static inline void *pl_pool_get(pl_pool_t *p)
{
    if (!p->head)
        return calloc(1, p->size);
    void *b = pl_pool_take(p);
    memset(b, 0, p->size);
    return b;
}

/* Give b (from this pool, or NULL) back: kept, or freed when the pool is full. */
static inline void pl_pool_put(pl_pool_t *p, void *b)
{
    if (!b)
        return;
    if (p->n >= p->max) {
        free(b);
        return;
    }
    memcpy(b, &p->head, sizeof b);
    p->head = b;
    p->n++;
}

/* Free every kept block; the pool stays usable. */
static inline void pl_pool_drain(pl_pool_t *p)
{
    while (p->head) {
        void *b = p->head;
        memcpy(&p->head, b, sizeof b);
        free(b);
    }
    p->n = 0;
}

#endif
