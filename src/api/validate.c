/*
 * Validation of resources: the machinery (errors with paths and positions, schema tables,
 * suggestions), what every resource shares (apiVersion, kind, metadata, env, resources) and the
 * entry points.  The spec schemas are in inferenceservice.c and servingruntime.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "posmap.h"
#include "ks/autoscaler.h"
#include "validate.h"

#define MAX_ERRORS 1000 /* kept per document; the rest are only counted */

/* ---- errors --------------------------------------------------------------------------- */

static void add_error(ks_vctx_t *c, const char *path, size_t plen, const char *fmt, va_list ap)
{
    char what[600];
    ks_verr_t *e;
    int line = 0, col = 0, n;
    char *msg;

    if (c->nerr >= MAX_ERRORS) {
        c->dropped++;
        return;
    }
    vsnprintf(what, sizeof(what), fmt, ap);
    if (c->nerr == c->caperr) {
        size_t ncap = c->caperr ? c->caperr * 2 : 16;
        ks_verr_t *ne = realloc(c->errs, ncap * sizeof(*ne));
        if (ne == NULL) {
            c->nomem = 1;
            return;
        }
        c->errs = ne;
        c->caperr = ncap;
    }
    if (c->doc != NULL) {
        char *p = strndup(path, plen);
        if (p == NULL) {
            c->nomem = 1;
            return;
        }
        ks_doc_pos(c->doc, p, &line, &col);
        free(p);
    }
    n = plen > 0 ? asprintf(&msg, "%.*s: %s", (int)plen, path, what) : asprintf(&msg, "%s", what);
    if (n < 0) {
        c->nomem = 1;
        return;
    }
    e = &c->errs[c->nerr];
    e->line = line;
    e->col = col;
    e->seq = c->nerr;
    e->msg = msg;
    c->nerr++;
}

void ks__verr(ks_vctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(c, c->path.base != NULL ? c->path.base : "", c->path.len, fmt, ap);
    va_end(ap);
}

void ks__verr_key(ks_vctx_t *c, const char *key, const char *fmt, ...)
{
    size_t old = ks__vpush_key(c, key);
    va_list ap;
    va_start(ap, fmt);
    add_error(c, c->path.base != NULL ? c->path.base : "", c->path.len, fmt, ap);
    va_end(ap);
    ks__vpop(c, old);
}

size_t ks__vpush_key(ks_vctx_t *c, const char *key)
{
    size_t old = c->path.len;
    if (ks__path_key(&c->path, key, strlen(key)) != 0)
        c->nomem = 1;
    return old;
}

size_t ks__vpush_index(ks_vctx_t *c, size_t i)
{
    size_t old = c->path.len;
    if (ks__path_index(&c->path, i) != 0)
        c->nomem = 1;
    return old;
}

void ks__vpop(ks_vctx_t *c, size_t len)
{
    c->path.len = len;
}

