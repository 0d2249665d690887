#include <string.h>

#include "ks/common.h"
#include "yajl_glue.h"

/*
 * Each block remembers its size so realloc can copy.  yajl does not check
 * for NULL, so its (small, body-bounded) state ignores the arena's cap; only
 * a real out-of-memory stops here, loudly.
 */
static void *arena_malloc(void *ctx, size_t sz)
{
    size_t *p = ks_arena_alloc_nocap(ctx, sz + 16);
    if (p == NULL) {
        fprintf(stderr, "kserve: out of memory in the JSON parser\n");
        abort();
    }
    p[0] = sz;
    return (char *)p + 16;
}

static void *arena_realloc(void *ctx, void *old, size_t sz)
{
    void *p;
    size_t oldsz;
    if (old == NULL)
        return arena_malloc(ctx, sz);
    oldsz = *(size_t *)((char *)old - 16);
    if (sz <= oldsz)
        return old;
    if ((p = arena_malloc(ctx, sz)) == NULL)
        return NULL;
    memcpy(p, old, oldsz);
    return p;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

yajl_handle ks__yajl_open(ks_arena_t *a, const yajl_callbacks *cb, void *ctx)
{
    yajl_alloc_funcs af = {arena_malloc, arena_realloc, arena_free, a};
    return yajl_alloc(cb, &af, ctx);
}

int ks__yajl_run(yajl_handle h, const char *json, size_t len, const int *cb_code, char *err, size_t errlen)
{
    yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st == yajl_status_ok)
        return 0;
    if (st == yajl_status_client_canceled)
        return *cb_code != 0 ? *cb_code : KS_EINVAL;
    {
        unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)json, len);
        size_t at = yajl_get_bytes_consumed(h);
        const char *m = msg != NULL ? (const char *)msg : "parse error";
        /* yajl says "parse error: <what>\n" */
        if (strncmp(m, "parse error: ", 13) == 0)
            m += 13;
        ks_errorf(err, errlen, "malformed JSON at byte %zu: %.*s", at, (int)strcspn(m, "\n"), m);
        /* the message lives in the arena: nothing to free */
    }
    return KS_EINVAL;
}
