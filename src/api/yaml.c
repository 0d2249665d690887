/*
 * YAML/JSON resource files -> jansson documents with a position for every field.
 *
 * libfyaml's event parser drives a small builder: a stack of open mappings and lists, the path of
 * the value being built, and the anchors seen so far in the document.  Building from events (and
 * not from libfyaml's document tree) lets us check what Kubernetes checks while reading (duplicate
 * keys, tags) and bound what a file can make us allocate: the nesting depth, the number of values
 * after aliases are expanded (no "billion laughs"), the bytes of paths kept for positions.
 *
 * Scalars follow the YAML 1.2 core schema (not YAML 1.1: "yes" and "on" are strings).
 */
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <string.h>

#include "ks/buf.h"
#include "ks/resource.h"
#include "posmap.h"

#define CORE_TAG "tag:yaml.org,2002:"

typedef struct frame {
    json_t *node;       /* object or array being filled */
    int is_map;
    size_t path_len;    /* length of this container's own path */
    size_t index;       /* next item index (lists) */
    char *key;          /* pending key (mappings); NULL while a key is expected */
    int key_line, key_col;
    int merge;          /* the pending key is "<<" */
    json_t *merges;     /* values of "<<" keys, merged when the mapping ends */
    char *anchor;       /* registered when the container ends */
    size_t start_nodes; /* loader nodes before this container */
    int sub_depth;      /* levels of nesting from here down (1: no child container) */
} frame_t;

typedef struct anchor {
    char *name;
    json_t *value; /* a reference; aliases get deep copies */
    size_t nodes;
    int depth;
} anchor_t;

typedef struct loader {
    const char *text; /* the input: single-quoted scalars are decoded from it */
    size_t len;
    const char *file;
    char *err;
    size_t errlen;
    ks_buf_t path; /* path of the value being built */
    frame_t stack[KS_RESOURCE_MAX_DEPTH];
    int depth;
    anchor_t *anchors;
    size_t nanchors, capanchors;
    size_t nodes;
    json_t *root;
    int root_line, root_col;
    struct ks_posmap *pos;
    ks_doc_list_t *out;
    size_t capdocs;
} loader_t;