static int cmp_err(const void *a, const void *b)
{
    const ks_verr_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Joins the errors, in file order, as "file:line:col: path: what" lines: as many whole lines as
 * fit in errlen, then "(N more errors)" when some did not.
 */
static void write_errors(ks_vctx_t *c, char *err, size_t errlen)
{
    size_t used = 0, total = c->nerr + c->dropped, shown = 0;

    if (err == NULL || errlen == 0)
        return;
    err[0] = '\0';
    if (c->doc != NULL)
        qsort(c->errs, c->nerr, sizeof(*c->errs), cmp_err);
    for (size_t i = 0; i < c->nerr; ++i) {
        char line[1024];
        size_t n, reserve = i + 1 < total ? 24 : 0; /* room for "\n(N more errors)" */
        const ks_verr_t *e = &c->errs[i];
        if (c->doc != NULL && e->line > 0)
            snprintf(line, sizeof(line), "%s%s:%d:%d: %s", i ? "\n" : "", c->doc->file, e->line, e->col, e->msg);
        else if (c->doc != NULL)
            snprintf(line, sizeof(line), "%s%s: %s", i ? "\n" : "", c->doc->file, e->msg);
        else
            snprintf(line, sizeof(line), "%s%s", i ? "\n" : "", e->msg);
        n = strlen(line);
        if (i > 0 && used + n + reserve >= errlen)
            break;
        snprintf(err + used, errlen - used, "%s", line);
        used = strlen(err);
        shown++;
    }
    if (shown < total && used < errlen)
        snprintf(err + used, errlen - used, "\n(%zu more error%s)", total - shown, total - shown == 1 ? "" : "s");
}

/* ---- values ------------------------------------------------------------------------------ */

void ks__describe(json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), o = 0;
        if (n < 8) {
            snprintf(buf, n, "a string");
            return;
        }
        buf[o++] = '"';
        for (size_t i = 0; i < len && o + 6 < n; ++i) {
            unsigned char ch = (unsigned char)s[i];
            if (i >= 40) {
                o += (size_t)snprintf(buf + o, n - o, "...");
                break;
            }
            if (ch == '"' || ch == '\\') {
                buf[o++] = '\\';
                buf[o++] = (char)ch;
            } else if (ch < 0x20 || ch == 0x7f) {
                o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
            } else {
                buf[o++] = (char)ch;
            }
        }
        if (o + 1 < n)
            buf[o++] = '"';
        buf[o] = '\0';
        return;
    }
    case JSON_INTEGER:
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        snprintf(buf, n, "%.15g", json_real_value(v));
        if (strspn(buf, "-0123456789") == strlen(buf) && strlen(buf) + 2 < n)
            strcat(buf, ".0");
        return;
    case JSON_TRUE:
        snprintf(buf, n, "true");
        return;
    case JSON_FALSE:
        snprintf(buf, n, "false");
        return;
    case JSON_NULL:
        snprintf(buf, n, "null");
        return;
    case JSON_OBJECT:
        snprintf(buf, n, "a mapping");
        return;
    case JSON_ARRAY:
        snprintf(buf, n, "a list");
        return;
    }
    snprintf(buf, n, "?");
}

/* For "must be a string": a scalar of another type can simply be quoted. */
static void quote_hint(json_t *v, char *buf, size_t n)
{
    char d[64];
    buf[0] = '\0';
    if (json_is_number(v) || json_is_boolean(v)) {
        ks__describe(v, d, sizeof(d));
        snprintf(buf, n, " (quote it: \"%s\")", d);
    }
}

int ks__want_string(ks_vctx_t *c, json_t *v, size_t minlen)
{
    char d[80], hint[80];
    if (!json_is_string(v)) {
        ks__describe(v, d, sizeof(d));
        quote_hint(v, hint, sizeof(hint));
        ks__verr(c, "must be a %sstring, got %s%s", minlen > 0 ? "non-empty " : "", d, hint);
        return 0;
    }
    if (json_string_length(v) < minlen) {
        ks__verr(c, "must be a non-empty string");
        return 0;
    }
    return 1;
}

int ks__want_int(ks_vctx_t *c, json_t *v, long long lo, long long hi)
{
    char d[80], range[80];
    long long x;

    if (hi == KS_INT_MAX && lo == 1)
        snprintf(range, sizeof(range), "> 0");
    else if (hi == KS_INT_MAX)
        snprintf(range, sizeof(range), ">= %lld", lo);
    else
        snprintf(range, sizeof(range), "from %lld to %lld", lo, hi);
    if (!json_is_integer(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "must be an integer %s, got %s", range, d);
        return 0;
    }
    x = json_integer_value(v);
    if (x < lo || x > hi) {
        ks__verr(c, "must be an integer %s, got %lld", range, x);
        return 0;
    }
    return 1;
}

int ks__want_bool(ks_vctx_t *c, json_t *v)
{
    char d[80];
    if (!json_is_boolean(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "must be true or false, got %s", d);
        return 0;
    }
    return 1;
}

int ks__want_enum(ks_vctx_t *c, json_t *v, const char *const *values)
{
    char d[80], list[256];
    size_t n = 0, o = 0;
    const char *s, *close;

    list[0] = '\0';
    for (; values[n] != NULL; ++n)
        if (o < sizeof(list))
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", n ? ", " : "", values[n]);
    if (json_is_string(v)) {
        s = json_string_value(v);
        for (size_t i = 0; i < n; ++i)
            if (strcmp(s, values[i]) == 0)
                return 1;
        ks__describe(v, d, sizeof(d));
        if ((close = ks__suggest(s, values, n)) != NULL)
            ks__verr(c, "must be one of %s, got %s (did you mean %s?)", list, d, close);
        else
            ks__verr(c, "must be one of %s, got %s", list, d);
        return 0;
    }
    ks__describe(v, d, sizeof(d));
    ks__verr(c, "must be one of %s, got %s", list, d);
    return 0;
}

