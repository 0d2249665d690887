/*
 * The transformer's HTTP client to its predictor.
 *
 * A call POSTs one JSON body and hands the whole answer back: the
 * transformer's postprocess needs all of it, so nothing streams (unlike
 * src/http/upstream.c, which relays an answer to a client as it comes).
 * It runs on the worker's own h2o event loop, so a worker waiting for the
 * predictor goes on serving other requests.
 *
 * Connections are kept alive per worker thread (nothing is shared or
 * locked).  An idle connection stays in the loop, reading, so a predictor
 * that closes it (or dies) takes it out of the pool at once.  If a
 * kept-alive connection still turns out dead before any byte of an answer
 * came, the call goes again once on a new connection, as upstream.c does.
 * Answers are read with picohttpparser (inside libh2o) and are bounded by
 * a size cap and by the call's timeout.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

/* picohttpparser: exported by libh2o-evloop, header not installed by Debian (h2o 2.2.5's deps/picohttpparser) */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#define MAX_HEAD (64u << 10) /* an answer's status line and headers */
#define MAX_HEADERS 100
#define IDLE_MS 5000 /* an unused connection closes after this (h2o servers keep one 10 s) */
#define MAX_IDLE 256 /* idle connections kept per worker */

typedef struct pworker pworker_t;

typedef struct pconn {
    h2o_socket_t *sock; /* sock->data: the call while busy, this while idle */
    pworker_t *pw;
    h2o_linklist_t link; /* in pw->idle while idle */
    h2o_timeout_entry_t idle_timer;
    unsigned requests; /* sent on it, the current one included */
} pconn_t;

struct pworker {
    h2o_loop_t *loop; /* NULL until the worker's first call */
    h2o_timeout_t call_timeout;
    h2o_timeout_t idle_timeout;
    h2o_linklist_t idle; /* pconn_t, the most recently used first */
    size_t nidle;
    _Atomic uint64_t connects, reused; /* written by the worker only */
} __attribute__((aligned(64)));

struct ks__predictor {
    struct sockaddr_storage sa;
    socklen_t salen;
    char authority[300]; /* the Host header: the predictor host as given, without scheme */
    int via_proxy;       /* http_proxy is set: connect to it and send the request in absolute form */
    uint64_t timeout_ms;
    size_t max_answer;
    int nworkers;
    pworker_t *workers;
};

enum framing { F_NONE, F_LENGTH, F_CHUNKED, F_EOF };

struct ks__call {
    ks__predictor_t *p;
    pworker_t *pw;
    pconn_t *conn;
    ks__call_cb cb;
    void *data;
    h2o_timeout_entry_t timer; /* the whole call */
    char *req;                 /* head and body, malloc'd */
    size_t req_len;
    h2o_iovec_t wbuf;
    int retried;
    /* the answer */
    int head_done;
    int status;
    int keepalive;
    enum framing framing;
    size_t clen;    /* F_LENGTH */
    size_t decoded; /* F_CHUNKED: body bytes already decoded at the input's start */
    struct phr_chunked_decoder dec;
};

#define BUMP(field) atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + 1, memory_order_relaxed)

static void on_read(h2o_socket_t *sock, const char *err);

/* ---- connections ------------------------------------------------------------------------------------ */

static void conn_close(pconn_t *c)
{
    if (h2o_linklist_is_linked(&c->link)) {
        h2o_linklist_unlink(&c->link);
        c->pw->nidle--;
    }
    if (h2o_timeout_is_linked(&c->idle_timer))
        h2o_timeout_unlink(&c->idle_timer);
    h2o_socket_close(c->sock);
    free(c);
}

/* an idle connection that reads anything (EOF, an error, bytes nobody asked for) is done with */
static void on_idle_read(h2o_socket_t *sock, const char *err)
{
    conn_close(sock->data);
}

static void on_idle_timeout(h2o_timeout_entry_t *e)
{
    conn_close(H2O_STRUCT_FROM_MEMBER(pconn_t, idle_timer, e));
}