static int fail(loader_t *ld, int code, int line, int col, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(loader_t *ld, int code, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        ks_errorf(ld->err, ld->errlen, "%s:%d:%d: %s", ld->file, line, col, msg);
    else
        ks_errorf(ld->err, ld->errlen, "%s: %s", ld->file, msg);
    return code;
}

static int oom(loader_t *ld)
{
    return fail(ld, KS_ENOMEM, 0, 0, "out of memory");
}

/* Start of a node: its value, or its anchor or tag when written before it; 1-based. */
static void node_mark(struct fy_event *e, struct fy_token *value, int *line, int *col)
{
    const struct fy_mark *m = fy_event_start_mark(e);
    struct fy_token *extra[2] = {fy_event_get_anchor_token(e), fy_event_get_tag_token(e)};
    size_t pos;

    if (m == NULL) {
        *line = *col = 0;
        return;
    }
    pos = m->input_pos;
    *line = m->line + 1;
    *col = m->column + 1;
    if (value != NULL) {
        enum fy_scalar_style st = fy_token_scalar_style(value);
        if ((st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) && *col > 1)
            --*col; /* libfyaml marks the first character inside the quotes */
    }
    for (int i = 0; i < 2; ++i) {
        const struct fy_mark *xm = extra[i] != NULL ? fy_token_start_mark(extra[i]) : NULL;
        if (xm != NULL && xm->input_pos < pos) {
            pos = xm->input_pos;
            *line = xm->line + 1;
            *col = xm->column + 1;
        }
    }
}

/* ---- scalars (YAML 1.2 core schema) ---------------------------------------------------- */

static int eq_any(const char *s, size_t n, const char *const *words)
{
    for (; *words != NULL; ++words)
        if (strlen(*words) == n && memcmp(s, *words, n) == 0)
            return 1;
    return 0;
}

static int is_null(const char *s, size_t n)
{
    static const char *const w[] = {"~", "null", "Null", "NULL", NULL};
    return n == 0 || eq_any(s, n, w);
}

static int is_bool(const char *s, size_t n, int *v)
{
    static const char *const t[] = {"true", "True", "TRUE", NULL};
    static const char *const f[] = {"false", "False", "FALSE", NULL};
    if (eq_any(s, n, t))
        return *v = 1, 1;
    if (eq_any(s, n, f))
        return *v = 0, 1;
    return 0;
}

static int all_digits(const char *s, size_t n, int base)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[i];
        int ok = base == 8    ? (c >= '0' && c <= '7')
                 : base == 16 ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                              : (c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* 1: s is an integer of the core schema; *range 1 when it does not fit in 64 bits. */
static int is_int(const char *s, size_t n, char *tmp, long long *v, int *range)
{
    int base = 10;
    const char *d = s;
    size_t dn = n;
    unsigned long long u;

    *range = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        d += 2;
        dn -= 2;
        if (!all_digits(d, dn, base))
            return 0;
        memcpy(tmp, d, dn);
        tmp[dn] = '\0';
        errno = 0;
        u = strtoull(tmp, NULL, base);
        if (errno != 0 || u > (unsigned long long)INT64_MAX)
            return *range = 1, 1;
        *v = (long long)u;
        return 1;
    }
    if (dn > 0 && (d[0] == '-' || d[0] == '+'))
        ++d, --dn;
    if (!all_digits(d, dn, 10))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    *v = strtoll(tmp, NULL, 10);
    if (errno != 0)
        *range = 1;
    return 1;
}

/* 1: s is a float of the core schema; *special 1 for .inf/.nan, 2 when it overflows a double. */
static int is_float(const char *s, size_t n, char *tmp, double *v, int *special)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
                                      ".nan", ".NaN", ".NAN", NULL};
    size_t i = 0, digits = 0;

    *special = 0;
    if (eq_any(s, n, inf))
        return *special = 1, 1;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        ++i, ++digits;
    if (i < n && s[i] == '.') {
        ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            ++i, ++digits;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e0;
        ++i;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            ++i;
        e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            ++i;
        if (i == e0)
            return 0;
    }
    if (i != n)
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    *v = strtod(tmp, NULL);
    if (errno == ERANGE && (*v > 1.0 || *v < -1.0))
        *special = 2;
    return 1;
}

enum { AS_ANY, AS_STR, AS_INT, AS_FLOAT, AS_BOOL, AS_NULL };

/*
 * The JSON value of a scalar: plain scalars are resolved by the core schema, other styles are
 * strings, a core tag forces its type.
 */
static int scalar_value(loader_t *ld, const char *s, size_t n, int plain, int as, int line, int col, json_t **out)
{
    char small[64], *tmp = small;
    long long iv;
    double dv;
    int bv, range, special, r = 0;

    *out = NULL;
    if (as == AS_STR || (as == AS_ANY && !plain)) {
        if ((*out = json_stringn(s, n)) == NULL)
            return fail(ld, KS_EINVAL, line, col, "string is not valid UTF-8");
        return 0;
    }
    if (n + 1 > sizeof(small) && (tmp = malloc(n + 1)) == NULL)
        return oom(ld);
    if ((as == AS_ANY || as == AS_NULL) && is_null(s, n)) {
        *out = json_null();
    } else if ((as == AS_ANY || as == AS_BOOL) && is_bool(s, n, &bv)) {
        *out = json_boolean(bv);
    } else if ((as == AS_ANY || as == AS_INT || as == AS_FLOAT) && is_int(s, n, tmp, &iv, &range)) {
        if (range && as == AS_FLOAT)
            *out = json_real(strtod(tmp, NULL));
        else if (range)
            r = fail(ld, KS_EINVAL, line, col, "integer %.*s does not fit in 64 bits", (int)(n > 40 ? 40 : n), s);
        else
            *out = as == AS_FLOAT ? json_real((double)iv) : json_integer(iv);
    } else if ((as == AS_ANY || as == AS_FLOAT) && is_float(s, n, tmp, &dv, &special)) {
        if (special)
            r = fail(ld, KS_EINVAL, line, col, "%.*s: %s numbers cannot be represented in JSON", (int)(n > 40 ? 40 : n), s,
                     special == 1 ? "infinite and NaN" : "out-of-range");
        else
            *out = json_real(dv);
    } else if (as == AS_ANY) {
        if ((*out = json_stringn(s, n)) == NULL)
            r = fail(ld, KS_EINVAL, line, col, "string is not valid UTF-8");
    } else {
        static const char *const names[] = {"", "str", "int", "float", "bool", "null"};
        r = fail(ld, KS_EINVAL, line, col, "\"%.*s\" is not a valid !!%s", (int)(n > 40 ? 40 : n), s, names[as]);
    }
    if (tmp != small)
        free(tmp);
    if (r == 0 && *out == NULL)
        r = oom(ld);
    return r;
}

