/*
 * Every network call of the storage initializer: one libcurl easy handle per
 * download, reused so connections are, with connect, stall and overall
 * timeouts, a size cap, bounded redirects (http and https only), a few
 * retries of transient failures, and errors that name the URL and the cause.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "storage_internal.h"

#define ATTEMPTS 3              /* tries of a request that failed for a transient reason */
#define ERROR_BODY_MAX 4096     /* bytes of an error answer kept for the message */

typedef struct sink {
    ks__storage_fetch_t *f;
    ks_buf_t *body; /* the answer goes here, or */
    int fd;         /* here */
    uint64_t got, max;
    int take_total; /* a single download: its Content-Length is the total */
    ks_buf_t errbody;
    int too_big, io_errno;
} sink_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

CURL *ks__storage_curl_new(void)
{
    pthread_once(&curl_once, curl_init);
    return curl_easy_init();
}

void ks__storage_auth_free(ks__storage_auth_t *a)
{
    curl_slist_free_all(a->headers);
    free(a->aws_sigv4);
    free(a->username);
    if (a->password != NULL)
        memset(a->password, 0, strlen(a->password));
    free(a->password);
    free(a->cainfo);
    memset(a, 0, sizeof(*a));
}

void ks__storage_progress(ks__storage_fetch_t *f, int force)
{
    uint64_t now, done = f->done + f->cur;
    if (f->cb == NULL)
        return;
    now = ks_now_ns();
    if (!force && done >= f->reported && done - f->reported < (1u << 20) && now - f->reported_ns < 1000000000u)
        return;
    f->reported = done;
    f->reported_ns = now;
    f->cb(f->cbdata, f->uri, done, f->total);
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *data)
{
    sink_t *s = data;
    size_t len = size * nmemb;
    long status = 0;

    curl_easy_getinfo(s->f->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300) { /* an error's explanation (a followed redirect's body never gets here) */
        size_t room = ERROR_BODY_MAX - s->errbody.len;
        ks_buf_append(&s->errbody, p, len < room ? len : room);
        return len;
    }
    if (s->got == 0 && s->take_total) {
        curl_off_t cl = -1;
        if (curl_easy_getinfo(s->f->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0)
            s->f->total = (uint64_t)cl;
    }
    if (len > s->max - s->got) {
        s->too_big = 1;
        return 0;
    }
    if (s->body != NULL) {
        int r = ks_buf_append(s->body, p, len);
        if (r != 0) {
            s->too_big = r == KS_ETOOBIG;
            s->io_errno = r == KS_ENOMEM ? ENOMEM : 0;
            return 0;
        }
    } else {
        for (size_t off = 0; off < len;) {
            ssize_t w = write(s->fd, p + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                s->io_errno = w < 0 ? errno : EIO;
                return 0;
            }
            off += (size_t)w;
        }
    }
    s->got += len;
    s->f->cur = s->got;
    ks__storage_progress(s->f, 0);
    return len;
}

/* "Code: Message" of an S3 XML error, the message of a JSON error, or the first line of the answer. */
static void error_text(const char *tmp, size_t n, char *out, size_t outlen)
{
    const char *code, *msg, *ce, *me;
    json_t *j;

    if ((code = strstr(tmp, "<Code>")) != NULL && (ce = strstr(code, "</Code>")) != NULL) {
        msg = strstr(tmp, "<Message>");
        me = msg != NULL ? strstr(msg, "</Message>") : NULL;
        snprintf(out, outlen, "%.*s%s%.*s", (int)(ce - code - 6), code + 6, me != NULL ? ": " : "",
                 me != NULL ? (int)(me - msg - 9) : 0, me != NULL ? msg + 9 : "");
        return;
    }
    if ((j = json_loadb(tmp, n, 0, NULL)) != NULL) {
        json_t *e = json_object_get(j, "error");
        const char *s = json_string_value(e);
        if (s == NULL)
            s = json_string_value(json_object_get(e, "message"));
        if (s == NULL)
            s = json_string_value(json_object_get(j, "message"));
        if (s == NULL)
            s = json_string_value(json_object_get(j, "detail"));
        if (s != NULL)
            snprintf(out, outlen, "%s", s);
        json_decref(j);
        if (out[0] != '\0')
            return;
    }
    snprintf(out, outlen, "%.*s", (int)strcspn(tmp, "\r\n"), tmp);
}

static void error_detail(const char *b, size_t n, char *out, size_t outlen)
{
    char tmp[ERROR_BODY_MAX + 1];
    size_t len;

    out[0] = '\0';
    if (n == 0)
        return;
    memcpy(tmp, b, n);
    tmp[n] = '\0';
    error_text(tmp, n, out, outlen);
    /* the server's words go into logs and statuses: one line, printable, not too long */
    len = strlen(out);
    if (len > 200)
        memcpy(out + (len = 197), "...", 4);
    for (size_t i = 0; i < len; ++i)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = ' ';
}

static void setup(ks__storage_fetch_t *f, const char *url, const ks__storage_auth_t *auth, sink_t *s, long timeout,
                  char *errbuf)
{
    CURL *c = f->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)KS__STORAGE_MAX_REDIRS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)KS__STORAGE_CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, f->stall_timeout);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(s->max > INT64_MAX ? INT64_MAX : s->max));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kserve-c-storage-initializer/0.1");
    if (auth == NULL)
        return;
    if (auth->headers != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, auth->headers);
    if (auth->aws_sigv4 != NULL) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, auth->aws_sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, auth->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, auth->password);
    }
    if (auth->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (auth->cainfo != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, auth->cainfo);
}

