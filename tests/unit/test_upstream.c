/*
 * The upstream client (src/http/upstream.c) over real loopback sockets.
 *
 * A ks_http server (one worker) proxies every request with ks_upstream_proxy;
 * the ports to try come in the request's x-ports header ("0" or a missing
 * entry: pick_cb has none), its io timeout in x-timeout-ms, and x-id names
 * the request in the log that pick_cb and done_cb keep.  Behind it: another
 * ks_http server (h2o on both sides) and "raw" servers, scripted socket
 * servers in threads that can answer in chunks, until EOF, slowly, cut, not
 * at all, close a kept-alive connection, or be killed.  libcurl or a plain
 * socket is the client.
 *
 * Every wait is bounded (WAIT_MS); every raw server is stopped and joined by
 * the test that started it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "ks/buf.h"
#include "ks/upstream.h"

#define WAIT_MS 10000          /* the bound of every wait */
#define BIG_LEN (8u << 20)     /* the h2o upstream's large body */
#define CHUNKED_LEN (3u << 20) /* the raw server's chunked body */
#define STREAM_LEN (256ull << 20)
#define MAX_IDS 512

static ks_http_server_t *P; /* the proxy */
static ks_http_server_t *U; /* the h2o upstream */
static int PPORT, UPORT;
static char *BIG;
static int next_id = 1;

static uint8_t pattern(size_t i)
{
    return (uint8_t)((i * 7 + i / 65536) % 251);
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    return (int64_t)(ks_now_ns() / 1000000u);
}

/* ---- what pick_cb and done_cb saw, per request id ---------------------------------------------- */

typedef struct record {
    int done, port, status;
    int npicks;
    int picks[8][2]; /* attempt, failed_port */
} record_t;

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static record_t R[MAX_IDS];

typedef struct probe {
    int id;
    int nports;
    int ports[8];
} probe_t;

static int pick(void *data, int attempt, int failed_port)
{
    probe_t *pr = data;
    record_t *r = &R[pr->id];
    pthread_mutex_lock(&rec_lock);
    if (r->npicks < 8) {
        r->picks[r->npicks][0] = attempt;
        r->picks[r->npicks][1] = failed_port;
    }
    r->npicks++;
    pthread_mutex_unlock(&rec_lock);
    if (attempt >= pr->nports || pr->ports[attempt] == 0)
        return -1;
    return pr->ports[attempt];
}

static void done(void *data, int port, int status)
{
    probe_t *pr = data;
    record_t *r = &R[pr->id];
    pthread_mutex_lock(&rec_lock);
    r->done++;
    r->port = port;
    r->status = status;
    pthread_mutex_unlock(&rec_lock);
    free(pr);
}

static const ks_upstream_ops_t OPS = {pick, done};

static record_t record_of(int id)
{
    record_t r;
    pthread_mutex_lock(&rec_lock);
    r = R[id];
    pthread_mutex_unlock(&rec_lock);
    return r;
}

/* waits for done_cb of request id (it runs once the answer has left, so possibly after the client has it) */
static record_t wait_done(int id)
{
    int64_t deadline = now_ms() + WAIT_MS;
    record_t r;
    while ((r = record_of(id)).done == 0 && now_ms() < deadline)
        msleep(2);
    msleep(20); /* a second call would show by now */
    r = record_of(id);
    if (r.done != 1)
        fail_msg("request %d: done_cb called %d times", id, r.done);
    return r;
}

static void expect_picks(const record_t *r, int n, const int (*want)[2])
{
    if (r->npicks != n)
        fail_msg("pick_cb called %d times, expected %d", r->npicks, n);
    for (int i = 0; i < n; ++i)
        if (r->picks[i][0] != want[i][0] || r->picks[i][1] != want[i][1])
            fail_msg("pick %d: (attempt %d, failed %d), expected (%d, %d)", i, r->picks[i][0], r->picks[i][1], want[i][0],
                     want[i][1]);
}

/* ---- the proxy ------------------------------------------------------------------------------- */

static void proxy_handler(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    probe_t *pr = calloc(1, sizeof(*pr));
    const char *v;
    size_t len;
    uint64_t timeout_ms = 0;
    char tmp[200];

    if ((v = ks_http_header(req, "x-id", &len)) == NULL || len >= sizeof(tmp) || pr == NULL) {
        free(pr);
        ks_http_send_error(w, req, 400, "x-id missing");
        return;
    }
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    pr->id = atoi(tmp);
    if (pr->id <= 0 || pr->id >= MAX_IDS) {
        free(pr);
        ks_http_send_error(w, req, 400, "bad x-id");
        return;
    }
    if ((v = ks_http_header(req, "x-ports", &len)) != NULL && len < sizeof(tmp)) {
        char *s = tmp, *tok;
        memcpy(tmp, v, len);
        tmp[len] = '\0';
        while ((tok = strsep(&s, ",")) != NULL && pr->nports < 8)
            if (*tok != '\0')
                pr->ports[pr->nports++] = atoi(tok);
    }
    if ((v = ks_http_header(req, "x-timeout-ms", &len)) != NULL && len < sizeof(tmp)) {
        memcpy(tmp, v, len);
        tmp[len] = '\0';
        timeout_ms = (uint64_t)atoll(tmp);
    }
    ks_upstream_proxy(w, req, &OPS, pr, timeout_ms);
}

/* ---- the h2o upstream ------------------------------------------------------------------------ */