/* Optimal string alignment distance, ignoring ASCII case; > 2 as soon as it cannot be <= 2. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[3][64];

    if (la > 60 || lb > 60 || (la > lb ? la - lb : lb - la) > 2)
        return 3;
    for (size_t j = 0; j <= lb; ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= la; ++i) {
        size_t *cur = d[i % 3], *prev = d[(i + 2) % 3], *prev2 = d[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; ++j) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == cb &&
                prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return d[la % 3][lb];
}

const char *ks__suggest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (size_t i = 0; i < n; ++i) {
        size_t d = edit_distance(s, names[i]);
        /* short names need a closer match: "ab" is not a typo of "args" */
        if (d < bestd && d * 2 < strlen(names[i]) + (d == 0)) {
            best = names[i];
            bestd = d;
        }
    }
    return best;
}

/* ---- names ------------------------------------------------------------------------------ */

static int is_lower_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static int label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; ++i)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int ks__is_dns1123_label(const char *s)
{
    return label_ok(s, strlen(s));
}

int ks__is_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    const char *p = s, *dot;

    if (n == 0 || n > 253)
        return 0;
    for (;;) {
        dot = strchr(p, '.');
        if (!label_ok(p, dot != NULL ? (size_t)(dot - p) : strlen(p)))
            return 0;
        if (dot == NULL)
            return 1;
        p = dot + 1;
    }
}

/* [a-z]([-a-z0-9]*[a-z0-9])?, at most 63: KServe's rule for InferenceService names. */
static int is_isvc_name(const char *s)
{
    return s[0] >= 'a' && s[0] <= 'z' && ks__is_dns1123_label(s);
}

static int is_alnum(char ch)
{
    return isalnum((unsigned char)ch) != 0;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most max: a label value or a key's name part. */
static int is_label_text(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; ++i)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* A label or annotation key: [prefix/]name, prefix a DNS-1123 subdomain. */
static int is_qualified_name(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash != NULL) {
        char prefix[254];
        size_t pn = (size_t)(slash - s);
        if (pn == 0 || pn > 253)
            return 0;
        memcpy(prefix, s, pn);
        prefix[pn] = '\0';
        if (!ks__is_dns1123_subdomain(prefix))
            return 0;
        s = slash + 1;
    }
    return is_label_text(s, strlen(s), 63);
}

/* ---- schema walking ------------------------------------------------------------------- */

static int check_list(ks_vctx_t *c, json_t *v, const ks_field_t *f)
{
    char d[80];
    size_t i;
    json_t *item;

    if (!json_is_array(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "must be a list, got %s", d);
        return 0;
    }
    if (json_array_size(v) < (size_t)f->lo) {
        ks__verr(c, "must have at least %lld item%s", f->lo, f->lo == 1 ? "" : "s");
        return 0;
    }
    json_array_foreach(v, i, item) {
        size_t old = ks__vpush_index(c, i);
        if (f->type == KS_FT_STRLIST)
            ks__want_string(c, item, 0);
        else
            ks__check_object(c, item, f->sub);
        ks__vpop(c, old);
    }
    return 1;
}

static void check_strmap(ks_vctx_t *c, json_t *v)
{
    char d[80];
    const char *k;
    json_t *x;

    if (!json_is_object(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "must be a mapping of strings to strings, got %s", d);
        return;
    }
    json_object_foreach(v, k, x) {
        size_t old = ks__vpush_key(c, k);
        ks__want_string(c, x, 0);
        ks__vpop(c, old);
    }
}

void ks__check_value(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    int ok = 1;

    switch (f->type) {
    case KS_FT_NONE:
        break;
    case KS_FT_STRING:
        ok = ks__want_string(c, v, (size_t)f->lo);
        break;
    case KS_FT_BOOL:
        ok = ks__want_bool(c, v);
        break;
    case KS_FT_INT:
        ok = ks__want_int(c, v, f->lo, f->hi);
        break;
    case KS_FT_ENUM:
        ok = ks__want_enum(c, v, f->values);
        break;
    case KS_FT_STRLIST:
    case KS_FT_LIST:
        ok = check_list(c, v, f);
        break;
    case KS_FT_STRMAP:
        check_strmap(c, v);
        break;
    case KS_FT_OBJECT:
        ks__check_object(c, v, f->sub);
        break;
    }
    if (ok && f->fn != NULL)
        f->fn(c, parent, key, v, f);
}

