/*
 * s3://bucket/prefix: ListObjectsV2, then a GET per object, signed with
 * libcurl's own SigV4 when AWS_ACCESS_KEY_ID is set (anonymous otherwise).
 *
 * The environment is the one KServe's storage initializer honours:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; the endpoint
 * from AWS_ENDPOINT_URL or S3_ENDPOINT (a URL, or host:port made https unless
 * S3_USE_HTTPS=0) with path-style addressing, else AWS itself with
 * virtual-hosted addressing; the region from AWS_DEFAULT_REGION or AWS_REGION
 * (us-east-1); S3_VERIFY_SSL=0 and AWS_CA_BUNDLE for TLS.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "storage_internal.h"

/* SHA-256 of an empty payload: every request here is a GET */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int falsy(const char *v)
{
    return v != NULL && (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0);
}

/* Finds needle in [p, end). */
static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    return p < end ? memmem(p, (size_t)(end - p), needle, n) : NULL;
}

/* The text of the first <name>...</name> in [p, end), raw; NULL when absent. */
static const char *element(const char *p, const char *end, const char *name, size_t *len)
{
    char open[64], close[64];
    const char *s, *e;
    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    if ((s = find(p, end, open)) == NULL)
        return NULL;
    s += strlen(open);
    if ((e = find(s, end, close)) == NULL)
        return NULL;
    *len = (size_t)(e - s);
    return s;
}

static int put_utf8(ks_buf_t *b, unsigned long c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xc0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xe0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    return ks_buf_append(b, u, n);
}