/* What a node's tag asks for: AS_* for scalars; for collections 0 (fine) or an error. */
static int tag_kind(loader_t *ld, struct fy_event *e, int collection, int line, int col, int *as)
{
    static const char *const core[] = {"str", "int", "float", "bool", "null"};
    struct fy_token *t = fy_event_get_tag_token(e);
    const char *tag;
    size_t n;

    *as = AS_ANY;
    if (t == NULL || (tag = fy_token_get_text(t, &n)) == NULL)
        return 0;
    if (n == 1 && tag[0] == '!') { /* the non-specific tag: a string for scalars */
        *as = collection ? AS_ANY : AS_STR;
        return 0;
    }
    if (n > strlen(CORE_TAG) && memcmp(tag, CORE_TAG, strlen(CORE_TAG)) == 0) {
        const char *name = tag + strlen(CORE_TAG);
        size_t nn = n - strlen(CORE_TAG);
        const char *want = collection == 0 ? NULL : collection == 1 ? "map" : "seq";
        if (want != NULL && nn == strlen(want) && memcmp(name, want, nn) == 0)
            return 0;
        int known = (nn == 3 && memcmp(name, "map", 3) == 0) || (nn == 3 && memcmp(name, "seq", 3) == 0);
        for (int i = 0; i < (int)KS_ARRAY_SIZE(core); ++i) {
            if (nn == strlen(core[i]) && memcmp(name, core[i], nn) == 0) {
                if (!collection)
                    return *as = AS_STR + i, 0;
                known = 1;
            }
        }
        if (known)
            return fail(ld, KS_EINVAL, line, col, "tag !!%.*s cannot be used on a %s", (int)nn, name,
                        collection == 1 ? "mapping" : collection == 2 ? "list" : "scalar");
        return fail(ld, KS_EINVAL, line, col, "unsupported tag !!%.*s (only the YAML core tags are accepted)",
                    (int)(nn > 60 ? 60 : nn), name);
    }
    return fail(ld, KS_EINVAL, line, col, "unsupported tag %.*s (only the YAML core tags are accepted)",
                (int)(n > 60 ? 60 : n), tag);
}

/* ---- building -------------------------------------------------------------------------- */

static frame_t *top(loader_t *ld)
{
    return ld->depth > 0 ? &ld->stack[ld->depth - 1] : NULL;
}

static void free_frame(frame_t *f)
{
    json_decref(f->node);
    json_decref(f->merges);
    free(f->key);
    free(f->anchor);
    memset(f, 0, sizeof(*f));
}

static void clear_anchors(loader_t *ld)
{
    for (size_t i = 0; i < ld->nanchors; ++i) {
        free(ld->anchors[i].name);
        json_decref(ld->anchors[i].value);
    }
    ld->nanchors = 0;
}

/* Discards the document being built. */
static void reset_doc(loader_t *ld)
{
    while (ld->depth > 0)
        free_frame(&ld->stack[--ld->depth]);
    clear_anchors(ld);
    json_decref(ld->root);
    ld->root = NULL;
    ks__posmap_free(ld->pos);
    ld->pos = NULL;
    ks_buf_reset(&ld->path);
}

static int record(loader_t *ld, int line, int col)
{
    int r = ks__posmap_put(ld->pos, ld->path.base != NULL ? ld->path.base : "", ld->path.len, line, col);
    if (r == KS_ETOOBIG)
        return fail(ld, r, line, col, "document too large (more than %u bytes of field paths)", KS_POSMAP_MAX_BYTES);
    return r != 0 ? oom(ld) : 0;
}

