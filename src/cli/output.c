/*
 * What the command line prints: kubectl's AGE, durations, tab-aligned tables,
 * and objects as YAML (libfyaml's emitter) or JSON.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <libfyaml.h>

#include "ks/cli.h"

/* ---- AGE --------------------------------------------------------------------------- */

/* Kubernetes' duration.HumanDuration, which `kubectl get` prints as AGE. */
void ks_cli_age(char *buf, size_t len, int64_t seconds)
{
    int64_t minutes, hours;

    if (seconds < -1) {
        snprintf(buf, len, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60 * 2) {
        snprintf(buf, len, "%llds", (long long)seconds);
        return;
    }
    minutes = seconds / 60;
    if (minutes < 10) {
        if (seconds % 60 == 0)
            snprintf(buf, len, "%lldm", (long long)minutes);
        else
            snprintf(buf, len, "%lldm%llds", (long long)minutes, (long long)(seconds % 60));
        return;
    }
    if (minutes < 60 * 3) {
        snprintf(buf, len, "%lldm", (long long)minutes);
        return;
    }
    hours = seconds / 3600;
    if (hours < 8) {
        if (minutes % 60 == 0)
            snprintf(buf, len, "%lldh", (long long)hours);
        else
            snprintf(buf, len, "%lldh%lldm", (long long)hours, (long long)(minutes % 60));
    } else if (hours < 48) {
        snprintf(buf, len, "%lldh", (long long)hours);
    } else if (hours < 24 * 8) {
        if (hours % 24 == 0)
            snprintf(buf, len, "%lldd", (long long)(hours / 24));
        else
            snprintf(buf, len, "%lldd%lldh", (long long)(hours / 24), (long long)(hours % 24));
    } else if (hours < 24 * 365 * 2) {
        snprintf(buf, len, "%lldd", (long long)(hours / 24));
    } else if (hours < 24 * 365 * 8) {
        int64_t days = hours / 24;
        if (days % 365 == 0)
            snprintf(buf, len, "%lldy", (long long)(days / 365));
        else
            snprintf(buf, len, "%lldy%lldd", (long long)(days / 365), (long long)(days % 365));
    } else {
        snprintf(buf, len, "%lldy", (long long)(hours / 24 / 365));
    }
}

int ks_cli_parse_time(const char *ts, time_t *out)
{
    struct tm tm;
    const char *p;
    long off = 0;

    if (ts == NULL)
        return KS_EINVAL;
    memset(&tm, 0, sizeof(tm));
    p = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        p = strptime(ts, "%Y-%m-%d %H:%M:%S", &tm);
    if (p == NULL)
        return KS_EINVAL;
    if (*p == '.') /* fractions of a second */
        for (++p; isdigit((unsigned char)*p); ++p)
            ;
    if (*p == 'Z' || *p == 'z') {
        ++p;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return KS_EINVAL;
        off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L);
        p += 6;
    } else {
        return KS_EINVAL;
    }
    if (*p != '\0')
        return KS_EINVAL;
    *out = timegm(&tm) - off;
    return 0;
}

void ks_cli_age_since(char *buf, size_t len, const char *ts, time_t now)
{
    time_t t;
    if (ks_cli_parse_time(ts, &t) != 0) {
        snprintf(buf, len, "<unknown>");
        return;
    }
    ks_cli_age(buf, len, (int64_t)now - (int64_t)t);
}

/* ---- durations ----------------------------------------------------------------------- */

