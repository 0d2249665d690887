#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "ks/buf.h"

void ks_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint64_t ks_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ks_buf_init(ks_buf_t *b, size_t max)
{
    b->base = NULL;
    b->len = b->cap = 0;
    b->max = max == 0 ? SIZE_MAX : max;
}

void ks_buf_free(ks_buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

int ks_buf_reserve(ks_buf_t *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return KS_ETOOBIG;
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    ncap = b->cap < 256 ? 256 : b->cap;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->max)
        ncap = b->max;
    if ((p = realloc(b->base, ncap)) == NULL)
        return KS_ENOMEM;
    b->base = p;
    b->cap = ncap;
    return 0;
}

int ks_buf_append(ks_buf_t *b, const void *p, size_t n)
{
    int r;
    if (n == 0)
        return 0;
    if ((r = ks_buf_reserve(b, n)) != 0)
        return r;
    memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

int ks_buf_printf(ks_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;
    size_t room = b->cap - b->len;

    va_start(ap, fmt);
    n = vsnprintf(room != 0 ? b->base + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KS_EINVAL;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if ((r = ks_buf_reserve(b, (size_t)n)) != 0)
        return r;
    if (b->cap - b->len > (size_t)n) {
        va_start(ap, fmt);
        vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else {
        /* exactly at the cap: no room for vsnprintf's NUL */
        char *tmp = malloc((size_t)n + 1);
        if (tmp == NULL)
            return KS_ENOMEM;
        va_start(ap, fmt);
        vsnprintf(tmp, (size_t)n + 1, fmt, ap);
        va_end(ap);
        memcpy(b->base + b->len, tmp, (size_t)n);
        free(tmp);
    }
    b->len += (size_t)n;
    return 0;
}

/* ---- arena ---------------------------------------------------------------- */

struct ks_arena_block {
    ks_arena_block_t *next;
    size_t size; /* usable bytes after the header */
    size_t off;
    /* data follows, 16-byte aligned */
};

#define BLOCK_HDR ((sizeof(ks_arena_block_t) + 15) & ~(size_t)15)
#define BLOCK_MIN (64 * 1024)
#define KEEP_BYTES (4u * 1024 * 1024) /* working set kept across resets */

void ks_arena_init(ks_arena_t *a, size_t max)
{
    a->head = a->blocks = NULL;
    a->used = 0;
    a->max = max == 0 ? SIZE_MAX : max;
}

void ks_arena_destroy(ks_arena_t *a)
{
    ks_arena_block_t *b = a->blocks, *n;
    for (; b != NULL; b = n) {
        n = b->next;
        free(b);
    }
    a->head = a->blocks = NULL;
    a->used = 0;
}

void ks_arena_reset(ks_arena_t *a)
{
    ks_arena_block_t *b, *n, *keep = NULL;
    size_t kept = 0;

    /* keep the smallest blocks up to KEEP_BYTES; give big ones back */
    for (b = a->blocks; b != NULL; b = n) {
        n = b->next;
        if (kept + b->size <= KEEP_BYTES) {
            kept += b->size;
            b->off = 0;
            b->next = keep;
            keep = b;
        } else {
            free(b);
        }
    }
    a->blocks = keep;
    a->head = keep;
    a->used = 0;
}

static void *arena_alloc(ks_arena_t *a, size_t n, int capped)
{
    ks_arena_block_t *b;
    size_t sz;

    if (n > SIZE_MAX - BLOCK_HDR - 16)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (capped && (n > a->max || a->used > a->max - n))
        return NULL;
    /* walk the kept blocks in order before allocating a new one */
    for (b = a->head; b != NULL; b = b->next) {
        if (b->size - b->off >= n) {
            void *p = (char *)b + BLOCK_HDR + b->off;
            b->off += n;
            a->head = b;
            a->used += n;
            return p;
        }
    }
    sz = n < BLOCK_MIN ? BLOCK_MIN : n;
    if ((b = malloc(BLOCK_HDR + sz)) == NULL)
        return NULL;
    b->size = sz;
    b->off = n;
    /* new blocks go after the current head so later small allocations keep bumping */
    if (a->head != NULL) {
        b->next = a->head->next;
        a->head->next = b;
    } else {
        b->next = a->blocks;
        a->blocks = b;
    }
    a->head = b;
    a->used += n;
    return (char *)b + BLOCK_HDR;
}

void *ks_arena_alloc(ks_arena_t *a, size_t n)
{
    return arena_alloc(a, n, 1);
}

void *ks_arena_alloc_nocap(ks_arena_t *a, size_t n)
{
    return arena_alloc(a, n, 0);
}

char *ks_arena_strndup(ks_arena_t *a, const char *s, size_t n)
{
    char *p = ks_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