static const ks_field_t *find_field(const ks_schema_t *s, const char *key)
{
    for (size_t i = 0; s != NULL && i < s->n; ++i)
        if (strcmp(s->fields[i].name, key) == 0)
            return &s->fields[i];
    return NULL;
}

static void unknown_field(ks_vctx_t *c, const ks_schema_t *s, const char *key)
{
    const char *names[128];
    const char *close;
    size_t n = 0;

    if (s->other != NULL && find_field(s->other, key) != NULL &&
        !(find_field(s->other, key)->flags & KS_F_UNSUPPORTED)) {
        ks__verr(c, "unknown field here (it belongs in %s)", s->other_where);
        return;
    }
    for (size_t i = 0; i < s->n && n < KS_ARRAY_SIZE(names); ++i)
        names[n++] = s->fields[i].name;
    if ((close = ks__suggest(key, names, n)) != NULL)
        ks__verr(c, "unknown field (did you mean %s?)", close);
    else
        ks__verr(c, "unknown field");
}

void ks__check_object(ks_vctx_t *c, json_t *obj, const ks_schema_t *s)
{
    char d[80];
    const char *key;
    json_t *v;
    void *tmp;

    if (!json_is_object(obj)) {
        ks__describe(obj, d, sizeof(d));
        ks__verr(c, "must be a mapping, got %s", d);
        return;
    }
    /* null is absent, as Kubernetes reads it */
    json_object_foreach_safe(obj, tmp, key, v) {
        if (json_is_null(v))
            json_object_del(obj, key);
    }
    json_object_foreach(obj, key, v) {
        const ks_field_t *f = find_field(s, key);
        size_t old = ks__vpush_key(c, key);
        if (f == NULL)
            unknown_field(c, s, key);
        else if (f->flags & KS_F_UNSUPPORTED)
            ks__verr(c, "%s", f->note != NULL ? f->note : "not supported yet");
        else
            ks__check_value(c, obj, key, v, f);
        ks__vpop(c, old);
    }
    for (size_t i = 0; i < s->n; ++i)
        if ((s->fields[i].flags & KS_F_REQUIRED) && json_object_get(obj, s->fields[i].name) == NULL)
            ks__verr_key(c, s->fields[i].name, "required field missing");
    if (s->post != NULL)
        s->post(c, obj);
}

/* ---- shared field checks --------------------------------------------------------------- */

static void check_env_name(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    if (strchr(json_string_value(v), '=') != NULL || memchr(json_string_value(v), '\0', json_string_length(v)))
        ks__verr(c, "an environment variable name cannot contain '='");
}

static const ks_field_t env_fields[] = {
    {"name", KS_FT_STRING, KS_F_REQUIRED, .lo = 1, .fn = check_env_name},
    {"value", KS_FT_STRING},
    KS_UNSUPPORTED("valueFrom"),
};
static const ks_schema_t env_schema = KS_SCHEMA(env_fields);

void ks__check_env(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    static const ks_field_t list = {"env", KS_FT_LIST, 0, .sub = &env_schema};
    (void)check_list(c, v, &list);
}

/*
 * A Kubernetes quantity ("100m", "1.5", "512Mi", "1e3") as a number; 0 when it is not one.
 * Negative quantities are not accepted for resources.
 */