/* Go's time.ParseDuration, in milliseconds: a sequence of <decimal><unit>. */
int ks_cli_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"us", 0.001}, {"µs", 0.001}, {"ns", 0.000001}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    const char *p = s;
    double total = 0;
    int neg = 0;

    if (s == NULL || *s == '\0')
        goto bad;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ms = 0;
        return 0;
    }
    while (*p != '\0') {
        double v = 0, scale = 1;
        int digits = 0;
        size_t i;

        /* [0-9]*(.[0-9]*)? with at least one digit: no signs, exponents or hex inside */
        for (; isdigit((unsigned char)*p); ++p, ++digits)
            v = v * 10 + (*p - '0');
        if (*p == '.')
            for (++p; isdigit((unsigned char)*p); ++p, ++digits)
                v += (*p - '0') * (scale /= 10);
        if (digits == 0)
            goto bad;
        for (i = 0; i < KS_ARRAY_SIZE(units); ++i) {
            size_t n = strlen(units[i].unit);
            /* "m" must not swallow the "m" of "ms" */
            if (strncmp(p, units[i].unit, n) == 0)
                break;
        }
        if (i == KS_ARRAY_SIZE(units)) {
            ks_errorf(err, errlen, "invalid duration \"%s\": %s", s,
                      *p == '\0' ? "missing unit (ms, s, m, h)" : "unknown unit (ms, s, m, h)");
            return KS_EINVAL;
        }
        p += strlen(units[i].unit);
        total += v * units[i].ms;
    }
    if (neg || total > 9.2e15)
        goto bad;
    *ms = (int64_t)llround(total);
    return 0;
bad:
    ks_errorf(err, errlen, "invalid duration \"%s\" (examples: 500ms, 30s, 2m, 1h)", s != NULL ? s : "");
    return KS_EINVAL;
}

/* ---- URLs ------------------------------------------------------------------------------ */

int ks_cli_urlencode(ks_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; ++p) {
        int r;
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            r = ks_buf_putc(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            r = ks_buf_append(out, e, 3);
        }
        if (r != 0)
            return r;
    }
    return 0;
}

int ks_cli_label_selector(char *buf, size_t len, const char *key, const char *value)
{
    ks_buf_t b;
    int r;

    ks_buf_init(&b, 0);
    r = ks_buf_puts(&b, "labelSelector=");
    if (r == 0)
        r = ks_cli_urlencode(&b, key);
    if (r == 0)
        r = ks_buf_puts(&b, "%3D");
    if (r == 0)
        r = ks_cli_urlencode(&b, value);
    if (r == 0 && b.len + 1 > len)
        r = KS_ETOOBIG;
    if (r == 0) {
        memcpy(buf, b.base, b.len);
        buf[b.len] = '\0';
    }
    ks_buf_free(&b);
    return r;
}

/* ---- JSON access --------------------------------------------------------------------------- */

json_t *ks_cli_json_path(json_t *root, const char *path)
{
    json_t *v = root;
    const char *p = path;

    while (v != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(v))
            return NULL;
        v = json_object_getn(v, p, n);
        p += n;
        if (*p == '.')
            ++p;
    }
    return v;
}

const char *ks_cli_json_str(json_t *root, const char *path)
{
    return json_string_value(ks_cli_json_path(root, path));
}

const char *ks_cli_json_text(json_t *root, const char *path, char *buf, size_t len)
{
    json_t *v = ks_cli_json_path(root, path);

    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(buf, len, "true");
    else if (json_is_false(v))
        snprintf(buf, len, "false");
    else if (len > 0)
        buf[0] = '\0';
    return buf;
}