static int path_is(h2o_req_t *req, const char *p)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, p, strlen(p));
}

static void upstream_handler(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    if (path_is(req, "/hello")) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
        ks_http_send(req, 200, "text/plain", H2O_STRLIT("hello"));
    } else if (path_is(req, "/echo")) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-method"), 0, NULL, req->method.base,
                              req->method.len);
        ks_http_send(req, 200, "application/octet-stream", req->entity.base, req->entity.len);
    } else if (path_is(req, "/headers")) {
        ks_buf_t b;
        ks_buf_init(&b, 0);
        ks_buf_printf(&b, "host: %.*s\n", (int)req->authority.len, req->authority.base);
        for (size_t i = 0; i != req->headers.size; ++i)
            ks_buf_printf(&b, "%.*s: %.*s\n", (int)req->headers.entries[i].name->len,
                          req->headers.entries[i].name->base, (int)req->headers.entries[i].value.len,
                          req->headers.entries[i].value.base);
        ks_http_send(req, 200, "text/plain", b.base, b.len);
        ks_buf_free(&b);
    } else if (path_is(req, "/created")) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-custom"), 0, NULL, H2O_STRLIT("yes"));
        ks_http_send(req, 201, NULL, H2O_STRLIT("{\"id\":7}"));
    } else if (path_is(req, "/big")) {
        ks_http_send(req, 200, "application/octet-stream", BIG, BIG_LEN);
    } else {
        ks_http_send(req, 404, NULL, H2O_STRLIT("{\"error\":\"no such thing upstream\"}"));
    }
}

static ks_http_server_t *start_server(ks_http_handler_cb handler, int *port)
{
    ks_http_config_t c;
    char err[KS_ERRLEN];
    ks_http_server_t *s;
    memset(&c, 0, sizeof(c));
    c.host = "127.0.0.1";
    c.workers = 1;
    c.max_body = 64u << 20;
    c.handler = handler;
    if ((s = ks_http_server_new(&c, err, sizeof(err))) == NULL || ks_http_server_start(s, err, sizeof(err)) != 0) {
        fprintf(stderr, "cannot start a server: %s\n", err);
        abort();
    }
    *port = ks_http_server_port(s);
    return s;
}

/* ---- raw upstreams ----------------------------------------------------------------------------- */

#define RAW_MAX_CONNS 32

typedef struct raw {
    int lfd, port;
    pthread_t tid;
    _Atomic int stop;
    _Atomic int accepted, requests, closed;
    _Atomic long long streamed; /* body bytes /stream wrote */
    pthread_mutex_t lock;
    int nconns;
    pthread_t conn_tids[RAW_MAX_CONNS];
} raw_t;

typedef struct raw_conn {
    raw_t *r;
    int fd;
} raw_conn_t;

/* sends all of p, waiting (boundedly, stop-aware) for room; 0 or -1 */
static int raw_send(raw_t *r, int fd, const void *p, size_t n)
{
    const char *s = p;
    int64_t deadline = now_ms() + WAIT_MS;
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            s += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = {fd, POLLOUT, 0};
            if (atomic_load(&r->stop) || now_ms() > deadline)
                return -1;
            poll(&pf, 1, 100);
            continue;
        }
        return -1;
    }
    return 0;
}

static int raw_sendf(raw_t *r, int fd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int raw_sendf(raw_t *r, int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return raw_send(r, fd, buf, (size_t)n);
}

static int raw_body(raw_t *r, int fd, size_t from, size_t n)
{
    static __thread uint8_t block[65536];
    while (n > 0) {
        size_t k = n < sizeof(block) ? n : sizeof(block);
        for (size_t i = 0; i < k; ++i)
            block[i] = pattern(from + i);
        if (raw_send(r, fd, block, k) != 0)
            return -1;
        atomic_fetch_add(&r->streamed, (long long)k);
        from += k;
        n -= k;
    }
    return 0;
}

/* waits up to ms (stop-aware); 0, or -1 when stopping */
static int raw_sleep(raw_t *r, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        if (atomic_load(&r->stop))
            return -1;
        msleep(10);
    }
    return 0;
}

/*
 * Answers one request by its path; 0 to keep the connection, -1 to close it.
 * nreq counts the requests on this connection, this one included.
 */