static int parse_quantity(const char *s, double *out)
{
    static const struct {
        const char *suffix;
        double mul;
    } suffixes[] = {
        {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
        {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}, {"n", 1e-9}, {"u", 1e-6}, {"m", 1e-3},
        {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
    };
    size_t i = 0, digits = 0;
    double x;
    char *end;

    if (s[0] == '+')
        ++i;
    while (isdigit((unsigned char)s[i]))
        ++i, ++digits;
    if (s[i] == '.') {
        ++i;
        while (isdigit((unsigned char)s[i]))
            ++i, ++digits;
    }
    if (digits == 0 || i > 40)
        return 0;
    x = strtod(s, &end);
    if (end != s + i)
        return 0;
    s += i;
    if (*s == '\0') {
        *out = x;
        return 1;
    }
    for (size_t k = 0; k < KS_ARRAY_SIZE(suffixes); ++k) {
        if (strcmp(s, suffixes[k].suffix) == 0) {
            *out = x * suffixes[k].mul;
            return 1;
        }
    }
    if (*s == 'e' || *s == 'E') {
        const char *e = s + 1;
        long exp;
        if (*e == '+' || *e == '-')
            ++e;
        if (!isdigit((unsigned char)*e))
            return 0;
        while (isdigit((unsigned char)*e))
            ++e;
        if (*e != '\0')
            return 0;
        exp = strtol(s + 1, NULL, 10);
        if (exp > 300 || exp < -300)
            return 0;
        *out = x * pow(10.0, (double)exp);
        return 1;
    }
    return 0;
}

/* requests/limits: {cpu, memory} quantities; numbers become strings. */
static void check_quantities(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    static const char *const known[] = {"cpu", "memory"};
    char d[80], buf[64];
    const char *k, *close;
    json_t *q;
    double x;

    if (!json_is_object(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "must be a mapping of resource names (cpu, memory) to quantities, got %s", d);
        return;
    }
    json_object_foreach(v, k, q) {
        size_t old = ks__vpush_key(c, k);
        if (strcmp(k, "cpu") != 0 && strcmp(k, "memory") != 0) {
            if (strchr(k, '/') != NULL || strcmp(k, "ephemeral-storage") == 0 || strncmp(k, "hugepages-", 10) == 0 ||
                strstr(k, "gpu") != NULL)
                ks__verr(c, "not supported yet (only cpu and memory)");
            else if ((close = ks__suggest(k, known, 2)) != NULL)
                ks__verr(c, "unknown resource (did you mean %s?)", close);
            else
                ks__verr(c, "unknown resource (cpu and memory are supported)");
        } else if (json_is_integer(q) || json_is_real(q)) {
            /* Kubernetes reads cpu: 1 and cpu: 0.5 as quantities: keep them as their text */
            double n = json_number_value(q);
            if (n < 0) {
                ks__verr(c, "must not be negative");
            } else {
                if (json_is_integer(q))
                    snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(q));
                else
                    snprintf(buf, sizeof(buf), "%.15g", n);
                if (json_object_set_new(v, k, json_string(buf)) != 0)
                    c->nomem = 1;
            }
        } else if (!json_is_string(q)) {
            ks__describe(q, d, sizeof(d));
            ks__verr(c, "must be a quantity such as \"500m\", \"1\" or \"1Gi\", got %s", d);
        } else if (json_string_value(q)[0] == '-') {
            ks__verr(c, "must not be negative");
        } else if (!parse_quantity(json_string_value(q), &x)) {
            ks__describe(q, d, sizeof(d));
            ks__verr(c, "must be a quantity such as \"500m\", \"1\" or \"1Gi\", got %s", d);
        }
        ks__vpop(c, old);
    }
}

/* limits >= requests, as Kubernetes requires. */
static void resources_post(ks_vctx_t *c, json_t *obj)
{
    json_t *req = json_object_get(obj, "requests"), *lim = json_object_get(obj, "limits");
    const char *k;
    json_t *q;

    if (!json_is_object(req) || !json_is_object(lim))
        return;
    json_object_foreach(req, k, q) {
        json_t *l = json_object_get(lim, k);
        double a, b;
        if (json_is_string(q) && json_is_string(l) && parse_quantity(json_string_value(q), &a) &&
            parse_quantity(json_string_value(l), &b) && a > b) {
            size_t old = ks__vpush_key(c, "requests");
            ks__verr_key(c, k, "%s must be less than or equal to the limit %s", json_string_value(q),
                         json_string_value(l));
            ks__vpop(c, old);
        }
    }
}

static const ks_field_t resources_fields[] = {
    {"requests", KS_FT_NONE, .fn = check_quantities},
    {"limits", KS_FT_NONE, .fn = check_quantities},
    KS_UNSUPPORTED("claims"),
};
static const ks_schema_t resources_schema = KS_SCHEMA(resources_fields, resources_post);

void ks__check_resources(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    ks__check_object(c, v, &resources_schema);
}

static const char *const deployment_modes[] = {"Serverless", "Knative", "RawDeployment", "Standard", NULL};

/*
 * An autoscaling.knative.dev/<key> annotation: its value as the autoscaler
 * would read it (include/ks/autoscaler.h), so a bad one is refused at apply.
 */
static void check_autoscaling(ks_vctx_t *c, const char *key, const char *value)
{
    static const char *const classes[] = {"kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev", NULL};
    static const struct {
        const char *old, *now;
    } renamed[] = {{"minScale", "min-scale"}, {"maxScale", "max-scale"}, {"initialScale", "initial-scale"}};
    ks_kpa_config_t cfg;
    char err[256];

    if (strcmp(key, "class") == 0) {
        for (int i = 0; classes[i] != NULL; ++i)
            if (strcmp(value, classes[i]) == 0)
                return;
        ks__verr(c, "must be kpa.autoscaling.knative.dev or hpa.autoscaling.knative.dev, got \"%s\"", value);
        return;
    }
    /* the metrics of the HPA class are cpu and memory */
    if (strcmp(key, "metric") == 0 && (strcmp(value, "cpu") == 0 || strcmp(value, "memory") == 0))
        return;
    for (size_t i = 0; i < sizeof(renamed) / sizeof(renamed[0]); ++i)
        if (strcmp(key, renamed[i].old) == 0)
            key = renamed[i].now; /* Knative's older spelling */
    ks_kpa_config_defaults(&cfg);
    err[0] = '\0';
    if (ks_kpa_config_set(&cfg, key, value, err, sizeof(err)) != 0)
        ks__verr(c, "%s", err[0] ? err : "not a valid autoscaling setting");
}

/*
 * A map of qualified names to strings (annotations, labels); value_check
 * looks at each string value that passed the common checks.
 */
static void check_string_map(ks_vctx_t *c, json_t *v, const char *key_noun,
                             void (*value_check)(ks_vctx_t *c, const char *k, json_t *x))
{
    char d[80], hint[80];
    const char *k;
    json_t *x;

    if (!json_is_object(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "must be a mapping of strings to strings, got %s", d);
        return;
    }
    json_object_foreach(v, k, x) {
        size_t old = ks__vpush_key(c, k);
        if (!is_qualified_name(k)) {
            ks__verr(c, "not a valid %s: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, "
                        "'-', '_' or '.', starting and ending with a letter or digit",
                     key_noun);
        } else if (!json_is_string(x)) {
            ks__describe(x, d, sizeof(d));
            quote_hint(x, hint, sizeof(hint));
            ks__verr(c, "must be a string, got %s%s", d, hint);
        } else {
            value_check(c, k, x);
        }
        ks__vpop(c, old);
    }
}

static void annotation_value(ks_vctx_t *c, const char *k, json_t *x)
{
    if (c->kind == KS_KIND_ISVC && strcmp(k, "serving.kserve.io/deploymentMode") == 0)
        ks__want_enum(c, x, deployment_modes);
    else if (c->kind == KS_KIND_ISVC && strncmp(k, "autoscaling.knative.dev/", 24) == 0)
        check_autoscaling(c, k + 24, json_string_value(x));
}

static void label_value(ks_vctx_t *c, const char *k, json_t *x)
{
    char d[80];
    (void)k;
    if (json_string_length(x) > 0 && !is_label_text(json_string_value(x), json_string_length(x), 63)) {
        ks__describe(x, d, sizeof(d));
        ks__verr(c, "%s is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and "
                    "ending with a letter or digit",
                 d);
    }
}

void ks__check_annotations(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    check_string_map(c, v, "key", annotation_value);
}

static void check_labels(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    check_string_map(c, v, "label key", label_value);
}

/* ---- metadata ---------------------------------------------------------------------------- */

static void check_name(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    const char *s = json_string_value(v);
    char d[80];

    ks__describe(v, d, sizeof(d));
    if (c->kind == KS_KIND_ISVC) {
        if (json_string_length(v) > 63)
            ks__verr(c, "must be at most 63 characters, got %zu", json_string_length(v));
        else if (!is_isvc_name(s) || strlen(s) != json_string_length(v))
            ks__verr(c, "%s is not a valid InferenceService name: lower-case letters, digits and '-', starting with a "
                        "letter and ending with a letter or digit",
                     d);
    } else if (!ks__is_dns1123_subdomain(s) || strlen(s) != json_string_length(v)) {
        ks__verr(c, "%s is not a valid name: at most 253 lower-case letters, digits, '-' and '.', starting and ending "
                    "with a letter or digit",
                 d);
    }
}

static void check_namespace(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    char d[80];
    if (c->kind == KS_KIND_CLUSTER_SERVING_RUNTIME) {
        ks__verr(c, "a ClusterServingRuntime is cluster-wide and has no namespace (remove it, or use a ServingRuntime)");
        return;
    }
    if (!ks__is_dns1123_label(json_string_value(v)) || strlen(json_string_value(v)) != json_string_length(v)) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "%s is not a valid namespace: at most 63 lower-case letters, digits and '-', starting and ending "
                    "with a letter or digit",
                 d);
    }
}