json_t *ks_cli_condition(json_t *obj, const char *type)
{
    json_t *conds = ks_cli_json_path(obj, "status.conditions"), *c;
    size_t i;

    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t != NULL && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static void percent_text(char *buf, size_t len, json_t *entry)
{
    json_t *p = json_object_get(entry, "percent");
    if (json_is_integer(p))
        snprintf(buf, len, "%lld", (long long)json_integer_value(p));
    else if (json_is_real(p))
        snprintf(buf, len, "%g", json_real_value(p));
    else if (len > 0)
        buf[0] = '\0';
}

void ks_cli_traffic(json_t *isvc, ks_cli_traffic_t *out)
{
    json_t *traffic = ks_cli_json_path(isvc, "status.components.predictor.traffic"), *t, *prev = NULL, *latest = NULL;
    const char *prev_name = ks_cli_json_str(isvc, "status.components.predictor.previousRolledoutRevision");
    size_t i;

    memset(out, 0, sizeof(*out));
    json_array_foreach(traffic, i, t)
    {
        const char *tag = json_string_value(json_object_get(t, "tag"));
        if (json_is_true(json_object_get(t, "latestRevision"))) {
            if (latest == NULL)
                latest = t;
        } else if (tag != NULL && strcmp(tag, "prev") == 0) {
            prev = t;
        }
    }
    if (prev == NULL && prev_name != NULL) {
        json_array_foreach(traffic, i, t)
        {
            const char *rn = json_string_value(json_object_get(t, "revisionName"));
            if (t != latest && rn != NULL && strcmp(rn, prev_name) == 0) {
                prev = t;
                break;
            }
        }
    }
    if (prev != NULL) {
        const char *rn = json_string_value(json_object_get(prev, "revisionName"));
        percent_text(out->prev, sizeof(out->prev), prev);
        snprintf(out->prev_revision, sizeof(out->prev_revision), "%s", rn != NULL ? rn : "");
    }
    if (latest != NULL) {
        const char *rn = json_string_value(json_object_get(latest, "revisionName"));
        percent_text(out->latest, sizeof(out->latest), latest);
        snprintf(out->latest_revision, sizeof(out->latest_revision), "%s", rn != NULL ? rn : "");
    }
}

/* ---- tables ------------------------------------------------------------------------------------ */

void ks_cli_table_init(ks_cli_table_t *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}

int ks_cli_table_row(ks_cli_table_t *t, const char *const *cells)
{
    size_t base;

    if (t->nrows == t->cap) {
        size_t ncap = t->cap == 0 ? 8 : t->cap * 2;
        char **p = realloc(t->cells, ncap * t->ncols * sizeof(*p));
        if (p == NULL)
            return KS_ENOMEM;
        t->cells = p;
        t->cap = ncap;
    }
    base = t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; ++c) {
        t->cells[base + c] = strdup(cells[c] != NULL ? cells[c] : "");
        if (t->cells[base + c] == NULL) {
            while (c-- > 0)
                free(t->cells[base + c]);
            return KS_ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

int ks_cli_table_rowv(ks_cli_table_t *t, ...)
{
    const char *cells[32];
    va_list ap;

    KS_ASSERT(t->ncols <= KS_ARRAY_SIZE(cells));
    va_start(ap, t);
    for (size_t c = 0; c < t->ncols; ++c)
        cells[c] = va_arg(ap, const char *);
    va_end(ap);
    return ks_cli_table_row(t, cells);
}

/* Display width of UTF-8 text: one column per code point (what tabwriter counts). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; ++s)
        if (((unsigned char)*s & 0xC0) != 0x80)
            ++w;
    return w;
}

int ks_cli_table_render(const ks_cli_table_t *t, ks_buf_t *out, const char *indent, size_t minwidth, size_t padding)
{
    size_t *width;
    int r = 0;

    if (t->nrows == 0)
        return 0;
    width = calloc(t->ncols, sizeof(*width));
    if (width == NULL)
        return KS_ENOMEM;
    for (size_t row = 0; row < t->nrows; ++row)
        for (size_t c = 0; c < t->ncols; ++c) {
            size_t w = text_width(t->cells[row * t->ncols + c]) + padding;
            if (w > width[c])
                width[c] = w;
        }
    for (size_t c = 0; c < t->ncols; ++c)
        if (width[c] < minwidth)
            width[c] = minwidth;
    for (size_t row = 0; row < t->nrows && r == 0; ++row) {
        size_t start = out->len;
        if (indent != NULL)
            r = ks_buf_append(out, indent, strlen(indent));
        for (size_t c = 0; c < t->ncols && r == 0; ++c) {
            const char *cell = t->cells[row * t->ncols + c];
            r = ks_buf_append(out, cell, strlen(cell));
            if (c + 1 < t->ncols)
                for (size_t pad = text_width(cell); pad < width[c] && r == 0; ++pad)
                    r = ks_buf_putc(out, ' ');
        }
        /* empty cells at the end of a row leave no trailing spaces */
        while (r == 0 && out->len > start && out->base[out->len - 1] == ' ')
            out->len--;
        if (r == 0)
            r = ks_buf_putc(out, '\n');
    }
    free(width);
    return r;
}

void ks_cli_table_free(ks_cli_table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; ++i)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* ---- YAML ---------------------------------------------------------------------------------------- */

/* Would the YAML 1.1 or 1.2 core schema read s, written plain, as something other than this string? */
static int plain_is_ambiguous(const char *s)
{
    static const char *const words[] = {"null", "~",  "true", "false", "yes", "no",    "on",   "off",
                                        "y",    "n",  ".inf", "-.inf", "+.inf", ".nan", "<<", "="};
    const char *p = s;
    int digits = 0;

    for (size_t i = 0; i < KS_ARRAY_SIZE(words); ++i)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    /* numbers in any base, with signs, exponents, underscores or sexagesimal colons */
    if (*p == '+' || *p == '-')
        ++p;
    if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
        for (; *p != '\0'; ++p) {
            if (isdigit((unsigned char)*p))
                ++digits;
            else if (strchr("._:+-eExXoObBaAcCdDfF", *p) == NULL)
                break;
        }
        if (*p == '\0' && digits > 0)
            return 1;
    }
    /* timestamps: 2026-01-02... */
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
        isdigit((unsigned char)s[3]) && s[4] == '-')
        return 1;
    return 0;
}