/*
 * A value starts at line:col: makes ld->path its path and records where it is.  Mapping values
 * were recorded with their key (the position users look for).
 */
static int begin_value(loader_t *ld, int line, int col)
{
    frame_t *f = top(ld);

    if (f == NULL) {
        ld->root_line = line;
        ld->root_col = col;
        return record(ld, line, col);
    }
    if (f->is_map)
        return 0;
    if (ks__path_index(&ld->path, f->index) != 0)
        return oom(ld);
    return record(ld, line, col);
}

static int count_nodes(loader_t *ld, size_t n, int line, int col)
{
    if (n > KS_RESOURCE_MAX_NODES - ld->nodes)
        return fail(ld, KS_ETOOBIG, line, col, "more than %d values in one file (aliases expanded)",
                    KS_RESOURCE_MAX_NODES);
    ld->nodes += n;
    return 0;
}

/* Adds a finished value v (a new reference, taken over) of nesting depth vdepth to its parent. */
static int attach(loader_t *ld, json_t *v, int vdepth)
{
    frame_t *f = top(ld);
    int r = 0;

    if (f == NULL) {
        ld->root = v;
        return 0;
    }
    if (f->sub_depth < vdepth + 1)
        f->sub_depth = vdepth + 1;
    if (!f->is_map) {
        r = json_array_append_new(f->node, v);
        f->index++;
    } else if (f->merge) {
        r = json_array_append_new(f->merges, v);
        f->merge = 0;
    } else {
        r = json_object_set_new(f->node, f->key, v);
    }
    free(f->key);
    f->key = NULL;
    ld->path.len = f->path_len;
    return r != 0 ? oom(ld) : 0;
}

static int add_anchor(loader_t *ld, char *name, json_t *v, size_t nodes, int depth)
{
    if (ld->nanchors == ld->capanchors) {
        size_t ncap = ld->capanchors ? ld->capanchors * 2 : 16;
        anchor_t *na = realloc(ld->anchors, ncap * sizeof(*na));
        if (na == NULL) {
            free(name);
            return oom(ld);
        }
        ld->anchors = na;
        ld->capanchors = ncap;
    }
    ld->anchors[ld->nanchors++] = (anchor_t){name, json_incref(v), nodes, depth};
    return 0;
}