static void check_timestamp(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    ks__want_string(c, v, 0);
}

static const ks_field_t metadata_fields[] = {
    {"name", KS_FT_STRING, KS_F_REQUIRED, .lo = 1, .fn = check_name},
    {"namespace", KS_FT_STRING, .lo = 1, .fn = check_namespace},
    {"labels", KS_FT_NONE, .fn = check_labels},
    {"annotations", KS_FT_NONE, .fn = ks__check_annotations},
    {"generation", KS_FT_INT, KS_F_SERVER, .lo = 0, .hi = KS_INT_MAX},
    {"resourceVersion", KS_FT_STRING, KS_F_SERVER},
    {"uid", KS_FT_STRING, KS_F_SERVER},
    {"creationTimestamp", KS_FT_NONE, KS_F_SERVER, .fn = check_timestamp},
    KS_UNSUPPORTED("generateName"),
    KS_UNSUPPORTED("finalizers"),
    KS_UNSUPPORTED("ownerReferences"),
    KS_UNSUPPORTED("managedFields"),
    KS_UNSUPPORTED("deletionTimestamp"),
    KS_UNSUPPORTED("deletionGracePeriodSeconds"),
    KS_UNSUPPORTED("selfLink"),
};
static const ks_schema_t metadata_schema = KS_SCHEMA(metadata_fields);

