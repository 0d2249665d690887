/*
 * Growable byte buffers and a bump-pointer arena.
 *
 * ks_buf_t is a malloc-backed buffer with a hard cap (curl's dynbuf): it is
 * meant to be kept by a worker thread and reused across requests, so the hot
 * path does not allocate once the buffer has grown to its working size.
 *
 * ks_arena_t is the per-request arena: allocations are bumped from blocks
 * that the arena keeps across ks_arena_reset(), so a worker that serves
 * similar requests stops calling malloc after the first few.
 */
#ifndef KS_BUF_H
#define KS_BUF_H

#include "ks/common.h"

typedef struct ks_buf {
    char *base;
    size_t len;
    size_t cap;
    size_t max; /* hard cap; 0 = SIZE_MAX */
} ks_buf_t;

/* Initialises an empty buffer that may grow to max bytes (0: no cap). */
void ks_buf_init(ks_buf_t *b, size_t max);
/* Frees the buffer's memory. */
void ks_buf_free(ks_buf_t *b);
/* Makes room for extra more bytes; KS_ETOOBIG over the cap, KS_ENOMEM. */
int ks_buf_reserve(ks_buf_t *b, size_t extra);
int ks_buf_append(ks_buf_t *b, const void *p, size_t n);
static inline int ks_buf_putc(ks_buf_t *b, char c)
{
    if (b->len == b->cap) {
        int r = ks_buf_reserve(b, 1);
        if (r != 0)
            return r;
    }
    b->base[b->len++] = c;
    return 0;
}
#define ks_buf_puts(b, lit) ks_buf_append((b), (lit), sizeof(lit) - 1)
int ks_buf_printf(ks_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void ks_buf_reset(ks_buf_t *b) { b->len = 0; }

typedef struct ks_arena_block ks_arena_block_t;

typedef struct ks_arena {
    ks_arena_block_t *head;    /* block being bumped */
    ks_arena_block_t *blocks;  /* all blocks, most recent first */
    size_t used;               /* bytes handed out since the last reset */
    size_t max;                /* hard cap on bytes handed out (0: none) */
} ks_arena_t;

void ks_arena_init(ks_arena_t *a, size_t max);
/* Frees every block. */
void ks_arena_destroy(ks_arena_t *a);
/* Forgets every allocation; keeps up to a working set of blocks for reuse. */
void ks_arena_reset(ks_arena_t *a);
/* 16-byte aligned allocation valid until the next reset; NULL over the cap. */
void *ks_arena_alloc(ks_arena_t *a, size_t n);
/* The same without the cap: for a library's own bounded state that cannot handle NULL. */
void *ks_arena_alloc_nocap(ks_arena_t *a, size_t n);
/* Copies n bytes (plus a NUL) into the arena. */
char *ks_arena_strndup(ks_arena_t *a, const char *s, size_t n);

#endif