static void conn_release(pconn_t *c)
{
    pworker_t *pw = c->pw;
    if (pw->nidle >= MAX_IDLE) {
        conn_close(c);
        return;
    }
    c->sock->data = c;
    h2o_socket_read_start(c->sock, on_idle_read);
    h2o_linklist_insert(pw->idle.next, &c->link);
    pw->nidle++;
    h2o_timeout_link(pw->loop, &pw->idle_timeout, &c->idle_timer);
}

static pconn_t *conn_take(pworker_t *pw)
{
    pconn_t *c;
    if (h2o_linklist_is_empty(&pw->idle))
        return NULL;
    c = H2O_STRUCT_FROM_MEMBER(pconn_t, link, pw->idle.next);
    h2o_linklist_unlink(&c->link);
    pw->nidle--;
    h2o_timeout_unlink(&c->idle_timer);
    h2o_socket_read_stop(c->sock);
    return c;
}

/* ---- the end of a call ---------------------------------------------------------------------------- */

static void call_free(ks__call_t *c)
{
    if (h2o_timeout_is_linked(&c->timer))
        h2o_timeout_unlink(&c->timer);
    if (c->conn != NULL)
        conn_close(c->conn);
    free(c->req);
    free(c);
}

static void fail(ks__call_t *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(ks__call_t *c, int status, const char *fmt, ...)
{
    char msg[KS_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->conn != NULL) { /* in an unknown state */
        conn_close(c->conn);
        c->conn = NULL;
    }
    if (h2o_timeout_is_linked(&c->timer))
        h2o_timeout_unlink(&c->timer);
    c->cb(c->data, status, NULL, 0, msg);
    call_free(c);
}

/* the whole answer is in the connection's input, body[0..len) at its start */
static void complete(ks__call_t *c, size_t len)
{
    pconn_t *conn = c->conn;
    h2o_buffer_t *in = conn->sock->input;

    c->conn = NULL;
    h2o_timeout_unlink(&c->timer);
    h2o_socket_read_stop(conn->sock);
    c->cb(c->data, c->status, in->bytes, len, NULL);
    h2o_buffer_consume(&conn->sock->input, conn->sock->input->size);
    if (c->keepalive)
        conn_release(conn);
    else
        conn_close(conn);
    call_free(c);
}

static void on_timeout(h2o_timeout_entry_t *e)
{
    ks__call_t *c = H2O_STRUCT_FROM_MEMBER(ks__call_t, timer, e);
    fail(c, 504, "the predictor at %s did not answer within %llu s", c->p->authority,
         (unsigned long long)(c->p->timeout_ms / 1000));
}

/* ---- sending -------------------------------------------------------------------------------------- */

static void on_written(h2o_socket_t *sock, const char *err);
static void on_connect(h2o_socket_t *sock, const char *err);

static void send_request(ks__call_t *c)
{
    c->head_done = 0;
    c->wbuf = h2o_iovec_init(c->req, c->req_len);
    h2o_socket_write(c->conn->sock, &c->wbuf, 1, on_written);
}

/* on a kept-alive connection when allowed, else a new one; 0, or -1 with err when connect failed at once */
static int start(ks__call_t *c, int reuse, char *err, size_t errlen)
{
    pworker_t *pw = c->pw;
    pconn_t *conn;
    int e;

    if (reuse && (conn = conn_take(pw)) != NULL) {
        conn->requests++;
        conn->sock->data = c;
        c->conn = conn;
        BUMP(pw->reused);
        send_request(c);
        return 0;
    }
    if ((conn = calloc(1, sizeof(*conn))) == NULL) {
        ks_errorf(err, errlen, "out of memory");
        return -1;
    }
    if ((conn->sock = h2o_socket_connect(pw->loop, (struct sockaddr *)&c->p->sa, c->p->salen, on_connect)) == NULL) {
        e = errno;
        free(conn);
        ks_errorf(err, errlen, "cannot connect to the predictor at %s: %s", c->p->authority, strerror(e));
        return -1;
    }
    conn->pw = pw;
    conn->idle_timer.cb = on_idle_timeout;
    conn->requests = 1;
    conn->sock->data = c;
    c->conn = conn;
    BUMP(pw->connects);
    return 0;
}

/* a kept-alive connection was found dead before any byte of the answer: once more, on a new one */
static void retry(ks__call_t *c)
{
    char err[KS_ERRLEN];
    conn_close(c->conn);
    c->conn = NULL;
    c->retried = 1;
    if (start(c, 0, err, sizeof(err)) != 0)
        fail(c, 502, "%s", err);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    ks__call_t *c = sock->data;
    int on = 1;
    if (err != NULL) {
        fail(c, 502, "cannot connect to the predictor at %s: %s", c->p->authority, err);
        return;
    }
    /* a request is one write and the next waits for the answer, but a small head must not wait for an ACK */
    setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    send_request(c);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    ks__call_t *c = sock->data;
    if (err != NULL) {
        if (c->conn->requests > 1 && !c->retried) {
            retry(c);
            return;
        }
        fail(c, 502, "the predictor at %s closed the connection while the request was sent", c->p->authority);
        return;
    }
    h2o_socket_read_start(sock, on_read);
}

/* ---- the answer ----------------------------------------------------------------------------------- */

/* the head is in; 0, or -1 after failing the call */
static int on_head(ks__call_t *c, int minor, struct phr_header *hs, size_t nh)
{
    size_t clen = SIZE_MAX;
    int chunked = 0;

    c->keepalive = minor >= 1;
    for (size_t i = 0; i < nh; ++i) {
        const char *v = hs[i].value;
        size_t vl = hs[i].value_len;
        if (h2o_lcstris(hs[i].name, hs[i].name_len, H2O_STRLIT("connection"))) {
            if (h2o_contains_token(v, vl, H2O_STRLIT("close"), ','))
                c->keepalive = 0;
            else if (h2o_contains_token(v, vl, H2O_STRLIT("keep-alive"), ','))
                c->keepalive = 1;
        } else if (h2o_lcstris(hs[i].name, hs[i].name_len, H2O_STRLIT("transfer-encoding"))) {
            if (h2o_lcstris(v, vl, H2O_STRLIT("chunked"))) {
                chunked = 1;
            } else if (!h2o_lcstris(v, vl, H2O_STRLIT("identity"))) {
                fail(c, 502, "the predictor at %s answered with an unsupported transfer-encoding", c->p->authority);
                return -1;
            }
        } else if (h2o_lcstris(hs[i].name, hs[i].name_len, H2O_STRLIT("content-length"))) {
            size_t n = h2o_strtosize(v, vl);
            if (n == SIZE_MAX || (clen != SIZE_MAX && clen != n)) {
                fail(c, 502, "the predictor at %s answered with an invalid content-length", c->p->authority);
                return -1;
            }
            clen = n;
        }
    }
    if (c->status == 204 || c->status == 304) {
        c->framing = F_NONE;
    } else if (chunked) {
        c->framing = F_CHUNKED;
        memset(&c->dec, 0, sizeof(c->dec));
        c->dec.consume_trailer = 1;
        c->decoded = 0;
    } else if (clen != SIZE_MAX) {
        if (clen > c->p->max_answer) {
            fail(c, 502, "the predictor at %s answered with %zu bytes, over the limit of %zu", c->p->authority, clen,
                 c->p->max_answer);
            return -1;
        }
        c->framing = F_LENGTH;
        c->clen = clen;
    } else {
        c->framing = F_EOF;
        c->keepalive = 0;
    }
    return 0;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    ks__call_t *c = sock->data;
    h2o_buffer_t *in;

    if (err != NULL) {
        if (!c->head_done && sock->input->size == 0 && c->conn->requests > 1 && !c->retried) {
            retry(c); /* a kept-alive connection the predictor had closed: it did not see the request */
            return;
        }
        if (c->head_done && c->framing == F_EOF) {
            complete(c, sock->input->size);
            return;
        }
        fail(c, 502, "the predictor at %s closed the connection %s", c->p->authority,
             c->head_done ? "in the middle of its answer" : "before answering");
        return;
    }
    while (!c->head_done) {
        struct phr_header hs[MAX_HEADERS];
        size_t nh = MAX_HEADERS, msglen;
        const char *msg;
        int minor, status, rlen;

        rlen = phr_parse_response(sock->input->bytes, sock->input->size, &minor, &status, &msg, &msglen, hs, &nh, 0);
        if ((rlen == -2 && sock->input->size >= MAX_HEAD) || rlen > (int)MAX_HEAD) {
            fail(c, 502, "the predictor at %s sent an answer head over %u bytes", c->p->authority, MAX_HEAD);
            return;
        }
        if (rlen == -2)
            return;
        if (rlen < 0 || status == 101) {
            fail(c, 502, "the predictor at %s sent a malformed answer", c->p->authority);
            return;
        }
        c->status = status;
        if (status >= 200 && on_head(c, minor, hs, nh) != 0)
            return;
        h2o_buffer_consume(&sock->input, (size_t)rlen);
        if (status >= 200)
            c->head_done = 1;
        else if (sock->input->size == 0) /* 1xx: skipped */
            return;
    }
    in = sock->input;
    switch (c->framing) {
    case F_NONE:
        if (in->size != 0)
            c->keepalive = 0;
        complete(c, 0);
        return;
    case F_LENGTH:
        if (in->size < c->clen)
            return;
        if (in->size > c->clen)
            c->keepalive = 0; /* bytes after the body */
        complete(c, c->clen);
        return;
    case F_CHUNKED: {
        size_t len = in->size - c->decoded;
        ssize_t r;
        if (len == 0)
            return;
        if ((r = phr_decode_chunked(&c->dec, in->bytes + c->decoded, &len)) == -1) {
            fail(c, 502, "the predictor at %s sent a broken chunked body", c->p->authority);
            return;
        }
        c->decoded += len;
        in->size = c->decoded;
        if (c->decoded > c->p->max_answer) {
            fail(c, 502, "the predictor at %s answered with over %zu bytes", c->p->authority, c->p->max_answer);
            return;
        }
        if (r >= 0) {
            if (r > 0)
                c->keepalive = 0;
            complete(c, c->decoded);
        }
        return;
    }
    case F_EOF:
        if (in->size > c->p->max_answer)
            fail(c, 502, "the predictor at %s answered with over %zu bytes", c->p->authority, c->p->max_answer);
        return;
    }
}

/* ---- the API ------------------------------------------------------------------------------------- */

ks__predictor_t *ks__predictor_new(const char *host_port, int nworkers, uint64_t timeout_ms, size_t max_answer,
                                   char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char host[256], ports[16];
    const char *auth = host_port;
    ks__predictor_t *p;
    int port, r;
    size_t n;

    const char *proxy = getenv("http_proxy");
    int via_proxy = 0;

    if (proxy == NULL || proxy[0] == '\0')
        proxy = getenv("HTTP_PROXY");
    if (ks__sdk_split_host(host_port, host, sizeof(host), &port, err, errlen) != 0)
        return NULL;
    if (proxy != NULL && proxy[0] != '\0') {
        /* as curl and Python do: plain http to the predictor goes through the proxy (the platform's ingress) */
        const char *hp = strncmp(proxy, "http://", 7) == 0 ? proxy + 7 : proxy;
        char hpbuf[300];
        size_t hl = strcspn(hp, "/");
        snprintf(hpbuf, sizeof(hpbuf), "%.*s", (int)(hl < sizeof(hpbuf) ? hl : sizeof(hpbuf) - 1), hp);
        if (ks__sdk_split_host(hpbuf, host, sizeof(host), &port, err, errlen) != 0) {
            ks_errorf(err, errlen, "http_proxy: expected http://HOST:PORT, got \"%.100s\"", proxy);
            return NULL;
        }
        via_proxy = 1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(ports, sizeof(ports), "%d", port);
    if ((r = getaddrinfo(host, ports, &hints, &res)) != 0) {
        ks_errorf(err, errlen, "--predictor_host: cannot resolve %s: %s", host, gai_strerror(r));
        return NULL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL ||
        (p->workers = aligned_alloc(64, sizeof(pworker_t) * (size_t)nworkers)) == NULL) {
        freeaddrinfo(res);
        free(p);
        ks_errorf(err, errlen, "out of memory");
        return NULL;
    }
    memset(p->workers, 0, sizeof(pworker_t) * (size_t)nworkers);
    memcpy(&p->sa, res->ai_addr, res->ai_addrlen);
    p->salen = res->ai_addrlen;
    p->via_proxy = via_proxy;
    freeaddrinfo(res);
    if (strncmp(auth, "http://", 7) == 0)
        auth += 7;
    n = strlen(auth);
    while (n > 0 && auth[n - 1] == '/')
        --n;
    snprintf(p->authority, sizeof(p->authority), "%.*s", (int)n, auth);
    p->timeout_ms = timeout_ms;
    p->max_answer = max_answer;
    p->nworkers = nworkers;
    return p;
}

void ks__predictor_free(ks__predictor_t *p)
{
    if (p == NULL)
        return;
    /* the workers are joined: their loops never run again, so closing here is closing alone */
    for (int i = 0; i < p->nworkers; ++i) {
        pworker_t *pw = &p->workers[i];
        if (pw->loop == NULL)
            continue;
        while (!h2o_linklist_is_empty(&pw->idle))
            conn_close(H2O_STRUCT_FROM_MEMBER(pconn_t, link, pw->idle.next));
    }
    free(p->workers);
    free(p);
}

ks__call_t *ks__predictor_post(ks__predictor_t *p, ks_http_worker_t *w, const char *path, const char *extra_headers,
                               size_t extra_len, const char *body, size_t len, ks__call_cb cb, void *data, char *err,
                               size_t errlen)
{
    pworker_t *pw = &p->workers[w->id];
    ks__call_t *c;
    size_t cap;
    int n;

    KS_ASSERT(w->id >= 0 && w->id < p->nworkers);
    if (pw->loop == NULL) {
        pw->loop = w->ctx->loop;
        h2o_timeout_init(pw->loop, &pw->call_timeout, p->timeout_ms);
        h2o_timeout_init(pw->loop, &pw->idle_timeout, IDLE_MS);
        h2o_linklist_init_anchor(&pw->idle);
    }
    KS_ASSERT(pw->loop == w->ctx->loop);
    cap = strlen(path) + 2 * strlen(p->authority) + extra_len + 170 + len; /* authority twice through a proxy */
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->req = malloc(cap)) == NULL) {
        free(c);
        ks_errorf(err, errlen, "out of memory");
        return NULL;
    }
    n = snprintf(c->req, cap,
                 "POST %s%s%s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n%.*s\r\n",
                 p->via_proxy ? "http://" : "", p->via_proxy ? p->authority : "", path, p->authority, len,
                 (int)extra_len, extra_headers != NULL ? extra_headers : "");
    KS_ASSERT(n > 0 && (size_t)n + len <= cap);
    memcpy(c->req + n, body, len);
    c->req_len = (size_t)n + len;
    c->p = p;
    c->pw = pw;
    c->cb = cb;
    c->data = data;
    c->timer.cb = on_timeout;
    if (start(c, 1, err, errlen) != 0) {
        call_free(c);
        return NULL;
    }
    h2o_timeout_link(pw->loop, &pw->call_timeout, &c->timer);
    return c;
}

void ks__predictor_cancel(ks__call_t *c)
{
    call_free(c);
}

void ks__predictor_counts(ks__predictor_t *p, uint64_t *connects, uint64_t *reused)
{
    *connects = *reused = 0;
    for (int i = 0; i < p->nworkers; ++i) {
        *connects += atomic_load_explicit(&p->workers[i].connects, memory_order_relaxed);
        *reused += atomic_load_explicit(&p->workers[i].reused, memory_order_relaxed);
    }
}