/* ---- the document -------------------------------------------------------------------- */

static const struct {
    const char *kind, *api_version;
    ks_kind_t k;
} kinds[] = {
    {"InferenceService", "serving.kserve.io/v1beta1", KS_KIND_ISVC},
    {"ServingRuntime", "serving.kserve.io/v1alpha1", KS_KIND_SERVING_RUNTIME},
    {"ClusterServingRuntime", "serving.kserve.io/v1alpha1", KS_KIND_CLUSTER_SERVING_RUNTIME},
};

/* Kinds of KServe's API that the platform does not serve. */
static const char *const later_kinds[] = {"InferenceGraph", "TrainedModel", "ClusterStorageContainer",
                                          "LocalModelCache", "LocalModelNode", "LocalModelNodeGroup",
                                          "ClusterLocalModel", "LLMInferenceService"};

const char *ks_kind_name(ks_kind_t kind)
{
    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i)
        if (kinds[i].k == kind)
            return kinds[i].kind;
    return "unknown";
}

static void check_api_version(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    const char *want = NULL;
    char d[80];

    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i)
        if (kinds[i].k == c->kind)
            want = kinds[i].api_version;
    if (want == NULL || !ks__want_string(c, v, 1) || strcmp(json_string_value(v), want) == 0)
        return;
    ks__describe(v, d, sizeof(d));
    ks__verr(c, "must be %s for a%s %s, got %s", want, c->kind == KS_KIND_ISVC ? "n" : "", ks_kind_name(c->kind), d);
}

static const ks_field_t top_fields[] = {
    {"apiVersion", KS_FT_NONE, KS_F_REQUIRED, .fn = check_api_version},
    {"kind", KS_FT_NONE, KS_F_REQUIRED}, /* read before the walk */
    {"metadata", KS_FT_OBJECT, KS_F_REQUIRED, .sub = &metadata_schema},
    {"spec", KS_FT_NONE, KS_F_REQUIRED}, /* the kind's schema, set below */
    {"status", KS_FT_NONE, KS_F_SERVER},
};

static void check_isvc_spec(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    ks__check_object(c, v, &ks__isvc_spec_schema);
}

static void check_runtime_spec(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    ks__check_object(c, v, &ks__runtime_spec_schema);
}