static int transient(CURLcode rc, long status)
{
    if (rc == CURLE_OK)
        return status >= 500 || status == 429 || status == 408;
    /* not a timeout: a server that went quiet once is waited for only once */
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
           rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING;
}

/*
 * Runs one GET into s, retrying transient failures (a 5xx, a dropped
 * connection) a few times; s is rewound before each retry.
 */
static int get(ks__storage_fetch_t *f, const char *url, const ks__storage_auth_t *auth, sink_t *s, long timeout)
{
    char errbuf[CURL_ERROR_SIZE];
    char shown[1024], detail[512];
    CURLcode rc = CURLE_OK;
    long status = 0;

    ks__storage_redact_url(url, shown, sizeof(shown));
    for (int attempt = 1;; ++attempt) {
        errbuf[0] = '\0';
        s->got = 0;
        s->too_big = s->io_errno = 0;
        f->cur = 0;
        ks_buf_reset(&s->errbody);
        if (s->body != NULL)
            ks_buf_reset(s->body);
        if (s->fd >= 0 && (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)) {
            ks_errorf(f->err, f->errlen, "GET %s: rewinding the file: %s", shown, strerror(errno));
            return KS_EINTERNAL;
        }
        setup(f, url, auth, s, timeout, errbuf);
        rc = curl_easy_perform(f->curl);
        status = 0;
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
        if (s->too_big || s->io_errno != 0 || attempt == ATTEMPTS || !transient(rc, status))
            break;
        struct timespec ts = {0, 250000000L * attempt};
        nanosleep(&ts, NULL);
    }
    if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        ks_errorf(f->err, f->errlen, "GET %s: larger than the cap of %llu bytes", shown, (unsigned long long)s->max);
        return KS_ETOOBIG;
    }
    if (s->io_errno != 0) {
        ks_errorf(f->err, f->errlen, "GET %s: writing the download: %s", shown, strerror(s->io_errno));
        return KS_EINTERNAL;
    }
    if (rc == CURLE_TOO_MANY_REDIRECTS) {
        ks_errorf(f->err, f->errlen, "GET %s: more than %d redirects", shown, KS__STORAGE_MAX_REDIRS);
        return KS_EUNAVAIL;
    }
    if (status >= 300 || (rc == CURLE_OK && status < 200)) {
        error_detail(s->errbody.base, s->errbody.len, detail, sizeof(detail));
        ks_errorf(f->err, f->errlen, "GET %s: HTTP %ld%s%s%s", shown, status, detail[0] ? " (" : "", detail,
                  detail[0] ? ")" : "");
        return status == 404 ? KS_ENOENT : KS_EUNAVAIL;
    }
    if (rc != CURLE_OK) {
        ks_errorf(f->err, f->errlen, "GET %s: %s%s%s", shown, curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
        return KS_EUNAVAIL;
    }
    return 0;
}

int ks__storage_get_buf(ks__storage_fetch_t *f, const char *url, const ks__storage_auth_t *auth, ks_buf_t *body,
                        size_t max)
{
    sink_t s = {.f = f, .body = body, .fd = -1, .max = max};
    int r;

    body->max = max;
    ks_buf_init(&s.errbody, ERROR_BODY_MAX);
    r = get(f, url, auth, &s, KS__STORAGE_LIST_TIMEOUT);
    ks_buf_free(&s.errbody);
    f->cur = 0;
    return r;
}

int ks__storage_get_file(ks__storage_fetch_t *f, const char *url, const ks__storage_auth_t *auth, const char *rel,
                         uint64_t expect)
{
    sink_t s = {.f = f, .fd = -1, .max = KS_STORAGE_MAX_DOWNLOAD_BYTES - f->done, .take_total = f->total_from_response};
    char shown[1024];
    int r;

    if ((s.fd = ks__storage_create_file(f->dirfd, rel, 0644)) < 0) {
        ks_errorf(f->err, f->errlen, "creating %s/%s: %s", f->dir, rel, strerror(-s.fd));
        return s.fd == -ENAMETOOLONG ? KS_EINVAL : KS_EINTERNAL;
    }
    ks_buf_init(&s.errbody, ERROR_BODY_MAX);
    r = get(f, url, auth, &s, KS__STORAGE_FILE_TIMEOUT);
    ks_buf_free(&s.errbody);
    if (close(s.fd) != 0 && r == 0) {
        ks_errorf(f->err, f->errlen, "writing %s/%s: %s", f->dir, rel, strerror(errno));
        r = KS_EINTERNAL;
    }
    if (r == 0 && expect != UINT64_MAX && s.got != expect) {
        ks__storage_redact_url(url, shown, sizeof(shown));
        ks_errorf(f->err, f->errlen, "GET %s: got %llu bytes where the listing said %llu", shown,
                  (unsigned long long)s.got, (unsigned long long)expect);
        r = KS_EUNAVAIL;
    }
    f->cur = 0;
    if (r == 0)
        f->done += s.got;
    return r;
}

