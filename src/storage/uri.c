/*
 * storageUri parsing and the pure helpers of the storage initializer: the
 * cache key, the path checks that keep archives and listings inside the model
 * directory, URL encoding.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "storage_internal.h"

static const char schemes_help[] = "supported: a local path, file://, pvc://, http://, https://, s3://, gs://, hf://";

static int name_chars(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && strchr(extra, c) == NULL)
            return 0;
    }
    return 1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a NUL byte or no memory. */
static char *percent_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; ++i) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
            *o = (char)(h * 16 + l);
            i += 2;
        } else {
            *o = s[i];
        }
        if (*o++ == '\0') {
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

static int parse_local(const char *uri, const char *path, ks__storage_uri_t *u, char *err, size_t errlen)
{
    u->scheme = KS__STORAGE_LOCAL;
    if (*path == '\0') {
        ks_errorf(err, errlen, "storageUri %s: no path", uri);
        return KS_EINVAL;
    }
    return (u->path = strdup(path)) != NULL ? 0 : KS_ENOMEM;
}

static int parse_pvc(const char *uri, const char *rest, ks__storage_uri_t *u, char *err, size_t errlen)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    char clean[PATH_MAX];
    int r;

    u->scheme = KS__STORAGE_PVC;
    if (n == 0 || n > 253 || !name_chars(rest, n, "-.") || (n <= 2 && strncmp(rest, "..", n) == 0)) {
        ks_errorf(err, errlen, "storageUri %s: needs a claim name, as in pvc://NAME/PATH", uri);
        return KS_EINVAL;
    }
    r = ks__storage_clean_relpath(slash != NULL ? slash + strspn(slash, "/") : "", clean, sizeof(clean));
    if (r < 0) {
        ks_errorf(err, errlen, "storageUri %s: the path in the claim must be relative, without \"..\"", uri);
        return KS_EINVAL;
    }
    if (r == 1)
        clean[0] = '\0';
    if ((u->bucket = strndup(rest, n)) == NULL || (u->path = strdup(clean)) == NULL)
        return KS_ENOMEM;
    return 0;
}

static int parse_http(const char *uri, const char *rest, ks__storage_uri_t *u, char *err, size_t errlen)
{
    size_t host = strcspn(rest, "/?#");
    const char *path = rest + host;
    size_t plen = strcspn(path, "?#");
    const char *base = path + plen;

    u->scheme = KS__STORAGE_HTTP;
    if (host == 0) {
        ks_errorf(err, errlen, "storageUri %s: needs a host", uri);
        return KS_EINVAL;
    }
    while (base > path && base[-1] != '/')
        --base;
    u->filename = percent_decode(base, (size_t)(path + plen - base));
    if (u->filename == NULL || u->filename[0] == '\0' || strchr(u->filename, '/') != NULL ||
        strcmp(u->filename, ".") == 0 || strcmp(u->filename, "..") == 0 || strlen(u->filename) > NAME_MAX) {
        ks_errorf(err, errlen, "storageUri %s: must name a file, as in https://host/models/model.tar.gz", uri);
        return KS_EINVAL;
    }
    return 0;
}

static int parse_bucket(const char *uri, const char *scheme, const char *rest, ks__storage_uri_t *u, char *err,
                        size_t errlen)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);

    if (n == 0 || n > 255 || !name_chars(rest, n, "-._")) {
        ks_errorf(err, errlen, "storageUri %s: needs a bucket, as in %s://BUCKET/PATH", uri, scheme);
        return KS_EINVAL;
    }
    if ((u->bucket = strndup(rest, n)) == NULL || (u->path = strdup(slash != NULL ? slash + 1 : "")) == NULL)
        return KS_ENOMEM;
    return 0;
}

static int parse_hf(const char *uri, const char *rest, ks__storage_uri_t *u, char *err, size_t errlen)
{
    const char *slash = strchr(rest, '/');
    const char *colon = strchr(rest, ':');
    size_t repo_len = colon != NULL ? (size_t)(colon - rest) : strlen(rest);

    u->scheme = KS__STORAGE_HF;
    if (slash == NULL || slash == rest || (colon != NULL && colon < slash) || slash + 1 == rest + repo_len ||
        !name_chars(rest, (size_t)(slash - rest), "-._") ||
        !name_chars(slash + 1, (size_t)(rest + repo_len - slash - 1), "-._")) {
        ks_errorf(err, errlen, "storageUri %s: expected hf://ORG/MODEL or hf://ORG/MODEL:REVISION", uri);
        return KS_EINVAL;
    }
    if (colon != NULL && (colon[1] == '\0' || !name_chars(colon + 1, strlen(colon + 1), "-._"))) {
        ks_errorf(err, errlen, "storageUri %s: the revision after ':' must be a branch, tag or commit", uri);
        return KS_EINVAL;
    }
    if ((u->bucket = strndup(rest, repo_len)) == NULL || (u->revision = strdup(colon ? colon + 1 : "main")) == NULL)
        return KS_ENOMEM;
    return 0;
}