/* Sets c->kind from the document's kind; 0 when the kind is missing or not one we serve. */
static int read_kind(ks_vctx_t *c, json_t *obj)
{
    static const char *names[KS_ARRAY_SIZE(kinds) + KS_ARRAY_SIZE(later_kinds)];
    json_t *k = json_object_get(obj, "kind");
    const char *s, *close;
    char d[80];
    size_t n = 0;

    if (k == NULL || json_is_null(k)) {
        ks__verr_key(c, "kind", "required field missing (InferenceService, ServingRuntime or ClusterServingRuntime)");
        return 0;
    }
    if (!json_is_string(k)) {
        size_t old = ks__vpush_key(c, "kind");
        ks__describe(k, d, sizeof(d));
        ks__verr(c, "must be a string, got %s", d);
        ks__vpop(c, old);
        return 0;
    }
    s = json_string_value(k);
    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i) {
        names[n++] = kinds[i].kind;
        if (strcmp(s, kinds[i].kind) == 0) {
            c->kind = kinds[i].k;
            return 1;
        }
    }
    for (size_t i = 0; i < KS_ARRAY_SIZE(later_kinds); ++i) {
        names[n++] = later_kinds[i];
        if (strcmp(s, later_kinds[i]) == 0) {
            ks__verr_key(c, "kind", "%s is not supported yet", s);
            return 0;
        }
    }
    ks__describe(k, d, sizeof(d));
    if ((close = ks__suggest(s, names, n)) != NULL)
        ks__verr_key(c, "kind", "unknown kind %s (did you mean %s?)", d, close);
    else
        ks__verr_key(c, "kind", "unknown kind %s (InferenceService, ServingRuntime or ClusterServingRuntime)", d);
    return 0;
}

/* Whether the InferenceService asks for RawDeployment (read before the walk: spec may come first). */
static int read_raw_mode(json_t *obj)
{
    json_t *mode = json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                                   "serving.kserve.io/deploymentMode");
    const char *s = json_string_value(mode);
    return s != NULL && (strcmp(s, "RawDeployment") == 0 || strcmp(s, "Standard") == 0);
}

static int validate(ks_doc_t *doc, json_t *obj, ks_kind_t *kind, char *err, size_t errlen)
{
    ks_field_t fields[KS_ARRAY_SIZE(top_fields)];
    ks_schema_t top = KS_SCHEMA(fields);
    ks_vctx_t c;
    char d[80];
    int r = 0;

    memset(&c, 0, sizeof(c));
    c.doc = doc;
    ks_buf_init(&c.path, 0);
    if (kind != NULL)
        *kind = KS_KIND_UNKNOWN;
    if (err != NULL && errlen > 0)
        err[0] = '\0';

    if (!json_is_object(obj)) {
        ks__describe(obj, d, sizeof(d));
        ks__verr(&c, "a resource must be a mapping with apiVersion, kind, metadata and spec, got %s", d);
        goto out;
    }
    if (!read_kind(&c, obj)) {
        if (json_object_get(obj, "apiVersion") == NULL)
            ks__verr_key(&c, "apiVersion", "required field missing");
        goto out;
    }
    if (kind != NULL)
        *kind = c.kind;
    c.raw = c.kind == KS_KIND_ISVC && read_raw_mode(obj);

    memcpy(fields, top_fields, sizeof(fields));
    for (size_t i = 0; i < KS_ARRAY_SIZE(fields); ++i)
        if (strcmp(fields[i].name, "spec") == 0)
            fields[i].fn = c.kind == KS_KIND_ISVC ? check_isvc_spec : check_runtime_spec;
    ks__check_object(&c, obj, &top);
    if (c.nerr > 0 || c.nomem)
        goto out;

    /* normalise */
    json_object_del(obj, "status");
    if (c.kind != KS_KIND_CLUSTER_SERVING_RUNTIME &&
        json_object_get(json_object_get(obj, "metadata"), "namespace") == NULL &&
        json_object_set_new(json_object_get(obj, "metadata"), "namespace", json_string("default")) != 0)
        c.nomem = 1;
    if (c.kind == KS_KIND_ISVC && ks__isvc_normalise(&c, obj) != 0)
        c.nomem = 1;

out:
    if (c.nomem) {
        ks_errorf(err, errlen, "out of memory while validating");
        r = KS_ENOMEM;
    } else if (c.nerr > 0 || c.dropped > 0) {
        write_errors(&c, err, errlen);
        r = KS_EINVAL;
    }
    for (size_t i = 0; i < c.nerr; ++i)
        free(c.errs[i].msg);
    free(c.errs);
    ks_buf_free(&c.path);
    return r;
}

int ks_validate(ks_doc_t *d, ks_kind_t *kind, char *err, size_t errlen)
{
    return validate(d, d->obj, kind, err, errlen);
}

int ks_validate_json(json_t *obj, ks_kind_t *kind, char *err, size_t errlen)
{
    return validate(NULL, obj, kind, err, errlen);
}
