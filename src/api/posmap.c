/*
 * Field paths ("spec.predictor.model.storageUri", "spec.containers[0].args[1]",
 * "metadata.annotations[\"serving.kserve.io/deploymentMode\"]") and an open-addressing hash map
 * from a path to the line and column where it was written.
 */
#include <string.h>

#include "posmap.h"

typedef struct pos_entry {
    char *path; /* NUL-terminated; NULL: empty slot */
    size_t len;
    uint64_t hash;
    int line, col;
} pos_entry_t;

struct ks_posmap {
    pos_entry_t *slots;
    size_t cap; /* power of two */
    size_t n;
    size_t bytes; /* path bytes held */
};

static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int ks__path_key(ks_buf_t *b, const char *key, size_t klen)
{
    static const char hex[] = "0123456789abcdef";
    int plain = klen > 0;
    int r;

    for (size_t i = 0; i < klen && plain; ++i)
        plain = is_word_char((unsigned char)key[i]);
    if (plain) {
        if (b->len > 0 && (r = ks_buf_putc(b, '.')) != 0)
            return r;
        return ks_buf_append(b, key, klen);
    }
    if ((r = ks_buf_puts(b, "[\"")) != 0)
        return r;
    for (size_t i = 0; i < klen; ++i) {
        unsigned char c = (unsigned char)key[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            r = ks_buf_append(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            r = ks_buf_append(b, esc, 4);
        } else {
            r = ks_buf_putc(b, (char)c);
        }
        if (r != 0)
            return r;
    }
    return ks_buf_puts(b, "\"]");
}

int ks__path_index(ks_buf_t *b, size_t i)
{
    return ks_buf_printf(b, "[%zu]", i);
}

long ks__path_parent(const char *path, size_t len)
{
    size_t i = 0, last = 0;

    if (len == 0)
        return -1;
    while (i < len) {
        last = i;
        if (path[i] == '.') {
            ++i;
        }
        if (i < len && path[i] == '[') {
            if (i + 1 < len && path[i + 1] == '"') {
                i += 2;
                while (i < len && path[i] != '"') {
                    if (path[i] == '\\' && i + 1 < len)
                        ++i;
                    ++i;
                }
                i += 2; /* "] */
            } else {
                while (i < len && path[i] != ']')
                    ++i;
                ++i;
            }
        } else {
            while (i < len && path[i] != '.' && path[i] != '[')
                ++i;
        }
    }
    return (long)last;
}

static uint64_t hash_path(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; ++i) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct ks_posmap *ks__posmap_new(void)
{
    return calloc(1, sizeof(struct ks_posmap));
}

void ks__posmap_free(struct ks_posmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; ++i)
        free(m->slots[i].path);
    free(m->slots);
    free(m);
}

static pos_entry_t *find_slot(pos_entry_t *slots, size_t cap, const char *path, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    for (;;) {
        pos_entry_t *e = &slots[i];
        if (e->path == NULL || (e->hash == h && e->len == len && memcmp(e->path, path, len) == 0))
            return e;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(struct ks_posmap *m)
{
    size_t ncap = m->cap == 0 ? 64 : m->cap * 2;
    pos_entry_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return KS_ENOMEM;
    for (size_t i = 0; i < m->cap; ++i) {
        pos_entry_t *e = &m->slots[i];
        if (e->path != NULL)
            *find_slot(ns, ncap, e->path, e->len, e->hash) = *e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int ks__posmap_put(struct ks_posmap *m, const char *path, size_t len, int line, int col)
{
    uint64_t h = hash_path(path, len);
    pos_entry_t *e;
    int r;

    if ((m->n + 1) * 4 > m->cap * 3 && (r = grow(m)) != 0)
        return r;
    e = find_slot(m->slots, m->cap, path, len, h);
    if (e->path != NULL)
        return 0;
    if (m->bytes + len + 1 > KS_POSMAP_MAX_BYTES)
        return KS_ETOOBIG;
    if ((e->path = malloc(len + 1)) == NULL)
        return KS_ENOMEM;
    memcpy(e->path, path, len);
    e->path[len] = '\0';
    e->len = len;
    e->hash = h;
    e->line = line;
    e->col = col;
    m->n++;
    m->bytes += len + 1;
    return 0;
}

int ks__posmap_get(const struct ks_posmap *m, const char *path, size_t len, int *line, int *col)
{
    const pos_entry_t *e;

    if (m == NULL || m->cap == 0)
        return 0;
    e = find_slot(m->slots, m->cap, path, len, hash_path(path, len));
    if (e->path == NULL)
        return 0;
    *line = e->line;
    *col = e->col;
    return 1;
}

int ks__posmap_copy_prefix(struct ks_posmap *m, const char *from, const char *to)
{
    size_t flen = strlen(from), tlen = strlen(to), nsrc = 0;
    pos_entry_t *src;
    ks_buf_t b;
    int r = 0;

    /* collect first: putting entries may rehash the table under our feet */
    if ((src = calloc(m->n + 1, sizeof(*src))) == NULL)
        return KS_ENOMEM;
    for (size_t i = 0; i < m->cap; ++i) {
        pos_entry_t *e = &m->slots[i];
        if (e->path != NULL && e->len >= flen && memcmp(e->path, from, flen) == 0 &&
            (e->len == flen || e->path[flen] == '.' || e->path[flen] == '['))
            src[nsrc++] = *e;
    }
    ks_buf_init(&b, 0);
    for (size_t i = 0; i < nsrc && r == 0; ++i) {
        ks_buf_reset(&b);
        if ((r = ks_buf_append(&b, to, tlen)) == 0 &&
            (r = ks_buf_append(&b, src[i].path + flen, src[i].len - flen)) == 0)
            r = ks__posmap_put(m, b.base, b.len, src[i].line, src[i].col);
    }
    ks_buf_free(&b);
    free(src);
    return r;
}