static int raw_answer(raw_t *r, int fd, const char *path, int nreq, const char *body, size_t blen)
{
    static const char HELLO[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Raw: 1\r\n\r\nhello";

    if (strcmp(path, "/hello") == 0)
        return raw_send(r, fd, HELLO, sizeof(HELLO) - 1);
    if (strcmp(path, "/close-second") == 0) /* a kept-alive connection the server closes as a request arrives */
        return nreq >= 2 ? -1 : raw_send(r, fd, HELLO, sizeof(HELLO) - 1);
    if (strcmp(path, "/reset-second") == 0 && nreq >= 2) { /* the same, with a reset instead of a FIN */
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        return -1;
    }
    if (strcmp(path, "/reset-second") == 0)
        return raw_send(r, fd, HELLO, sizeof(HELLO) - 1);
    if (strcmp(path, "/echo-close-second") == 0) { /* echoes the body; closes a kept-alive connection */
        if (nreq >= 2 || raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", blen) != 0)
            return -1;
        return raw_send(r, fd, body, blen);
    }
    if (strcmp(path, "/noanswer") == 0)
        return -1;
    if (strcmp(path, "/slow") == 0)
        return raw_sleep(r, 1000) != 0 ? -1 : raw_send(r, fd, HELLO, sizeof(HELLO) - 1);
    if (strcmp(path, "/chunked") == 0) {
        static const size_t sizes[] = {1, 7, 4096, 65536, 70001, 13, 300000};
        size_t sent = 0;
        if (raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") != 0)
            return -1;
        for (int i = 0; sent < CHUNKED_LEN; ++i) {
            size_t n = sizes[i % 7];
            if (n > CHUNKED_LEN - sent)
                n = CHUNKED_LEN - sent;
            if (raw_sendf(r, fd, "%zx\r\n", n) != 0 || raw_body(r, fd, sent, n) != 0 || raw_sendf(r, fd, "\r\n") != 0)
                return -1;
            sent += n;
        }
        return raw_sendf(r, fd, "0\r\nX-Trailer: t\r\n\r\n");
    }
    if (strcmp(path, "/chunked-small") == 0)
        return raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    if (strcmp(path, "/eof") == 0) {
        if (raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n") != 0)
            return -1;
        raw_body(r, fd, 0, 100000);
        return -1;
    }
    if (strcmp(path, "/cut") == 0) {
        if (raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") != 0)
            return -1;
        raw_body(r, fd, 0, 50000);
        return -1;
    }
    if (strcmp(path, "/stall") == 0) { /* half a body, then nothing */
        if (raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") != 0 || raw_body(r, fd, 0, 50000) != 0)
            return -1;
        raw_sleep(r, 2000);
        return -1;
    }
    if (strcmp(path, "/stream") == 0) {
        if (raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n", STREAM_LEN) != 0)
            return -1;
        raw_body(r, fd, 0, STREAM_LEN);
        return -1;
    }
    if (strcmp(path, "/continue") == 0)
        return raw_sendf(r, fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (strcmp(path, "/dribble") == 0) { /* an answer a byte at a time */
        for (const char *c = HELLO; *c != '\0'; ++c)
            if (raw_send(r, fd, c, 1) != 0 || raw_sleep(r, 2) != 0)
                return -1;
        return 0;
    }
    if (strcmp(path, "/huge-head") == 0 || strcmp(path, "/huge-head-slow") == 0) {
        /* a 70 kB head: all at once (one read takes it whole), or in 1 kB pieces */
        static char head[70100];
        size_t n = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nX-Big: ");
        memset(head + n, 'a', 70000);
        n += 70000;
        n += (size_t)snprintf(head + n, sizeof(head) - n, "\r\nContent-Length: 0\r\n\r\n");
        if (path[10] == '\0')
            raw_send(r, fd, head, n);
        else
            for (size_t i = 0; i < n; i += 1000)
                if (raw_send(r, fd, head + i, n - i < 1000 ? n - i : 1000) != 0 || raw_sleep(r, 1) != 0)
                    break;
        return -1;
    }
    if (strcmp(path, "/bad-length") == 0) {
        raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello");
        return -1;
    }
    if (strcmp(path, "/bad-chunks") == 0) {
        raw_sendf(r, fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
        return -1;
    }
    if (strcmp(path, "/garbage") == 0) {
        raw_sendf(r, fd, "NOT HTTP AT ALL\r\n\r\n");
        return -1;
    }
    raw_sendf(r, fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    return 0;
}

static void *raw_conn_main(void *arg)
{
    raw_conn_t *rc = arg;
    raw_t *r = rc->r;
    int fd = rc->fd, nreq = 0;
    char buf[65536];
    size_t have = 0;
    int64_t deadline = now_ms() + 4 * WAIT_MS;

    free(rc);
    while (!atomic_load(&r->stop) && now_ms() < deadline) {
        char *end, path[256] = "", *cl;
        size_t head, body = 0;
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t k;

        if ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            if (have == sizeof(buf) || poll(&pf, 1, 100) < 0)
                break;
            if (!(pf.revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if ((k = recv(fd, buf + have, sizeof(buf) - have, 0)) <= 0)
                break;
            have += (size_t)k;
            continue;
        }
        head = (size_t)(end - buf) + 4;
        *end = '\0';
        sscanf(buf, "%*s %255s", path);
        if ((cl = strcasestr(buf, "\r\ncontent-length:")) != NULL)
            body = (size_t)atoll(cl + 17);
        /* the body: read and dropped */
        while (have < head + body && have < sizeof(buf) && !atomic_load(&r->stop)) {
            if (poll(&pf, 1, 100) <= 0)
                continue;
            if ((k = recv(fd, buf + have, sizeof(buf) - have, 0)) <= 0)
                goto out;
            have += (size_t)k;
        }
        if (have < head + body)
            break; /* the raw server takes small bodies only */
        atomic_fetch_add(&r->requests, 1);
        if (raw_answer(r, fd, path, ++nreq, buf + head, body) != 0)
            break;
        memmove(buf, buf + head + body, have - head - body);
        have -= head + body;
    }
out:
    close(fd);
    atomic_fetch_add(&r->closed, 1);
    return NULL;
}

static void *raw_main(void *arg)
{
    raw_t *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd pf = {r->lfd, POLLIN, 0};
        raw_conn_t *rc;
        int fd, one = 1;
        if (poll(&pf, 1, 50) <= 0)
            continue;
        if ((fd = accept(r->lfd, NULL, NULL)) < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        atomic_fetch_add(&r->accepted, 1);
        pthread_mutex_lock(&r->lock);
        if (r->nconns == RAW_MAX_CONNS || (rc = malloc(sizeof(*rc))) == NULL) {
            pthread_mutex_unlock(&r->lock);
            close(fd);
            continue;
        }
        rc->r = r;
        rc->fd = fd;
        if (pthread_create(&r->conn_tids[r->nconns], NULL, raw_conn_main, rc) == 0)
            r->nconns++;
        else {
            free(rc);
            close(fd);
        }
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

static raw_t *raw_start(void)
{
    raw_t *r = calloc(1, sizeof(*r));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;
    assert_non_null(r);
    pthread_mutex_init(&r->lock, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->lfd >= 0);
    setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->lfd, 64), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &sl), 0);
    r->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&r->tid, NULL, raw_main, r), 0);
    return r;
}

/* stops (kills) the server: the listener and every connection close, then its threads are joined */
static void raw_kill(raw_t *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->tid, NULL);
    close(r->lfd);
    for (int i = 0; i < r->nconns; ++i)
        pthread_join(r->conn_tids[i], NULL);
}

static void raw_free(raw_t *r)
{
    if (r == NULL)
        return;
    if (!atomic_load(&r->stop))
        raw_kill(r);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* a loopback port nothing listens on */
static int dead_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* ---- the client ---------------------------------------------------------------------------------- */

typedef struct resp {
    CURLcode rc;
    long status;
    ks_buf_t body, headers;
} resp_t;

static size_t on_data(char *p, size_t size, size_t n, void *b)
{
    return ks_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/*
 * One request through the proxy: method, path, the ports for x-ports, an
 * io timeout (0: none given), a body (NULL: none) and extra headers
 * ("Name: value", NULL-terminated).  Returns the request's id.
 */
static int request(resp_t *out, const char *method, const char *path, const char *ports, int timeout_ms,
                   const char *body, size_t blen, const char *const *extra)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    char url[300], h[300];
    int id = next_id++;

    assert_true(id < MAX_IDS);
    memset(out, 0, sizeof(*out));
    ks_buf_init(&out->body, 0);
    ks_buf_init(&out->headers, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", PPORT, path);
    snprintf(h, sizeof(h), "x-id: %d", id);
    hs = curl_slist_append(hs, h);
    snprintf(h, sizeof(h), "x-ports: %s", ports);
    hs = curl_slist_append(hs, h);
    if (timeout_ms > 0) {
        snprintf(h, sizeof(h), "x-timeout-ms: %d", timeout_ms);
        hs = curl_slist_append(hs, h);
    }
    for (; extra != NULL && *extra != NULL; ++extra)
        hs = curl_slist_append(hs, *extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    ks_buf_putc(&out->body, '\0');
    out->body.len--;
    ks_buf_putc(&out->headers, '\0');
    out->headers.len--;
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return id;
}

static void resp_free(resp_t *r)
{
    ks_buf_free(&r->body);
    ks_buf_free(&r->headers);
}

/* the response header's value (case-insensitive name), or NULL; into buf */
static const char *header_of(const resp_t *r, const char *name, char *buf, size_t len)
{
    char key[100];
    const char *p, *e;
    snprintf(key, sizeof(key), "\n%s:", name);
    if (r->headers.base == NULL || (p = strcasestr(r->headers.base, key)) == NULL)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    e = strpbrk(p, "\r\n");
    snprintf(buf, len, "%.*s", (int)(e != NULL ? e - p : (long)strlen(p)), p);
    return buf;
}

static void expect_pattern(const resp_t *r, size_t len)
{
    if (r->body.len != len)
        fail_msg("body of %zu bytes, expected %zu", r->body.len, len);
    for (size_t i = 0; i < len; ++i)
        if ((uint8_t)r->body.base[i] != pattern(i))
            fail_msg("body differs at byte %zu", i);
}

static char *ports_str(char *buf, size_t len, int a, int b, int c)
{
    if (c > 0)
        snprintf(buf, len, "%d,%d,%d", a, b, c);
    else if (b > 0)
        snprintf(buf, len, "%d,%d", a, b);
    else
        snprintf(buf, len, "%d", a);
    return buf;
}

/* a plain-socket client: connects to the proxy and sends req */
static int raw_client(const char *req)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)PPORT);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(ks_send_all(fd, req, strlen(req)), 0);
    return fd;
}

/* reads n bytes (or until EOF/error) within WAIT_MS; the count read */
static size_t read_some(int fd, size_t n)
{
    char buf[65536];
    size_t got = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    while (got < n && now_ms() < deadline) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t k;
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if ((k = recv(fd, buf, n - got < sizeof(buf) ? n - got : sizeof(buf), 0)) <= 0)
            break;
        got += (size_t)k;
    }
    return got;
}

/* ---- tests: passing through -------------------------------------------------------------------- */

static void test_get(void **state)
{
    resp_t r;
    char ports[32], v[100];
    snprintf(ports, sizeof(ports), "%d", UPORT);
    int id = request(&r, "GET", "/hello", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "hello");
    assert_non_null(header_of(&r, "cache-control", v, sizeof(v)));
    assert_string_equal(v, "no-store");
    assert_non_null(header_of(&r, "content-length", v, sizeof(v)));
    assert_string_equal(v, "5");
    record_t rec = wait_done(id);
    assert_int_equal(rec.port, UPORT);
    assert_int_equal(rec.status, 200);
    expect_picks(&rec, 1, (const int[][2]){{0, -1}});
    resp_free(&r);
}

static void test_post_body(void **state)
{
    size_t n = 300000;
    char *body = malloc(n), ports[32], v[100];
    resp_t r;
    for (size_t i = 0; i < n; ++i)
        body[i] = (char)pattern(i);
    snprintf(ports, sizeof(ports), "%d", UPORT);
    int id = request(&r, "POST", "/echo", ports, 0, body, n, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    expect_pattern(&r, n);
    assert_non_null(header_of(&r, "x-method", v, sizeof(v)));
    assert_string_equal(v, "POST");
    assert_non_null(header_of(&r, "content-type", v, sizeof(v)));
    assert_string_equal(v, "application/octet-stream");
    resp_free(&r);
    assert_int_equal(wait_done(id).status, 200);

    /* an empty POST */
    id = request(&r, "POST", "/echo", ports, 0, "", 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    resp_free(&r);
    assert_int_equal(wait_done(id).status, 200);
    free(body);
}

static void test_request_headers(void **state)
{
    static const char *const extra[] = {"Host: my-model.default.example.com", "X-Forwarded-For: 10.1.2.3",
                                        "X-Custom: abc", "TE: trailers", "Keep-Alive: timeout=5",
                                        "Cookie: a=1", "Cookie: b=2", NULL};
    resp_t r;
    char ports[32];
    snprintf(ports, sizeof(ports), "%d", UPORT);
    int id = request(&r, "GET", "/headers?q=1", ports, 0, NULL, 0, extra);
    assert_int_equal(r.status, 200);
    /* Host as the client sent it, x-forwarded-for appended to, hop-by-hop headers dropped */
    assert_non_null(strstr(r.body.base, "host: my-model.default.example.com\n"));
    assert_non_null(strstr(r.body.base, "x-forwarded-for: 10.1.2.3, 127.0.0.1\n"));
    assert_non_null(strstr(r.body.base, "x-custom: abc\n"));
    assert_non_null(strstr(r.body.base, "cookie: a=1; b=2\n"));
    assert_non_null(strstr(r.body.base, "x-forwarded-proto: http\n"));
    assert_non_null(strstr(r.body.base, "via: 1.1 my-model.default.example.com\n"));
    assert_null(strstr(r.body.base, "te:"));
    assert_null(strstr(r.body.base, "keep-alive: timeout"));
    resp_free(&r);
    wait_done(id);
}

static void test_status_and_headers(void **state)
{
    resp_t r;
    char ports[32], v[100];
    snprintf(ports, sizeof(ports), "%d", UPORT);
    int id = request(&r, "GET", "/created", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.base, "{\"id\":7}");
    assert_non_null(header_of(&r, "x-custom", v, sizeof(v)));
    assert_string_equal(v, "yes");
    resp_free(&r);
    assert_int_equal(wait_done(id).status, 201);

    /* an upstream error passes through as it is */
    id = request(&r, "GET", "/nothing", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body.base, "{\"error\":\"no such thing upstream\"}");
    resp_free(&r);
    record_t rec = wait_done(id);
    assert_int_equal(rec.status, 404);
    assert_int_equal(rec.port, UPORT);

    /* HEAD: the length, no body */
    id = request(&r, "HEAD", "/hello", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_non_null(header_of(&r, "content-length", v, sizeof(v)));
    assert_string_equal(v, "5");
    resp_free(&r);
    wait_done(id);
}

static void test_large_body(void **state)
{
    resp_t r;
    char ports[32];
    snprintf(ports, sizeof(ports), "%d", UPORT);
    int id = request(&r, "GET", "/big", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    expect_pattern(&r, BIG_LEN);
    resp_free(&r);
    assert_int_equal(wait_done(id).status, 200);
}

static void test_chunked_body(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32], v[100];
    ks_upstream_stats_t s0, s1;
    snprintf(ports, sizeof(ports), "%d", a->port);
    ks_upstream_stats(&s0);
    int id = request(&r, "GET", "/chunked", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    expect_pattern(&r, CHUNKED_LEN);
    assert_null(header_of(&r, "x-trailer", v, sizeof(v)));
    resp_free(&r);
    wait_done(id);

    /* all of it in the first read: the client gets a content-length; and the connection was kept */
    id = request(&r, "GET", "/chunked-small", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "hello");
    assert_non_null(header_of(&r, "content-length", v, sizeof(v)));
    assert_string_equal(v, "5");
    resp_free(&r);
    wait_done(id);
    ks_upstream_stats(&s1);
    assert_int_equal(atomic_load(&a->accepted), 1);
    assert_int_equal(s1.connects - s0.connects, 1);
    assert_int_equal(s1.reused - s0.reused, 1);
    raw_free(a);
}

static void test_body_to_eof(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    snprintf(ports, sizeof(ports), "%d", a->port);
    int id = request(&r, "GET", "/eof", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    expect_pattern(&r, 100000);
    resp_free(&r);
    wait_done(id);
    /* the 1xx is not passed on; and the EOF-delimited connection was not reused */
    id = request(&r, "GET", "/continue", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "ok");
    resp_free(&r);
    wait_done(id);
    assert_int_equal(atomic_load(&a->accepted), 2);
    raw_free(a);
}

static void test_keepalive_reused(void **state)
{
    raw_t *a = raw_start();
    char ports[32];
    snprintf(ports, sizeof(ports), "%d", a->port);
    for (int i = 0; i < 20; ++i) {
        resp_t r;
        int id = request(&r, "GET", "/hello", ports, 0, NULL, 0, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body.base, "hello");
        resp_free(&r);
        wait_done(id);
    }
    assert_int_equal(atomic_load(&a->accepted), 1);
    assert_int_equal(atomic_load(&a->requests), 20);
    raw_free(a);
}

/* ---- tests: retries --------------------------------------------------------------------------- */

static void test_retry_refused(void **state)
{
    resp_t r;
    char ports[32];
    int dead = dead_port();
    int id = request(&r, "GET", "/hello", ports_str(ports, sizeof(ports), dead, UPORT, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "hello");
    resp_free(&r);
    record_t rec = wait_done(id);
    expect_picks(&rec, 2, (const int[][2]){{0, -1}, {1, dead}});
    assert_int_equal(rec.port, UPORT);
    assert_int_equal(rec.status, 200);
}

static void test_retry_killed_replica(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    int aport = a->port;
    int id = request(&r, "GET", "/hello", ports_str(ports, sizeof(ports), aport, 0, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    wait_done(id);
    /* its kept-alive connection is in the pool; now the replica dies */
    raw_kill(a);
    id = request(&r, "GET", "/hello", ports_str(ports, sizeof(ports), aport, UPORT, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "hello");
    resp_free(&r);
    record_t rec = wait_done(id);
    expect_picks(&rec, 2, (const int[][2]){{0, -1}, {1, aport}});
    assert_int_equal(rec.port, UPORT);
    raw_free(a);
}

static void test_retry_stale_keepalive(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    ks_upstream_stats_t s0, s1;
    int id = request(&r, "GET", "/close-second", ports_str(ports, sizeof(ports), a->port, 0, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    wait_done(id);
    /* the replica closes the kept-alive connection as the next request arrives: sent again, on a new one */
    ks_upstream_stats(&s0);
    id = request(&r, "GET", "/close-second", ports_str(ports, sizeof(ports), a->port, a->port, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "hello");
    resp_free(&r);
    record_t rec = wait_done(id);
    expect_picks(&rec, 2, (const int[][2]){{0, -1}, {1, a->port}});
    assert_int_equal(rec.port, a->port);
    ks_upstream_stats(&s1);
    assert_int_equal(s1.retries - s0.retries, 1);
    assert_int_equal(atomic_load(&a->accepted), 2);
    assert_int_equal(atomic_load(&a->requests), 3);
    raw_free(a);
}

static void test_retry_reset_keepalive(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    int id = request(&r, "GET", "/reset-second", ports_str(ports, sizeof(ports), a->port, 0, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    wait_done(id);
    /* the kept-alive connection is reset as the request arrives: a read error, not an EOF */
    id = request(&r, "GET", "/reset-second", ports_str(ports, sizeof(ports), a->port, a->port, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "hello");
    resp_free(&r);
    record_t rec = wait_done(id);
    expect_picks(&rec, 2, (const int[][2]){{0, -1}, {1, a->port}});
    assert_int_equal(atomic_load(&a->accepted), 2);
    raw_free(a);
}

static void test_retry_resends_body(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32], *body = malloc(30000);
    for (int i = 0; i < 30000; ++i)
        body[i] = (char)pattern((size_t)i);
    int id = request(&r, "POST", "/echo-close-second", ports_str(ports, sizeof(ports), a->port, 0, 0), 0, "first", 5,
                     NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.base, "first");
    resp_free(&r);
    wait_done(id);
    /* written whole on the kept-alive connection, which the replica then closes: sent whole again */
    id = request(&r, "POST", "/echo-close-second", ports_str(ports, sizeof(ports), a->port, a->port, 0), 0, body,
                 30000, NULL);
    assert_int_equal(r.status, 200);
    expect_pattern(&r, 30000);
    resp_free(&r);
    record_t rec = wait_done(id);
    assert_int_equal(rec.npicks, 2);
    assert_int_equal(atomic_load(&a->accepted), 2);
    raw_free(a);

    /* a POST to a refused port goes whole to the next */
    int dead = dead_port();
    id = request(&r, "POST", "/echo", ports_str(ports, sizeof(ports), dead, UPORT, 0), 0, body, 30000, NULL);
    assert_int_equal(r.status, 200);
    expect_pattern(&r, 30000);
    resp_free(&r);
    wait_done(id);
    free(body);
}

static void test_no_retry_once_seen(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    /* a new connection closed without an answer: the replica had the request, it is not sent again */
    int id = request(&r, "POST", "/noanswer", ports_str(ports, sizeof(ports), a->port, UPORT, 0), 0, "x", 1, NULL);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body.base, "{\"error\":"));
    assert_non_null(strstr(r.body.base, "closed the connection before answering"));
    resp_free(&r);
    record_t rec = wait_done(id);
    expect_picks(&rec, 1, (const int[][2]){{0, -1}});
    assert_int_equal(rec.port, a->port);
    assert_int_equal(rec.status, 502);

    raw_free(a);
}

static void test_heads(void **state)
{
    static const struct {
        const char *path;
        int status;
        const char *body; /* the answer's body, or a part of the error */
    } cases[] = {
        {"/dribble", 200, "hello"},
        {"/huge-head", 502, "sent an answer head over 65536 bytes"},
        {"/huge-head-slow", 502, "sent an answer head over 65536 bytes"},
        {"/bad-length", 502, "invalid content-length"},
        {"/bad-chunks", 502, "broken chunked body"},
        {"/garbage", 502, "malformed answer"},
    };
    raw_t *a = raw_start();
    char ports[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        resp_t r;
        int id = request(&r, "GET", cases[i].path, ports_str(ports, sizeof(ports), a->port, UPORT, 0), 0, NULL, 0, NULL);
        int ok = r.status == cases[i].status && strstr(r.body.base, cases[i].body) != NULL;
        if (!ok)
            print_error("%s: %ld %s\n", cases[i].path, r.status, r.body.base);
        resp_free(&r);
        assert_true(ok);
        record_t rec = wait_done(id);
        assert_int_equal(rec.npicks, 1);
        assert_int_equal(rec.status, cases[i].status);
    }
    raw_free(a);
}

static void test_all_dead(void **state)
{
    resp_t r;
    char ports[64];
    int d1 = dead_port(), d2 = dead_port(), d3 = dead_port();
    snprintf(ports, sizeof(ports), "%d,%d,%d,%d", d1, d2, d3, UPORT);
    int id = request(&r, "GET", "/hello", ports, 0, NULL, 0, NULL);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body.base, "{\"error\":\"cannot connect to the replica at 127.0.0.1:"));
    assert_non_null(strstr(r.body.base, "(3 attempts)"));
    resp_free(&r);
    record_t rec = wait_done(id);
    expect_picks(&rec, 3, (const int[][2]){{0, -1}, {1, d1}, {2, d2}});
    assert_int_equal(rec.port, d3);
    assert_int_equal(rec.status, 502);
}

static void test_no_replica(void **state)
{
    resp_t r;
    char ports[32];
    int id = request(&r, "GET", "/hello", "0", 0, NULL, 0, NULL);
    assert_int_equal(r.status, 502);
    assert_string_equal(r.body.base, "{\"error\":\"no replica to send the request to\"}");
    resp_free(&r);
    record_t rec = wait_done(id);
    assert_int_equal(rec.port, -1);
    assert_int_equal(rec.status, 502);

    /* the caller runs out after a failure: the failed port came back through pick_cb, none is left */
    int dead = dead_port();
    id = request(&r, "GET", "/hello", ports_str(ports, sizeof(ports), dead, 0, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body.base, "cannot connect"));
    resp_free(&r);
    rec = wait_done(id);
    expect_picks(&rec, 2, (const int[][2]){{0, -1}, {1, dead}});
    assert_int_equal(rec.port, -1);
}

/* ---- tests: timeouts, cuts, clients that go ------------------------------------------------- */

static void test_timeout(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    int id = request(&r, "GET", "/slow", ports_str(ports, sizeof(ports), a->port, UPORT, 0), 200, NULL, 0, NULL);
    assert_int_equal(r.status, 504);
    assert_non_null(strstr(r.body.base, "did not answer within 200 ms"));
    resp_free(&r);
    record_t rec = wait_done(id);
    assert_int_equal(rec.npicks, 1);
    assert_int_equal(rec.port, a->port);
    assert_int_equal(rec.status, 504);

    /* a replica stalling mid-body: the answer is cut */
    id = request(&r, "GET", "/stall", ports, 300, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_not_equal(r.rc, CURLE_OK);
    assert_true(r.body.len < 100000);
    resp_free(&r);
    assert_int_equal(wait_done(id).status, 200);
    raw_free(a);
}

static void test_cut_mid_body(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    int id = request(&r, "GET", "/cut", ports_str(ports, sizeof(ports), a->port, 0, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_not_equal(r.rc, CURLE_OK); /* the client sees the cut, not a short body as if complete */
    assert_true(r.body.len <= 50000);
    resp_free(&r);
    record_t rec = wait_done(id);
    assert_int_equal(rec.port, a->port);
    assert_int_equal(rec.status, 200);
    raw_free(a);
}

static void test_client_gone_mid_stream(void **state)
{
    raw_t *a = raw_start();
    char req[300];
    int id = next_id++, fd;
    snprintf(req, sizeof(req), "GET /stream HTTP/1.1\r\nHost: x\r\nx-id: %d\r\nx-ports: %d\r\n\r\n", id, a->port);
    fd = raw_client(req);
    assert_int_equal(read_some(fd, 1u << 20), 1u << 20);
    close(fd);
    record_t rec = wait_done(id);
    assert_int_equal(rec.port, a->port);
    assert_int_equal(rec.status, 200);
    /* the replica's connection was closed too: its writes fail, its thread ends */
    int64_t deadline = now_ms() + WAIT_MS;
    while (atomic_load(&a->closed) < 1 && now_ms() < deadline)
        msleep(5);
    assert_int_equal(atomic_load(&a->closed), 1);
    assert_true(atomic_load(&a->streamed) < (long long)STREAM_LEN);
    raw_free(a);
}

static void test_backpressure(void **state)
{
    raw_t *a = raw_start();
    char req[300];
    int id = next_id++, fd;
    long long streamed;
    snprintf(req, sizeof(req), "GET /stream HTTP/1.1\r\nHost: x\r\nx-id: %d\r\nx-ports: %d\r\n\r\n", id, a->port);
    fd = raw_client(req);
    assert_int_equal(read_some(fd, 65536), 65536);
    msleep(500); /* the client reads nothing: the proxy must stop reading from the replica */
    streamed = atomic_load(&a->streamed);
    print_message("the replica wrote %lld bytes while the client had read 64 KiB\n", streamed);
    if (streamed > (64ll << 20))
        fail_msg("the proxy read %lld bytes from the replica for a client that read 64 KiB", streamed);
    /* then it reads on: the stream goes on */
    assert_int_equal(read_some(fd, 8u << 20), 8u << 20);
    close(fd);
    record_t rec = wait_done(id);
    assert_int_equal(rec.status, 200);
    raw_free(a);
}

static void test_client_gone_before_answer(void **state)
{
    raw_t *a = raw_start();
    char req[300];
    int id = next_id++, fd;
    snprintf(req, sizeof(req), "GET /slow HTTP/1.1\r\nHost: x\r\nx-id: %d\r\nx-ports: %d\r\n\r\n", id, a->port);
    fd = raw_client(req);
    close(fd);
    record_t rec = wait_done(id);
    assert_int_equal(rec.port, a->port);
    raw_free(a);
}

/* ---- tests: many at once, and the pools' end ---------------------------------------------------- */

static void test_concurrent(void **state)
{
    enum { N = 64 };
    CURLM *m = curl_multi_init();
    CURL *c[N];
    struct curl_slist *hs[N];
    ks_buf_t body[N];
    int ids[N], running = 1, dead = dead_port();
    int64_t deadline = now_ms() + WAIT_MS;
    char url[200], h[200];

    for (int i = 0; i < N; ++i) {
        ids[i] = next_id++;
        c[i] = curl_easy_init();
        hs[i] = NULL;
        ks_buf_init(&body[i], 0);
        snprintf(h, sizeof(h), "x-id: %d", ids[i]);
        hs[i] = curl_slist_append(hs[i], h);
        if (i % 4 == 0)
            snprintf(h, sizeof(h), "x-ports: %d,%d", dead, UPORT);
        else
            snprintf(h, sizeof(h), "x-ports: %d", UPORT);
        hs[i] = curl_slist_append(hs[i], h);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", PPORT, i % 3 == 0 ? "/big" : "/hello");
        curl_easy_setopt(c[i], CURLOPT_URL, url);
        curl_easy_setopt(c[i], CURLOPT_PROXY, "");
        curl_easy_setopt(c[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c[i], CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
        curl_easy_setopt(c[i], CURLOPT_HTTPHEADER, hs[i]);
        curl_easy_setopt(c[i], CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c[i], CURLOPT_WRITEDATA, &body[i]);
        curl_multi_add_handle(m, c[i]);
    }
    while (running && now_ms() < deadline) {
        curl_multi_perform(m, &running);
        curl_multi_wait(m, NULL, 0, 50, NULL);
    }
    for (int i = 0; i < N; ++i) {
        long status = 0;
        curl_easy_getinfo(c[i], CURLINFO_RESPONSE_CODE, &status);
        assert_int_equal(status, 200);
        assert_int_equal(body[i].len, i % 3 == 0 ? BIG_LEN : 5);
        curl_multi_remove_handle(m, c[i]);
        curl_easy_cleanup(c[i]);
        curl_slist_free_all(hs[i]);
        ks_buf_free(&body[i]);
    }
    curl_multi_cleanup(m);
    for (int i = 0; i < N; ++i) {
        record_t rec = wait_done(ids[i]);
        assert_int_equal(rec.port, UPORT);
        assert_int_equal(rec.status, 200);
        assert_int_equal(rec.npicks, i % 4 == 0 ? 2 : 1);
    }
}

static void test_idle_closed_and_pools_freed(void **state)
{
    raw_t *a = raw_start();
    resp_t r;
    char ports[32];
    ks_upstream_stats_t s;
    int64_t t0, deadline;
    int id = request(&r, "GET", "/hello", ports_str(ports, sizeof(ports), a->port, 0, 0), 0, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    wait_done(id);
    /* the idle connection closes after KS_UPSTREAM_IDLE_MS (h2o's timers fire up to a second late) */
    t0 = now_ms();
    deadline = t0 + WAIT_MS;
    while (atomic_load(&a->closed) == 0 && now_ms() < deadline)
        msleep(10);
    assert_int_equal(atomic_load(&a->closed), 1);
    assert_true(now_ms() - t0 >= KS_UPSTREAM_IDLE_MS - 200);
    /* then every pool with no connection goes (this one, and those of the tests before) */
    do {
        ks_upstream_stats(&s);
        if (s.pools == 0 && s.connections == 0)
            break;
        msleep(20);
    } while (now_ms() < deadline);
    assert_int_equal(s.connections, 0);
    assert_int_equal(s.pools, 0);
    raw_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_post_body),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_status_and_headers),
        cmocka_unit_test(test_large_body),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_body_to_eof),
        cmocka_unit_test(test_keepalive_reused),
        cmocka_unit_test(test_retry_refused),
        cmocka_unit_test(test_retry_killed_replica),
        cmocka_unit_test(test_retry_stale_keepalive),
        cmocka_unit_test(test_retry_reset_keepalive),
        cmocka_unit_test(test_retry_resends_body),
        cmocka_unit_test(test_no_retry_once_seen),
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_all_dead),
        cmocka_unit_test(test_no_replica),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cut_mid_body),
        cmocka_unit_test(test_client_gone_mid_stream),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_client_gone_before_answer),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_idle_closed_and_pools_freed),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    BIG = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; ++i)
        BIG[i] = (char)pattern(i);
    P = start_server(proxy_handler, &PPORT);
    U = start_server(upstream_handler, &UPORT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    ks_http_server_stop(P, 1000);
    ks_http_server_stop(U, 1000);
    free(BIG);
    curl_global_cleanup();
    return rc;
}