/* Can s be written as a plain scalar that reads back as the same string? */
static int plain_is_safe(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || plain_is_ambiguous(s))
        return 0;
    /* indicators cannot start a plain scalar; "-" can when a non-space follows ("--flag=x") */
    if (strchr("?:,[]{}#&*!|>'\"%@` \t", s[0]) != NULL || (s[0] == '-' && (s[1] == ' ' || s[1] == '\0')))
        return 0;
    if (s[n - 1] == ' ' || s[n - 1] == ':')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; ++p) {
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        if ((*p == ':' && (p[1] == ' ' || p[1] == '\0')) || (*p == '#' && p > (const unsigned char *)s && p[-1] == ' '))
            return 0;
    }
    return 1;
}

/* Multi-line text that a literal block ("|" / "|-") carries exactly. */
static int literal_is_safe(const char *s)
{
    size_t n = strlen(s);

    if (strchr(s, '\n') == NULL || s[0] == ' ' || s[0] == '\n' || s[0] == '\t')
        return 0;
    if (n >= 2 && s[n - 1] == '\n' && s[n - 2] == '\n')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; ++p) {
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
            return 0;
        /* a line may not start with a space: the block's indentation would change */
        if (*p == '\n' && (p[1] == ' ' || p[1] == '\t'))
            return 0;
        /* trailing spaces on a line survive a literal block, but keep it simple to read */
        if (*p == ' ' && (p[1] == '\n' || p[1] == '\0'))
            return 0;
    }
    return 1;
}

static struct fy_node *yaml_string(struct fy_document *fyd, const char *s)
{
    ks_buf_t b;