int ks__storage_get_objects(ks__storage_fetch_t *f, const ks__storage_objects_t *l, const ks__storage_auth_t *auth)
{
    uint64_t total = 0;
    int r;

    for (size_t i = 0; i < l->n; ++i) {
        if (l->items[i].size == UINT64_MAX) {
            total = 0; /* not known in advance */
            break;
        }
        total += l->items[i].size;
        if (total > KS_STORAGE_MAX_DOWNLOAD_BYTES) {
            ks_errorf(f->err, f->errlen, "%s: the model is larger than the cap of %llu bytes", f->uri,
                      (unsigned long long)KS_STORAGE_MAX_DOWNLOAD_BYTES);
            return KS_ETOOBIG;
        }
    }
    f->total = total;
    for (size_t i = 0; i < l->n; ++i) {
        if ((r = ks__storage_get_file(f, l->items[i].url, auth, l->items[i].rel, l->items[i].size)) != 0)
            return r;
    }
    return 0;
}

int ks__storage_objects_add(ks__storage_objects_t *l, const char *url, const char *rel, uint64_t size)
{
    ks__storage_object_t *o;
    if (l->n >= KS_STORAGE_MAX_OBJECTS)
        return KS_ETOOBIG;
    if (l->n == l->cap) {
        size_t ncap = l->cap == 0 ? 16 : l->cap * 2;
        ks__storage_object_t *p = realloc(l->items, ncap * sizeof(*p));
        if (p == NULL)
            return KS_ENOMEM;
        l->items = p;
        l->cap = ncap;
    }
    o = &l->items[l->n];
    o->url = strdup(url);
    o->rel = strdup(rel);
    o->size = size;
    if (o->url == NULL || o->rel == NULL) {
        free(o->url);
        free(o->rel);
        return KS_ENOMEM;
    }
    l->n++;
    return 0;
}

void ks__storage_objects_free(ks__storage_objects_t *l)
{
    for (size_t i = 0; i < l->n; ++i) {
        free(l->items[i].url);
        free(l->items[i].rel);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int ks__storage_listing_add(void *data, const char *key, uint64_t size)
{
    ks__storage_listing_t *l = data;
    char rel[PATH_MAX];
    int exact, r;
    ks_buf_t url;

    r = ks__storage_object_relpath(l->prefix, key, rel, sizeof(rel), &exact);
    if (r == 0)
        return 0;
    if (r < 0) {
        ks_errorf(l->f->err, l->f->errlen, "%s: object \"%.200s\" has an unsafe name (absolute, \"..\" or too long)",
                  l->what, key);
        return KS_EINVAL;
    }
    ks_buf_init(&url, 0);
    if ((r = ks_buf_append(&url, l->url_base, strlen(l->url_base))) != 0 ||
        (r = ks__storage_urlencode(&url, key, l->keep_slash)) != 0 ||
        (r = ks_buf_append(&url, l->url_suffix, strlen(l->url_suffix) + 1)) != 0 ||
        (r = ks__storage_objects_add(&l->objs, url.base, rel, size)) != 0) {
        ks_buf_free(&url);
        if (r == KS_ETOOBIG)
            ks_errorf(l->f->err, l->f->errlen, "%s: more than %d objects", l->what, KS_STORAGE_MAX_OBJECTS);
        else
            ks_errorf(l->f->err, l->f->errlen, "out of memory");
        return r;
    }
    ks_buf_free(&url);
    if (exact && l->exact == SIZE_MAX)
        l->exact = l->objs.n - 1;
    return 0;
}

int ks__storage_listing_finish(ks__storage_listing_t *l)
{
    if (l->exact != SIZE_MAX) { /* the prefix names one object: that file alone is the model */
        ks__storage_object_t keep = l->objs.items[l->exact];
        l->objs.items[l->exact] = l->objs.items[--l->objs.n];
        ks__storage_objects_free(&l->objs);
        if ((l->objs.items = malloc(sizeof(keep))) == NULL) {
            free(keep.url);
            free(keep.rel);
            ks_errorf(l->f->err, l->f->errlen, "out of memory");
            return KS_ENOMEM;
        }
        l->objs.items[0] = keep;
        l->objs.n = l->objs.cap = 1;
        l->exact = 0;
    }
    if (l->objs.n == 0) {
        ks_errorf(l->f->err, l->f->errlen, "no objects under %s", l->what);
        return KS_ENOENT;
    }
    return 0;
}