int ks__storage_parse_uri(const char *uri, ks__storage_uri_t *u, char *err, size_t errlen)
{
    const char *sep, *rest;
    size_t slen, len;
    int r;

    memset(u, 0, sizeof(*u));
    if (uri == NULL || *uri == '\0') {
        ks_errorf(err, errlen, "storageUri is empty");
        return KS_EINVAL;
    }
    if ((len = strlen(uri)) > KS__STORAGE_MAX_URI) {
        ks_errorf(err, errlen, "storageUri is longer than %d bytes", KS__STORAGE_MAX_URI);
        return KS_EINVAL;
    }
    for (size_t i = 0; i < len; ++i) {
        if ((unsigned char)uri[i] < 0x20 || uri[i] == 0x7f) {
            ks_errorf(err, errlen, "storageUri contains a control character");
            return KS_EINVAL;
        }
    }
    sep = strstr(uri, "://");
    slen = sep != NULL ? (size_t)(sep - uri) : 0;
    /* a scheme is a letter then letters, digits, '+', '-', '.'; anything else is a path */
    if (sep == NULL || slen == 0 || !isalpha((unsigned char)uri[0]) || !name_chars(uri, slen, "+-."))
        return parse_local(uri, uri, u, err, errlen);
    rest = sep + 3;

#define IS(s) (slen == sizeof(s) - 1 && strncasecmp(uri, s, slen) == 0)
    if (IS("file")) {
        if (strncasecmp(rest, "localhost/", 10) == 0)
            rest += 9;
        if (rest[0] != '/') {
            ks_errorf(err, errlen, "storageUri %s: needs an absolute path, as in file:///models/iris", uri);
            return KS_EINVAL;
        }
        r = parse_local(uri, rest, u, err, errlen);
    } else if (IS("pvc")) {
        r = parse_pvc(uri, rest, u, err, errlen);
    } else if (IS("http") || IS("https")) {
        r = parse_http(uri, rest, u, err, errlen);
    } else if (IS("s3")) {
        u->scheme = KS__STORAGE_S3;
        r = parse_bucket(uri, "s3", rest, u, err, errlen);
    } else if (IS("gs")) {
        u->scheme = KS__STORAGE_GCS;
        r = parse_bucket(uri, "gs", rest, u, err, errlen);
    } else if (IS("hf")) {
        r = parse_hf(uri, rest, u, err, errlen);
    } else {
        ks_errorf(err, errlen, "storageUri %s: unsupported scheme \"%.*s://\" (%s)", uri, (int)slen, uri,
                  schemes_help);
        return KS_EINVAL;
    }
#undef IS
    if (r == KS_ENOMEM)
        ks_errorf(err, errlen, "out of memory");
    if (r != 0)
        ks__storage_uri_free(u);
    return r;
}

void ks__storage_uri_free(ks__storage_uri_t *u)
{
    free(u->bucket);
    free(u->path);
    free(u->filename);
    free(u->revision);
    u->bucket = u->path = u->filename = u->revision = NULL;
}

void ks__storage_cache_key(const char *uri, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    KS_ASSERT(EVP_Digest(uri, strlen(uri), md, &n, EVP_sha256(), NULL) == 1 && n == 32);
    for (unsigned int i = 0; i < n; ++i) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int ks__storage_clean_relpath(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = in;

    if (outlen == 0)
        return KS_EINVAL;
    if (in[0] == '/')
        return KS_EINVAL;
    while (*p != '\0') {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return KS_EINVAL;
        if (n > NAME_MAX)
            return KS_EINVAL;
        if (n != 0 && !(n == 1 && p[0] == '.')) {
            if (o + (o != 0) + n + 1 > outlen)
                return KS_EINVAL;
            if (o != 0)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        if (*p == '/')
            ++p;
    }
    out[o] = '\0';
    return o == 0 ? 1 : 0;
}

int ks__storage_check_link(const char *entry, const char *target)
{
    long depth = 0;
    const char *p;

    if (target == NULL || target[0] == '\0' || target[0] == '/')
        return KS_EINVAL;
    /* the link lives in entry's directory: one level per '/' in the clean entry */
    for (p = entry; *p != '\0'; ++p)
        depth += *p == '/';
    for (p = target; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return KS_EINVAL;
        } else if (n != 0 && !(n == 1 && p[0] == '.')) {
            ++depth;
        }
        p += n;
        if (*p == '/')
            ++p;
    }
    return 0;
}

int ks__storage_object_relpath(const char *prefix, const char *key, char *rel, size_t outlen, int *exact)
{
    size_t plen = strlen(prefix);
    const char *r;

    *exact = 0;
    if (strncmp(key, prefix, plen) != 0)
        return 0;
    if (key[plen] == '\0') {
        if (plen == 0 || key[plen - 1] == '/')
            return 0; /* a "dir/" marker */
        r = strrchr(key, '/');
        r = r != NULL ? r + 1 : key;
        *exact = 1;
    } else if (plen == 0 || prefix[plen - 1] == '/') {
        r = key + plen;
    } else if (key[plen] == '/') {
        r = key + plen + 1;
    } else {
        return 0; /* prefix "m" and key "m2/x": another model */
    }
    r += strspn(r, "/"); /* "m//x" under "m/" is "x", as KServe strips it */
    if (r[0] == '\0' || key[strlen(key) - 1] == '/')
        return 0;
    switch (ks__storage_clean_relpath(r, rel, outlen)) {
    case 0: return 1;
    case 1: return 0;
    default: return KS_EINVAL;
    }
}

int ks__storage_urlencode(ks_buf_t *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; ++s) {
        unsigned char c = (unsigned char)*s;
        int r;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            r = ks_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            r = ks_buf_append(b, e, 3);
        }
        if (r != 0)
            return r;
    }
    return 0;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

int ks__storage_archive_kind(const char *filename)
{
    if (ends_with_ci(filename, ".tar.gz") || ends_with_ci(filename, ".tgz"))
        return 1;
    if (ends_with_ci(filename, ".zip"))
        return 2;
    return 0;
}

void ks__storage_redact_url(const char *s, char *out, size_t outlen)
{
    const char *sep = strstr(s, "://");
    const char *host = sep != NULL ? sep + 3 : s;
    size_t auth_end = strcspn(host, "/?#");
    const char *at = memchr(host, '@', auth_end);

    if (at == NULL) {
        snprintf(out, outlen, "%s", s);
        return;
    }
    snprintf(out, outlen, "%.*s%s", (int)(host - s), s, at + 1);
}