    if (plain_is_safe(s))
        return fy_node_create_scalar_copy(fyd, s, strlen(s));
    ks_buf_init(&b, 0);
    if (literal_is_safe(s)) {
        size_t n = strlen(s);
        int chomp = s[n - 1] != '\n';
        int r = chomp ? ks_buf_puts(&b, "|-\n  ") : ks_buf_puts(&b, "|\n  ");
        for (const char *p = s; *p != '\0' && r == 0; ++p) {
            r = ks_buf_putc(&b, *p);
            if (*p == '\n' && p[1] != '\0' && r == 0)
                r = ks_buf_puts(&b, "  ");
        }
        if (r != 0) {
            ks_buf_free(&b);
            return NULL;
        }
    } else {
        /* a JSON string is a valid YAML double-quoted scalar */
        json_t *js = json_string(s);
        char *q = js != NULL ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        if (q == NULL || ks_buf_append(&b, q, strlen(q)) != 0) {
            free(q);
            ks_buf_free(&b);
            return NULL;
        }
        free(q);
    }
    /* the node points into its source text: the document takes the buffer and frees it */
    return fy_node_build_from_malloc_string(fyd, b.base, b.len);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static struct fy_node *yaml_node(struct fy_document *fyd, json_t *v, int depth)
{
    char num[64];
    struct fy_node *fyn = NULL;

    if (depth > 100)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = malloc((n > 0 ? n : 1) * sizeof(*keys));
        const char *key;
        json_t *val;

        if (keys == NULL)
            return NULL;
        json_object_foreach(v, key, val) keys[i++] = key;
        qsort(keys, n, sizeof(*keys), key_cmp);
        fyn = fy_node_create_mapping(fyd);
        for (i = 0; i < n && fyn != NULL; ++i) {
            struct fy_node *k = yaml_string(fyd, keys[i]);
            struct fy_node *e = yaml_node(fyd, json_object_get(v, keys[i]), depth + 1);
            if (k == NULL || e == NULL || fy_node_mapping_append(fyn, k, e) != 0) {
                fy_node_free(k);
                fy_node_free(e);
                fy_node_free(fyn);
                fyn = NULL;
            }
        }
        free(keys);
        return fyn;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        fyn = fy_node_create_sequence(fyd);
        if (fyn == NULL)
            return NULL;
        json_array_foreach(v, i, e)
        {
            struct fy_node *en = yaml_node(fyd, e, depth + 1);
            if (en == NULL || fy_node_sequence_append(fyn, en) != 0) {
                fy_node_free(en);
                fy_node_free(fyn);
                return NULL;
            }
        }
        return fyn;
    }
    case JSON_STRING:
        return yaml_string(fyd, json_string_value(v));
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        /* the shortest text that reads back as the same double */
        for (int prec = 15; prec <= 17; ++prec) {
            snprintf(num, sizeof(num), "%.*g", prec, d);
            if (strtod(num, NULL) == d)
                break;
        }
        if (strpbrk(num, ".eEn") == NULL) /* keep it a float: 1 -> 1.0 */
            strncat(num, ".0", sizeof(num) - strlen(num) - 1);
        break;
    }
    case JSON_TRUE:
        snprintf(num, sizeof(num), "true");
        break;
    case JSON_FALSE:
        snprintf(num, sizeof(num), "false");
        break;
    case JSON_NULL:
    default:
        snprintf(num, sizeof(num), "null");
        break;
    }
    return fy_node_create_scalar_copy(fyd, num, strlen(num));
}

int ks_cli_yaml_emit(json_t *v, ks_buf_t *out, const char *indent, char *err, size_t errlen)
{
    struct fy_document *fyd;
    struct fy_node *root;
    char *text = NULL;
    int r = 0;

    fyd = fy_document_create(NULL);
    if (fyd == NULL)
        return KS_ENOMEM;
    root = yaml_node(fyd, v, 0);
    if (root == NULL || fy_document_set_root(fyd, root) != 0) {
        fy_node_free(root);
        ks_errorf(err, errlen, "cannot build the YAML document");
        r = KS_EINTERNAL;
        goto out;
    }
    text = fy_emit_document_to_string(fyd, FYECF_MODE_BLOCK | FYECF_INDENT_2 | FYECF_WIDTH_INF |
                                                  FYECF_DOC_START_MARK_OFF | FYECF_DOC_END_MARK_OFF);
    if (text == NULL) {
        ks_errorf(err, errlen, "cannot emit YAML");
        r = KS_EINTERNAL;
        goto out;
    }
    for (const char *line = text; *line != '\0' && r == 0;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
        /* the emitter leaves a space after "key:" of an empty scalar; none of ours are empty */
        if (indent != NULL && n > 0)
            r = ks_buf_append(out, indent, strlen(indent));
        if (r == 0)
            r = ks_buf_append(out, line, n);
        if (r == 0)
            r = ks_buf_putc(out, '\n');
        line += n + (nl != NULL);
    }
out:
    free(text);
    fy_document_destroy(fyd);
    return r;
}

int ks_cli_json_emit(json_t *v, ks_buf_t *out)
{
    char *text = json_dumps(v, JSON_INDENT(4) | JSON_ENCODE_ANY);
    int r;

    if (text == NULL)
        return KS_ENOMEM;
    r = ks_buf_append(out, text, strlen(text));
    if (r == 0)
        r = ks_buf_putc(out, '\n');
    free(text);
    return r;
}