static char *token_strdup(struct fy_token *t)
{
    size_t n;
    const char *s = t != NULL ? fy_token_get_text(t, &n) : NULL;
    char *p;

    if (s == NULL || (p = malloc(n + 1)) == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/*
 * The text of a single-quoted scalar, decoded from the input: libfyaml 0.7.12 garbles runs of
 * four or more '' escapes (and leaks the buffer).  YAML's rules: '' is a quote; a line break
 * with the spaces around it folds to one space, or to n-1 newlines across n-1 empty lines.
 * *out is malloc'd.
 */
static int single_quoted(loader_t *ld, struct fy_token *t, char **out, size_t *outlen)
{
    const struct fy_mark *sm = fy_token_start_mark(t), *em = fy_token_end_mark(t);
    const char *raw;
    size_t n, o = 0, line_start = 0;
    char *buf;

    if (sm == NULL || em == NULL || sm->input_pos > em->input_pos || em->input_pos > ld->len)
        return KS_EINVAL;
    raw = ld->text + sm->input_pos;
    n = em->input_pos - sm->input_pos;
    if ((buf = malloc(n + 1)) == NULL)
        return KS_ENOMEM;
    for (size_t i = 0; i < n;) {
        char c = raw[i];
        if (c == '\'' && i + 1 < n && raw[i + 1] == '\'') {
            buf[o++] = '\'';
            i += 2;
        } else if (c == '\n' || c == '\r') {
            size_t breaks = 0;
            while (o > line_start && (buf[o - 1] == ' ' || buf[o - 1] == '\t'))
                --o;
            while (i < n && (raw[i] == '\n' || raw[i] == '\r')) {
                i += raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n' ? 2 : 1;
                ++breaks;
                while (i < n && (raw[i] == ' ' || raw[i] == '\t'))
                    ++i;
            }
            if (breaks == 1)
                buf[o++] = ' ';
            else
                for (size_t k = 1; k < breaks; ++k)
                    buf[o++] = '\n';
            line_start = o;
        } else {
            buf[o++] = c;
            ++i;
        }
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}

/* A scalar's text: *owned is set (and must be freed) when it had to be decoded here. */
static int scalar_text(loader_t *ld, struct fy_token *t, const char **s, size_t *n, char **owned)
{
    int r;

    *owned = NULL;
    if (fy_token_scalar_style(t) == FYSS_SINGLE_QUOTED) {
        if ((r = single_quoted(ld, t, owned, n)) == 0) {
            *s = *owned;
            return 0;
        }
        if (r == KS_ENOMEM)
            return r;
    }
    *s = fy_token_get_text(t, n);
    return *s != NULL ? 0 : KS_ENOMEM;
}

static int on_key_text(loader_t *ld, frame_t *f, struct fy_event *e, const char *s, size_t n, int line, int col);

static int on_key(loader_t *ld, frame_t *f, struct fy_event *e)
{
    struct fy_token *t = e->scalar.value;
    size_t n;
    const char *s;
    char *owned;
    int line, col, r;

    node_mark(e, t, &line, &col);
    if (scalar_text(ld, t, &s, &n, &owned) != 0)
        return oom(ld);
    r = on_key_text(ld, f, e, s, n, line, col);
    free(owned);
    return r;
}

static int on_key_text(loader_t *ld, frame_t *f, struct fy_event *e, const char *s, size_t n, int line, int col)
{
    struct fy_token *t = e->scalar.value;
    json_t *kv;
    int fl, fc, as, r;

    if (n > KS_RESOURCE_MAX_KEY)
        return fail(ld, KS_EINVAL, line, col, "mapping key longer than %d bytes", KS_RESOURCE_MAX_KEY);
    if (memchr(s, '\0', n) != NULL)
        return fail(ld, KS_EINVAL, line, col, "mapping key contains a NUL character");
    if ((r = tag_kind(ld, e, 0, line, col, &as)) != 0 || (r = count_nodes(ld, 1, line, col)) != 0)
        return r;
    if ((kv = json_stringn(s, n)) == NULL)
        return fail(ld, KS_EINVAL, line, col, "mapping key is not valid UTF-8");
    if (e->scalar.anchor != NULL) { /* a key can be an anchor; its aliases are strings */
        char *name = token_strdup(e->scalar.anchor);
        if (name == NULL || add_anchor(ld, name, kv, 1, 0) != 0) {
            json_decref(kv);
            return name == NULL ? oom(ld) : KS_ENOMEM;
        }
    }
    json_decref(kv);
    f->merge = fy_token_scalar_style(t) == FYSS_PLAIN && n == 2 && memcmp(s, "<<", 2) == 0;
    if (ks__path_key(&ld->path, s, n) != 0 || (f->key = malloc(n + 1)) == NULL)
        return oom(ld);
    memcpy(f->key, s, n);
    f->key[n] = '\0';
    f->key_line = line;
    f->key_col = col;
    if (f->merge) {
        if (f->merges == NULL && (f->merges = json_array()) == NULL)
            return oom(ld);
        return 0;
    }
    if (json_object_get(f->node, f->key) != NULL) {
        if (ks__posmap_get(ld->pos, ld->path.base, ld->path.len, &fl, &fc))
            return fail(ld, KS_EINVAL, line, col, "duplicate key \"%.100s\" (first at line %d, column %d)", f->key, fl,
                        fc);
        return fail(ld, KS_EINVAL, line, col, "duplicate key \"%.100s\"", f->key);
    }
    return record(ld, line, col);
}

static int on_scalar(loader_t *ld, struct fy_event *e)
{
    frame_t *f = top(ld);
    struct fy_token *t = e->scalar.value;
    const char *s;
    char *owned;
    size_t n;
    json_t *v;
    int line, col, as, r;

    if (f != NULL && f->is_map && f->key == NULL)
        return on_key(ld, f, e);
    node_mark(e, t, &line, &col);
    if (scalar_text(ld, t, &s, &n, &owned) != 0)
        return oom(ld);
    if ((r = tag_kind(ld, e, 0, line, col, &as)) != 0 || (r = count_nodes(ld, 1, line, col)) != 0 ||
        (r = begin_value(ld, line, col)) != 0 ||
        (r = scalar_value(ld, s, n, fy_token_scalar_style(t) == FYSS_PLAIN, as, line, col, &v)) != 0) {
        free(owned);
        return r;
    }
    free(owned);
    if (e->scalar.anchor != NULL) {
        char *name = token_strdup(e->scalar.anchor);
        if (name == NULL || add_anchor(ld, name, v, 1, 0) != 0) {
            json_decref(v);
            return name == NULL ? oom(ld) : KS_ENOMEM;
        }
    }
    return attach(ld, v, 0);
}

static int on_alias(loader_t *ld, struct fy_event *e)
{
    frame_t *f = top(ld);
    const struct fy_mark *m = fy_event_start_mark(e);
    /* libfyaml marks the anchor name, after the '*' */
    int line = m != NULL ? m->line + 1 : 0, col = m != NULL ? (m->column > 0 ? m->column : 1) : 0, r;
    size_t n;
    const char *name = fy_token_get_text(e->alias.anchor, &n);
    anchor_t *a = NULL;
    json_t *v;

    if (name == NULL)
        return oom(ld);
    if (f != NULL && f->is_map && f->key == NULL)
        return fail(ld, KS_EINVAL, line, col, "an alias cannot be a mapping key");
    for (size_t i = ld->nanchors; i-- > 0;) {
        if (strlen(ld->anchors[i].name) == n && memcmp(ld->anchors[i].name, name, n) == 0) {
            a = &ld->anchors[i];
            break;
        }
    }
    if (a == NULL)
        return fail(ld, KS_EINVAL, line, col, "alias *%.*s refers to no anchor defined before it", (int)(n > 60 ? 60 : n),
                    name);
    if (ld->depth + a->depth > KS_RESOURCE_MAX_DEPTH)
        return fail(ld, KS_EINVAL, line, col, "nesting deeper than %d levels (aliases expanded)", KS_RESOURCE_MAX_DEPTH);
    if ((r = count_nodes(ld, a->nodes, line, col)) != 0 || (r = begin_value(ld, line, col)) != 0)
        return r;
    if ((v = json_deep_copy(a->value)) == NULL)
        return oom(ld);
    return attach(ld, v, a->depth);
}

static int on_start(loader_t *ld, struct fy_event *e, int is_map)
{
    frame_t *f = top(ld), *nf;
    int line, col, as, r;
    struct fy_token *anchor = is_map ? e->mapping_start.anchor : e->sequence_start.anchor;

    node_mark(e, NULL, &line, &col);
    if (f != NULL && f->is_map && f->key == NULL)
        return fail(ld, KS_EINVAL, line, col, "a %s cannot be a mapping key", is_map ? "mapping" : "list");
    if (ld->depth >= KS_RESOURCE_MAX_DEPTH)
        return fail(ld, KS_EINVAL, line, col, "nesting deeper than %d levels", KS_RESOURCE_MAX_DEPTH);
    if ((r = tag_kind(ld, e, is_map ? 1 : 2, line, col, &as)) != 0 || (r = count_nodes(ld, 1, line, col)) != 0 ||
        (r = begin_value(ld, line, col)) != 0)
        return r;
    nf = &ld->stack[ld->depth++];
    memset(nf, 0, sizeof(*nf));
    nf->is_map = is_map;
    nf->path_len = ld->path.len;
    nf->start_nodes = ld->nodes - 1;
    nf->sub_depth = 1;
    if ((nf->node = is_map ? json_object() : json_array()) == NULL)
        return oom(ld);
    if (anchor != NULL && (nf->anchor = token_strdup(anchor)) == NULL)
        return oom(ld);
    return 0;
}

/* Merges the "<<" values into f->node: keys written in the mapping win, then earlier sources. */
static int apply_merges(loader_t *ld, frame_t *f, int line, int col)
{
    size_t i;
    json_t *src;

    json_array_foreach(f->merges, i, src) {
        if (json_is_object(src)) {
            if (json_object_update_missing(f->node, src) != 0)
                return oom(ld);
        } else if (json_is_array(src)) {
            size_t j;
            json_t *m;
            json_array_foreach(src, j, m) {
                if (!json_is_object(m))
                    return fail(ld, KS_EINVAL, line, col, "a \"<<\" merge list must hold only mappings");
                if (json_object_update_missing(f->node, m) != 0)
                    return oom(ld);
            }
        } else {
            return fail(ld, KS_EINVAL, line, col, "the value of a \"<<\" merge key must be a mapping or a list of mappings");
        }
    }
    return 0;
}

static int on_end(loader_t *ld)
{
    frame_t *f = top(ld), done;
    json_t *v;
    int r, depth;

    KS_ASSERT(f != NULL);
    if (f->merges != NULL && (r = apply_merges(ld, f, f->key_line, f->key_col)) != 0)
        return r;
    done = *f;
    memset(f, 0, sizeof(*f));
    ld->depth--;
    v = done.node;
    done.node = NULL;
    ld->path.len = done.path_len;
    if (done.anchor != NULL) {
        r = add_anchor(ld, done.anchor, v, ld->nodes - done.start_nodes, done.sub_depth);
        done.anchor = NULL;
        if (r != 0) {
            json_decref(v);
            free_frame(&done);
            return r;
        }
    }
    depth = done.sub_depth;
    free_frame(&done);
    return attach(ld, v, depth);
}

static int push_doc(loader_t *ld)
{
    ks_doc_list_t *l = ld->out;
    ks_doc_t *d;

    if (ld->root == NULL || json_is_null(ld->root)) { /* an empty document */
        reset_doc(ld);
        return 0;
    }
    if (l->n == ld->capdocs) {
        size_t ncap = ld->capdocs ? ld->capdocs * 2 : 4;
        ks_doc_t *nd = realloc(l->docs, ncap * sizeof(*nd));
        if (nd == NULL)
            return oom(ld);
        l->docs = nd;
        ld->capdocs = ncap;
    }
    d = &l->docs[l->n++];
    d->obj = ld->root;
    d->file = ld->file;
    d->line = ld->root_line;
    d->col = ld->root_col;
    d->pos = ld->pos;
    ld->root = NULL;
    ld->pos = NULL;
    reset_doc(ld);
    return 0;
}

static void discard_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag, (void)user, (void)buf, (void)len;
}

/* The parser's first error as "file:line:col: message". */
static int syntax_error(loader_t *ld, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *de = fy_diag_errors_iterate(diag, &it);

    if (de != NULL && de->msg != NULL) {
        /* a quote left open runs into the next lines, which libfyaml reports as bad indentation */
        int open_quote = strstr(de->msg, "quoted scalar") != NULL && strstr(de->msg, "indent") != NULL;
        return fail(ld, KS_EINVAL, de->line, de->column, "%s%s", de->msg,
                    open_quote ? " (is a closing quote missing?)" : "");
    }
    return fail(ld, KS_EINVAL, 0, 0, "invalid YAML");
}

/* Length of the UTF-8 sequence at p (at most n bytes), 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, cp = p[0] & 0x1Fu;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3, cp = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, cp = p[0] & 0x07u;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/*
 * The input must be UTF-8 text without NUL bytes.  Checked before libfyaml sees it: besides giving
 * a clear message, libfyaml 0.7.12 loops forever on some invalid UTF-8 (in a directive line).
 */
static int check_text(loader_t *ld, const unsigned char *p, size_t len)
{
    int line = 1, col = 1;

    for (size_t i = 0; i < len;) {
        size_t n = p[i] == '\0' ? 0 : utf8_len(p + i, len - i);
        if (n == 0)
            return fail(ld, KS_EINVAL, line, col, p[i] == '\0' ? "NUL character in the input (not a text file?)"
                                                                : "the input is not valid UTF-8");
        if (p[i] == '\n')
            ++line, col = 1;
        else
            ++col;
        i += n;
    }
    return 0;
}

int ks_yaml_load(const char *text, size_t len, const char *file, ks_doc_list_t *out, char *err, size_t errlen)
{
    struct fy_diag_cfg dcfg;
    struct fy_diag *diag = NULL;
    struct fy_parse_cfg pcfg;
    struct fy_parser *fyp = NULL;
    struct fy_event *e;
    loader_t ld;
    int r = 0, done = 0;

    out->docs = NULL;
    out->n = 0;
    memset(&ld, 0, sizeof(ld));
    ld.text = text;
    ld.len = len;
    ld.file = file != NULL ? file : "<input>";
    ld.err = err;
    ld.errlen = errlen;
    ld.out = out;
    ks_buf_init(&ld.path, 0);
    if (len > KS_RESOURCE_MAX_BYTES)
        return fail(&ld, KS_ETOOBIG, 0, 0, "larger than %u bytes", KS_RESOURCE_MAX_BYTES);
    if (text == NULL || len == 0)
        return 0; /* no documents */
    if ((r = check_text(&ld, (const unsigned char *)text, len)) != 0)
        return r;

    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = discard_output;
    dcfg.colorize = false;
    dcfg.level = FYET_ERROR;
    if ((diag = fy_diag_create(&dcfg)) == NULL)
        return oom(&ld);
    fy_diag_set_collect_errors(diag, true);
    memset(&pcfg, 0, sizeof(pcfg));
    pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_DISABLE_RECYCLING;
    pcfg.diag = diag;
    if ((fyp = fy_parser_create(&pcfg)) == NULL || fy_parser_set_string(fyp, text, len) != 0) {
        r = oom(&ld);
        goto out;
    }

    while (r == 0 && !done) {
        if ((e = fy_parser_parse(fyp)) == NULL) {
            if (fy_parser_get_stream_error(fyp))
                r = syntax_error(&ld, diag);
            break;
        }
        switch (e->type) {
        case FYET_DOCUMENT_START:
            reset_doc(&ld);
            if ((ld.pos = ks__posmap_new()) == NULL)
                r = oom(&ld);
            break;
        case FYET_DOCUMENT_END:
            r = push_doc(&ld);
            break;
        case FYET_SCALAR:
            r = on_scalar(&ld, e);
            break;
        case FYET_ALIAS:
            r = on_alias(&ld, e);
            break;
        case FYET_MAPPING_START:
        case FYET_SEQUENCE_START:
            r = on_start(&ld, e, e->type == FYET_MAPPING_START);
            break;
        case FYET_MAPPING_END:
        case FYET_SEQUENCE_END:
            r = on_end(&ld);
            break;
        case FYET_STREAM_END:
            done = 1;
            break;
        default:
            break;
        }
        fy_parser_event_free(fyp, e);
    }

out:
    reset_doc(&ld);
    free(ld.anchors);
    ks_buf_free(&ld.path);
    if (fyp != NULL)
        fy_parser_destroy(fyp);
    fy_diag_destroy(diag);
    if (r != 0)
        ks_doc_list_free(out);
    return r;
}

void ks_doc_free(ks_doc_t *d)
{
    if (d == NULL)
        return;
    json_decref(d->obj);
    d->obj = NULL;
    ks__posmap_free(d->pos);
    d->pos = NULL;
}

void ks_doc_list_free(ks_doc_list_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; ++i)
        ks_doc_free(&l->docs[i]);
    free(l->docs);
    l->docs = NULL;
    l->n = 0;
}

int ks_doc_pos(const ks_doc_t *d, const char *path, int *line, int *col)
{
    size_t len = path != NULL ? strlen(path) : 0;
    long p;

    if (d == NULL || d->pos == NULL)
        return 0;
    for (;;) {
        if (ks__posmap_get(d->pos, path != NULL ? path : "", len, line, col))
            return 1;
        if ((p = ks__path_parent(path, len)) < 0)
            break;
        len = (size_t)p;
    }
    if (d->line > 0) {
        *line = d->line;
        *col = d->col;
        return 1;
    }
    return 0;
}