int ks__storage_xml_text(ks_buf_t *b, const char *s, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    const char *end = s + len;
    int r;

    while (s < end) {
        if (*s != '&') {
            if ((r = ks_buf_putc(b, *s++)) != 0)
                return r;
            continue;
        }
        ++s;
        if (s < end && *s == '#') {
            unsigned long c = 0;
            int hex = s + 1 < end && (s[1] == 'x' || s[1] == 'X'), digits = 0;
            for (s += hex ? 2 : 1; s < end && *s != ';'; ++s, ++digits) {
                int d = isdigit((unsigned char)*s)              ? *s - '0'
                        : hex && isxdigit((unsigned char)*s) ? tolower((unsigned char)*s) - 'a' + 10
                                                               : -1;
                if (d < 0 || digits > 8)
                    return KS_EINVAL;
                c = c * (hex ? 16 : 10) + (unsigned long)d;
            }
            if (s == end || digits == 0 || c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return KS_EINVAL;
            ++s;
            if ((r = put_utf8(b, c)) != 0)
                return r;
            continue;
        }
        size_t i;
        for (i = 0; i < KS_ARRAY_SIZE(ents); ++i) {
            size_t n = strlen(ents[i].name);
            if ((size_t)(end - s) >= n && memcmp(s, ents[i].name, n) == 0) {
                s += n;
                if ((r = ks_buf_putc(b, ents[i].c)) != 0)
                    return r;
                break;
            }
        }
        if (i == KS_ARRAY_SIZE(ents))
            return KS_EINVAL;
    }
    return 0;
}

/* The text of <name> decoded into a new string in *out (NULL when absent). */
static int element_text(const char *p, const char *end, const char *name, char **out)
{
    size_t n;
    const char *s = element(p, end, name, &n);
    ks_buf_t b;
    int r;

    *out = NULL;
    if (s == NULL)
        return 0;
    ks_buf_init(&b, 0);
    if ((r = ks__storage_xml_text(&b, s, n)) != 0 || (r = ks_buf_putc(&b, '\0')) != 0) {
        ks_buf_free(&b);
        return r;
    }
    if (memchr(b.base, '\0', b.len - 1) != NULL) {
        ks_buf_free(&b);
        return KS_EINVAL;
    }
    *out = b.base;
    return 0;
}

int ks__storage_s3_parse_list(const char *xml, size_t len, ks__storage_key_cb add, void *data, int *truncated,
                              char **token, char *err, size_t errlen)
{
    const char *end = xml + len, *p = xml, *c;
    char *text = NULL;
    int r;

    *truncated = 0;
    *token = NULL;
    if (find(xml, end, "<ListBucketResult") == NULL) {
        ks_errorf(err, errlen, "the answer is not a ListBucketResult");
        return KS_EINVAL;
    }
    while ((c = find(p, end, "<Contents>")) != NULL) {
        const char *ce = find(c, end, "</Contents>");
        char *key;
        uint64_t size = UINT64_MAX;
        if (ce == NULL) {
            ks_errorf(err, errlen, "the listing has an unterminated <Contents>");
            return KS_EINVAL;
        }
        if ((r = element_text(c, ce, "Key", &key)) != 0 || key == NULL) {
            ks_errorf(err, errlen, "the listing has a <Contents> without a readable <Key>");
            return r != 0 ? r : KS_EINVAL;
        }
        if ((r = element_text(c, ce, "Size", &text)) == 0 && text != NULL) {
            char *e;
            unsigned long long v = strtoull(text, &e, 10);
            if (*e == '\0' && isdigit((unsigned char)text[0]))
                size = v;
        }
        free(text);
        text = NULL;
        r = add(data, key, size);
        free(key);
        if (r != 0)
            return r;
        p = ce + strlen("</Contents>");
    }
    /* the summary elements are outside every <Contents>, which cannot contain a raw '<' in text */
    if ((r = element_text(xml, end, "IsTruncated", &text)) != 0) {
        ks_errorf(err, errlen, "the listing has an unreadable <IsTruncated>");
        return r;
    }
    *truncated = text != NULL && strcmp(text, "true") == 0;
    free(text);
    if ((r = element_text(xml, end, "NextContinuationToken", token)) != 0) {
        ks_errorf(err, errlen, "the listing has an unreadable <NextContinuationToken>");
        return r;
    }
    return 0;
}

static char *strip_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static int setup_auth(ks__storage_auth_t *a, const char *region, char *err, size_t errlen)
{
    const char *key = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    const char *token = env("AWS_SESSION_TOKEN"), *ca = env("AWS_CA_BUNDLE");
    char line[4096];

    a->insecure = falsy(getenv("S3_VERIFY_SSL"));
    if (ca != NULL && (a->cainfo = strdup(ca)) == NULL)
        return KS_ENOMEM;
    if (key == NULL)
        return 0; /* anonymous: requests go unsigned */
    if (secret == NULL) {
        ks_errorf(err, errlen, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        return KS_EINVAL;
    }
    snprintf(line, sizeof(line), "aws:amz:%s:s3", region);
    if ((a->aws_sigv4 = strdup(line)) == NULL || (a->username = strdup(key)) == NULL ||
        (a->password = strdup(secret)) == NULL)
        return KS_ENOMEM;
    /* S3 wants the payload hash as a header too; curl signs every header it is given */
    if ((a->headers = curl_slist_append(a->headers, "x-amz-content-sha256: " EMPTY_SHA256)) == NULL)
        return KS_ENOMEM;
    if (token != NULL) {
        struct curl_slist *h;
        if (snprintf(line, sizeof(line), "x-amz-security-token: %s", token) >= (int)sizeof(line)) {
            ks_errorf(err, errlen, "AWS_SESSION_TOKEN is longer than %zu bytes", sizeof(line) - 24);
            return KS_EINVAL;
        }
        if ((h = curl_slist_append(a->headers, line)) == NULL)
            return KS_ENOMEM;
        a->headers = h;
    }
    return 0;
}

int ks__storage_fetch_s3(ks__storage_fetch_t *f, const ks__storage_uri_t *u)
{
    const char *ep = env("AWS_ENDPOINT_URL") != NULL ? env("AWS_ENDPOINT_URL") : env("S3_ENDPOINT");
    const char *region = env("AWS_DEFAULT_REGION") != NULL ? env("AWS_DEFAULT_REGION") : env("AWS_REGION");
    ks__storage_auth_t auth = {0};
    ks__storage_listing_t l = {.f = f, .prefix = u->path, .url_suffix = "", .keep_slash = 1, .exact = SIZE_MAX};
    char *endpoint = NULL, *list_base = NULL, *obj_base = NULL, *token = NULL, what[1024];
    ks_buf_t url, body;
    int r, truncated, pages = 0;

    if (region == NULL)
        region = "us-east-1";
    ks_buf_init(&url, 0);
    ks_buf_init(&body, KS__STORAGE_MAX_LIST_BODY);
    snprintf(what, sizeof(what), "s3://%s/%s", u->bucket, u->path);
    l.what = what;
    if ((r = setup_auth(&auth, region, f->err, f->errlen)) != 0)
        goto out;
    if (ep != NULL) { /* a custom endpoint (MinIO, Ceph, ...): path-style */
        const char *scheme = strstr(ep, "://") != NULL ? "" : falsy(getenv("S3_USE_HTTPS")) ? "http://" : "https://";
        if (asprintf(&endpoint, "%s%s", scheme, ep) < 0)
            goto nomem;
        strip_slash(endpoint);
        if (asprintf(&list_base, "%s/%s?", endpoint, u->bucket) < 0 ||
            asprintf(&obj_base, "%s/%s/", endpoint, u->bucket) < 0)
            goto nomem;
    } else if (strchr(u->bucket, '.') != NULL) { /* a dotted name breaks the TLS name check of virtual hosts */
        if (asprintf(&list_base, "https://s3.%s.amazonaws.com/%s?", region, u->bucket) < 0 ||
            asprintf(&obj_base, "https://s3.%s.amazonaws.com/%s/", region, u->bucket) < 0)
            goto nomem;
    } else {
        if (asprintf(&list_base, "https://%s.s3.%s.amazonaws.com/?", u->bucket, region) < 0 ||
            asprintf(&obj_base, "https://%s.s3.%s.amazonaws.com/", u->bucket, region) < 0)
            goto nomem;
    }
    l.url_base = obj_base;

    /* the query is written in SigV4's canonical form: parameters sorted, values encoded */
    do {
        ks_buf_reset(&url);
        if ((r = ks_buf_append(&url, list_base, strlen(list_base))) != 0)
            goto nomem;
        if (token != NULL && ((r = ks_buf_puts(&url, "continuation-token=")) != 0 ||
                              (r = ks__storage_urlencode(&url, token, 0)) != 0 || (r = ks_buf_puts(&url, "&")) != 0))
            goto nomem;
        if ((r = ks_buf_puts(&url, "list-type=2&prefix=")) != 0 || (r = ks__storage_urlencode(&url, u->path, 0)) != 0 ||
            (r = ks_buf_putc(&url, '\0')) != 0)
            goto nomem;
        free(token);
        token = NULL;
        if ((r = ks__storage_get_buf(f, url.base, &auth, &body, KS__STORAGE_MAX_LIST_BODY)) != 0)
            goto out;
        if ((r = ks__storage_s3_parse_list(body.base, body.len, ks__storage_listing_add, &l, &truncated, &token,
                                           f->err, f->errlen)) != 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", f->err);
            if (strncmp(why, what, strlen(what)) != 0) /* the parser's own words, not a listed object's */
                ks_errorf(f->err, f->errlen, "listing %s: %s", what, why);
            goto out;
        }
        if (truncated && token == NULL) {
            ks_errorf(f->err, f->errlen, "listing %s: a truncated page without a NextContinuationToken", what);
            r = KS_EUNAVAIL;
            goto out;
        }
        if (++pages > KS_STORAGE_MAX_OBJECTS) {
            ks_errorf(f->err, f->errlen, "listing %s: too many pages", what);
            r = KS_ETOOBIG;
            goto out;
        }
    } while (truncated);
    if ((r = ks__storage_listing_finish(&l)) == 0)
        r = ks__storage_get_objects(f, &l.objs, &auth);
    goto out;
nomem:
    ks_errorf(f->err, f->errlen, "out of memory");
    r = KS_ENOMEM;
out:
    ks__storage_objects_free(&l.objs);
    ks__storage_auth_free(&auth);
    ks_buf_free(&url);
    ks_buf_free(&body);
    free(endpoint);
    free(list_base);
    free(obj_base);
    free(token);
    return r;
}
