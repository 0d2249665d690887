/*
 * The upstream client.  See include/ks/upstream.h and docs/upstream.md.
 *
 * Built on h2o's sockets, timeouts and response streaming, with picohttpparser
 * (inside libh2o) for the answers.  h2o's own HTTP/1 client is not used: it
 * cannot tell a kept-alive connection from a new one nor say whether any byte
 * of an answer came, which is what deciding a retry needs; and its socket pool
 * takes every idle connection out of the event loop and puts it back in for
 * each request, where ours stay in the loop, which also sees at once a replica
 * closing them.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ks/upstream.h"

/*
 * picohttpparser: libh2o-evloop exports it, but Debian does not install its
 * header.  These are the declarations of h2o 2.2.5's deps/picohttpparser.
 */
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
#define HIGH_WATER (1u << 20) /* body bytes held for a slow client before reading from the replica stops */
#define SWEEP_MS 1000         /* how often pools are looked at */
#define MAX_IO_TIMEOUTS 8     /* distinct io timeouts per worker */

typedef struct pool pool_t;
typedef struct upconn upconn_t;

/* the connections of one worker to one port */
struct pool {
    pool_t *next;
    int port;
    struct sockaddr_in sa;
    h2o_linklist_t idle; /* upconn_t, the most recently used first */
    size_t nidle;
    size_t nconns;      /* busy and idle */
    uint64_t last_used; /* loop time, ms */
};

struct upconn {
    h2o_socket_t *sock; /* sock->data: the proxy_t while busy, this while idle */
    pool_t *pool;
    h2o_linklist_t link; /* in pool->idle while idle */
    h2o_timeout_entry_t idle_timer;
    unsigned requests; /* sent on it, the current one included */
};

typedef struct worker_state {
    struct worker_state *next; /* every worker's, for ks_upstream_stats */
    h2o_loop_t *loop;
    pool_t *pools;
    h2o_timeout_t idle_timeout;
    h2o_timeout_t sweep_timeout;
    h2o_timeout_entry_t sweep_entry;
    struct {
        uint64_t ms;
        h2o_timeout_t t;
    } io[MAX_IO_TIMEOUTS];
    int nio;
    /* written by this worker only, read by ks_upstream_stats */
    _Atomic uint64_t connects, reused, retries;
    _Atomic int64_t connections, npools;
} worker_state_t;

enum phase {
    PH_CONNECT, /* connecting */
    PH_SEND,    /* writing the request */
    PH_HEAD,    /* waiting for the answer's head */
    PH_BODY,    /* streaming the body */
    PH_DONE     /* the replica is done with (or an error was sent) */
};

enum body { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_TO_EOF };

typedef struct proxy {
    h2o_generator_t super;
    h2o_req_t *req;
    ks_http_worker_t *w;
    const ks_upstream_ops_t *ops;
    void *data;
    h2o_timeout_t *io_timeout;
    uint64_t io_timeout_ms;
    h2o_timeout_entry_t timer;
    enum phase phase;
    int attempts; /* made so far */
    int port;     /* of the last attempt; -1 before the first */
    int status;   /* sent to the client; 0 before */
    upconn_t *conn;
    h2o_iovec_t head;     /* the request line and headers, built once */
    h2o_iovec_t wbufs[2]; /* h2o_socket_write consumes these */
    int got_bytes;        /* some of an answer came on this attempt */
    /* the answer's body */
    enum body body;
    size_t left; /* BODY_LENGTH: bytes still to come */
    struct phr_chunked_decoder chunked;
    int keepalive;
    int paused;         /* not reading: HIGH_WATER bytes wait for the client */
    int cut;            /* the replica broke off mid-body */
    h2o_buffer_t *rest; /* the body's tail once the connection is let go */
    h2o_doublebuffer_t sending;
} proxy_t;

static __thread worker_state_t *tls;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static worker_state_t *all;

static void on_sweep(h2o_timeout_entry_t *e);
static void on_head(h2o_socket_t *sock, const char *err);
static void on_body(h2o_socket_t *sock, const char *err);
static void do_send(proxy_t *p);

/* a counter of this worker's (only it writes it) */
#define BUMP(field, d)                                                                                                 \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (d), memory_order_relaxed)

/* ---- per-worker state ------------------------------------------------------------------------ */

static worker_state_t *state_of(ks_http_worker_t *w)
{
    worker_state_t *ws = tls;
    if (ws != NULL) {
        KS_ASSERT(ws->loop == w->ctx->loop); /* one loop per thread */
        return ws;
    }
    if ((ws = calloc(1, sizeof(*ws))) == NULL)
        return NULL;
    ws->loop = w->ctx->loop;
    h2o_timeout_init(ws->loop, &ws->idle_timeout, KS_UPSTREAM_IDLE_MS);
    h2o_timeout_init(ws->loop, &ws->sweep_timeout, SWEEP_MS);
    ws->sweep_entry.cb = on_sweep;
    pthread_mutex_lock(&all_lock);
    ws->next = all;
    all = ws;
    pthread_mutex_unlock(&all_lock);
    tls = ws;
    return ws;
}

/* one h2o_timeout_t per distinct value (h2o's timeouts are lists of one duration) */
static h2o_timeout_t *io_timeout_of(worker_state_t *ws, uint64_t ms)
{
    int best = 0;
    for (int i = 0; i < ws->nio; ++i)
        if (ws->io[i].ms == ms)
            return &ws->io[i].t;
    if (ws->nio < MAX_IO_TIMEOUTS) {
        ws->io[ws->nio].ms = ms;
        h2o_timeout_init(ws->loop, &ws->io[ws->nio].t, ms);
        return &ws->io[ws->nio++].t;
    }
    /* full: the closest one */
    for (int i = 1; i < ws->nio; ++i)
        if ((ws->io[i].ms > ms ? ws->io[i].ms - ms : ms - ws->io[i].ms) <
            (ws->io[best].ms > ms ? ws->io[best].ms - ms : ms - ws->io[best].ms))
            best = i;
    return &ws->io[best].t;
}

void ks_upstream_stats(ks_upstream_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&all_lock);
    for (worker_state_t *ws = all; ws != NULL; ws = ws->next) {
        out->connects += atomic_load_explicit(&ws->connects, memory_order_relaxed);
        out->reused += atomic_load_explicit(&ws->reused, memory_order_relaxed);
        out->retries += atomic_load_explicit(&ws->retries, memory_order_relaxed);
        out->connections += atomic_load_explicit(&ws->connections, memory_order_relaxed);
        out->pools += atomic_load_explicit(&ws->npools, memory_order_relaxed);
    }
    pthread_mutex_unlock(&all_lock);
}

/* ---- pools and connections ------------------------------------------------------------------- */

static pool_t *pool_get(worker_state_t *ws, int port)
{
    pool_t **pp, *p;
    for (pp = &ws->pools; (p = *pp) != NULL; pp = &p->next)
        if (p->port == port) {
            if (pp != &ws->pools) { /* to the front: few ports carry most requests */
                *pp = p->next;
                p->next = ws->pools;
                ws->pools = p;
            }
            p->last_used = h2o_now(ws->loop);
            return p;
        }
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->port = port;
    p->sa.sin_family = AF_INET;
    p->sa.sin_port = htons((uint16_t)port);
    p->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    h2o_linklist_init_anchor(&p->idle);
    p->last_used = h2o_now(ws->loop);
    p->next = ws->pools;
    ws->pools = p;
    BUMP(ws->npools, 1);
    if (!h2o_timeout_is_linked(&ws->sweep_entry))
        h2o_timeout_link(ws->loop, &ws->sweep_timeout, &ws->sweep_entry);
    return p;
}

/* frees the pools with no connection that no request used for KS_UPSTREAM_IDLE_MS (their replica is likely gone) */
static void on_sweep(h2o_timeout_entry_t *e)
{
    worker_state_t *ws = H2O_STRUCT_FROM_MEMBER(worker_state_t, sweep_entry, e);
    uint64_t now = h2o_now(ws->loop);
    pool_t **pp, *p;
    for (pp = &ws->pools; (p = *pp) != NULL;) {
        if (p->nconns == 0 && now - p->last_used >= KS_UPSTREAM_IDLE_MS) {
            *pp = p->next;
            free(p);
            BUMP(ws->npools, -1);
        } else {
            pp = &p->next;
        }
    }
    if (ws->pools != NULL)
        h2o_timeout_link(ws->loop, &ws->sweep_timeout, &ws->sweep_entry);
}

static void conn_close(upconn_t *c)
{
    pool_t *p = c->pool;
    if (h2o_linklist_is_linked(&c->link)) {
        h2o_linklist_unlink(&c->link);
        p->nidle--;
    }
    if (h2o_timeout_is_linked(&c->idle_timer))
        h2o_timeout_unlink(&c->idle_timer);
    h2o_socket_close(c->sock);
    p->nconns--;
    p->last_used = h2o_now(tls->loop);
    BUMP(tls->connections, -1);
    free(c);
}

/* an idle connection that reads anything (EOF, an error, bytes nobody asked for) is done with */
static void on_idle_read(h2o_socket_t *sock, const char *err)
{
    conn_close(sock->data);
}

static void on_idle_timeout(h2o_timeout_entry_t *e)
{
    conn_close(H2O_STRUCT_FROM_MEMBER(upconn_t, idle_timer, e));
}

/* back to its pool after a complete answer; it stays in the loop, reading, so a close by the replica shows at once */
static void conn_release(upconn_t *c)
{
    pool_t *p = c->pool;
    if (p->nidle >= KS_UPSTREAM_MAX_IDLE) {
        conn_close(c);
        return;
    }
    c->sock->data = c;
    h2o_socket_read_start(c->sock, on_idle_read);
    h2o_linklist_insert(p->idle.next, &c->link);
    p->nidle++;
    h2o_timeout_link(tls->loop, &tls->idle_timeout, &c->idle_timer);
}

static upconn_t *conn_take(pool_t *p)
{
    upconn_t *c;
    if (h2o_linklist_is_empty(&p->idle))
        return NULL;
    c = H2O_STRUCT_FROM_MEMBER(upconn_t, link, p->idle.next);
    h2o_linklist_unlink(&c->link);
    p->nidle--;
    h2o_timeout_unlink(&c->idle_timer);
    h2o_socket_read_stop(c->sock);
    return c;
}

/* ---- the request to the replica ------------------------------------------------------------- */

static int method_is(h2o_req_t *req, const char *m, size_t len)
{
    return h2o_memis(req->method.base, req->method.len, m, len);
}

#define PUT(s, l)                                                                                                      \
    do {                                                                                                               \
        memcpy(d, (s), (l));                                                                                           \
        d += (l);                                                                                                      \
    } while (0)
#define PUTLIT(lit) PUT(lit, sizeof(lit) - 1)

/* appends ", "-joined (or "; "-joined) values of the headers named by token; returns the end */
static char *put_joined(char *d, const h2o_headers_t *hs, const h2o_token_t *token, const char *sep)
{
    int first = 1;
    for (size_t i = 0; i != hs->size; ++i)
        if (hs->entries[i].name == &token->buf) {
            if (!first)
                PUT(sep, 2);
            PUT(hs->entries[i].value.base, hs->entries[i].value.len);
            first = 0;
        }
    return d;
}

/*
 * The request line and headers, as h2o's proxy writes them: Host as the
 * client sent it, the hop-by-hop headers dropped, content-length from the
 * body h2o has read whole, cookies merged into one header, and
 * x-forwarded-for / x-forwarded-proto / via per the server's proxy settings.
 * Allocated from the request's pool.
 */
static h2o_iovec_t build_head(h2o_req_t *req)
{
    h2o_globalconf_t *gc = req->conn->ctx->globalconf;
    int emit_xf = gc->proxy.emit_x_forwarded_headers, emit_via = gc->proxy.emit_via_header;
    int keep_xfp = gc->proxy.preserve_x_forwarded_proto;
    int has_cookie = 0, has_xff = 0, has_via = 0;
    char addr[NI_MAXHOST];
    size_t addrlen = SIZE_MAX, cap, i;
    struct sockaddr_storage ss;
    socklen_t sl;
    char *buf, *d;

    if ((sl = req->conn->callbacks->get_peername(req->conn, (void *)&ss)) != 0)
        addrlen = h2o_socket_getnumerichost((void *)&ss, sl, addr);
    if (addrlen == SIZE_MAX)
        addrlen = 0;

    /* an upper bound: the fixed parts, then each header once, with a separator */
    cap = req->method.len + req->path.len + req->authority.len + req->input.authority.len +
          req->input.scheme->name.len + addrlen + 256;
    for (i = 0; i != req->headers.size; ++i)
        cap += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    d = buf = h2o_mem_alloc_pool(&req->pool, cap);

    PUT(req->method.base, req->method.len);
    *d++ = ' ';
    {
        /* a request in absolute form (a client using us as its HTTP proxy) goes on in origin form */
        h2o_iovec_t path = req->path;
        if (path.len > 7 && (strncasecmp(path.base, "http://", 7) == 0 || strncasecmp(path.base, "https://", 8) == 0)) {
            const char *p = memchr(path.base + 8, '/', path.len - 8);
            path = p != NULL ? h2o_iovec_init(p, path.len - (size_t)(p - path.base)) : h2o_iovec_init(H2O_STRLIT("/"));
        }
        PUT(path.base, path.len);
    }
    PUTLIT(" HTTP/1.1\r\nconnection: keep-alive\r\nhost: ");
    PUT(req->authority.base, req->authority.len);
    PUTLIT("\r\n");
    if (req->entity.base != NULL || method_is(req, H2O_STRLIT("POST")) || method_is(req, H2O_STRLIT("PUT")))
        d += sprintf(d, "content-length: %zu\r\n", req->entity.len);

    for (i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h2o_iovec_is_token(h->name)) {
            const h2o_token_t *token = (const h2o_token_t *)h->name;
            if (token->proxy_should_drop_for_req)
                continue;
            if (token == H2O_TOKEN_COOKIE) {
                has_cookie = 1;
                continue;
            }
            if (token == H2O_TOKEN_X_FORWARDED_FOR && emit_xf) {
                has_xff = 1;
                continue;
            }
            if (token == H2O_TOKEN_VIA && emit_via) {
                has_via = 1;
                continue;
            }
        } else if (!keep_xfp && h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("x-forwarded-proto"))) {
            continue;
        }
        PUT(h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        PUTLIT(": ");
        PUT(h->value.base, h->value.len);
        PUTLIT("\r\n");
    }
    if (has_cookie) {
        PUTLIT("cookie: ");
        d = put_joined(d, &req->headers, H2O_TOKEN_COOKIE, "; ");
        PUTLIT("\r\n");
    }
    if (emit_xf && !keep_xfp) {
        PUTLIT("x-forwarded-proto: ");
        PUT(req->input.scheme->name.base, req->input.scheme->name.len);
        PUTLIT("\r\n");
    }
    if (emit_xf && (has_xff || addrlen != 0)) {
        PUTLIT("x-forwarded-for: ");
        if (has_xff) {
            d = put_joined(d, &req->headers, H2O_TOKEN_X_FORWARDED_FOR, ", ");
            if (addrlen != 0)
                PUTLIT(", ");
        }
        PUT(addr, addrlen);
        PUTLIT("\r\n");
    }
    if (emit_via) {
        PUTLIT("via: ");
        if (has_via) {
            d = put_joined(d, &req->headers, H2O_TOKEN_VIA, ", ");
            PUTLIT(", ");
        }
        if (req->version < 0x200)
            d += sprintf(d, "1.%d ", 0x100 <= req->version && req->version <= 0x109 ? req->version - 0x100 : 0);
        else
            PUTLIT("2 ");
        PUT(req->input.authority.base, req->input.authority.len);
        PUTLIT("\r\n");
    }
    PUTLIT("\r\n");
    KS_ASSERT((size_t)(d - buf) <= cap);
    return h2o_iovec_init(buf, (size_t)(d - buf));
}

#undef PUT
#undef PUTLIT

/* ---- attempts ---------------------------------------------------------------------------------- */

static void timer_arm(proxy_t *p)
{
    if (h2o_timeout_is_linked(&p->timer))
        h2o_timeout_unlink(&p->timer);
    h2o_timeout_link(tls->loop, p->io_timeout, &p->timer);
}

static void timer_stop(proxy_t *p)
{
    if (h2o_timeout_is_linked(&p->timer))
        h2o_timeout_unlink(&p->timer);
}

/* lets go of the replica's connection, which is in an unknown state */
static void drop_conn(proxy_t *p)
{
    timer_stop(p);
    if (p->conn != NULL) {
        conn_close(p->conn);
        p->conn = NULL;
    }
}

/* answers {"error": ...} with status */
static void fail(proxy_t *p, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(proxy_t *p, int status, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    drop_conn(p);
    p->phase = PH_DONE;
    p->status = status;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ks_http_send_error(p->w, p->req, status, msg);
}

static void on_sent(h2o_socket_t *sock, const char *err);

static void send_request(proxy_t *p)
{
    size_t n = 0;
    p->phase = PH_SEND;
    p->got_bytes = 0;
    p->wbufs[n++] = p->head;
    if (p->req->entity.len != 0)
        p->wbufs[n++] = p->req->entity;
    h2o_socket_write(p->conn->sock, p->wbufs, n, on_sent);
    timer_arm(p);
}

static void on_connect(h2o_socket_t *sock, const char *err);

/* starts attempt p->attempts on p->port; 0, or -1 with err when the port refused at once */
static int start_attempt(proxy_t *p, worker_state_t *ws, char *err, size_t errlen)
{
    pool_t *pool;
    upconn_t *c;
    int e;

    if ((pool = pool_get(ws, p->port)) == NULL) {
        fail(p, 500, "out of memory");
        return 0;
    }
    if ((c = conn_take(pool)) != NULL) {
        c->requests++;
        c->sock->data = p;
        p->conn = c;
        BUMP(ws->reused, 1);
        send_request(p);
        return 0;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        fail(p, 500, "out of memory");
        return 0;
    }
    if ((c->sock = h2o_socket_connect(ws->loop, (struct sockaddr *)&pool->sa, sizeof(pool->sa), on_connect)) == NULL) {
        e = errno;
        free(c);
        snprintf(err, errlen, "cannot connect to the replica at 127.0.0.1:%d: %s", p->port, strerror(e));
        return -1;
    }
    c->pool = pool;
    c->idle_timer.cb = on_idle_timeout;
    c->requests = 1;
    c->sock->data = p;
    pool->nconns++;
    BUMP(ws->connects, 1);
    BUMP(ws->connections, 1);
    p->conn = c;
    p->phase = PH_CONNECT;
    timer_arm(p);
    return 0;
}

/*
 * The next attempt, after one that failed without the request reaching the
 * replica (failed_port; -1 for the first).  Runs until an attempt is under
 * way or the request has its error answer; attempts refused at once loop
 * here, at most KS_UPSTREAM_MAX_ATTEMPTS times.
 */
static void next_attempt(proxy_t *p, int failed_port, const char *why)
{
    char err[200];
    for (;;) {
        int port;
        if (p->attempts == KS_UPSTREAM_MAX_ATTEMPTS) {
            fail(p, 502, "%s (%d attempts)", why, p->attempts);
            return;
        }
        port = p->ops->pick_cb(p->data, p->attempts, failed_port);
        p->attempts++;
        if (port == KS_UPSTREAM_REQUEUE) {
            /* the caller took the request back (nothing of it was sent): no answer from here */
            p->port = -1;
            drop_conn(p);
            p->phase = PH_DONE;
            return;
        }
        if (port <= 0) {
            p->port = -1;
            if (failed_port < 0)
                fail(p, 502, "no replica to send the request to");
            else
                fail(p, 502, "%s", why);
            return;
        }
        KS_ASSERT(port <= 65535);
        p->port = port;
        if (p->attempts > 1)
            BUMP(tls->retries, 1);
        if (start_attempt(p, tls, err, sizeof(err)) == 0)
            return;
        failed_port = port;
        why = err;
    }
}

/* the request never reached the replica: try another */
static void retry(proxy_t *p, const char *fmt)
{
    char why[200];
    int port = p->port;
    drop_conn(p);
    snprintf(why, sizeof(why), fmt, port);
    next_attempt(p, port, why);
}

static void on_timeout(h2o_timeout_entry_t *e)
{
    proxy_t *p = H2O_STRUCT_FROM_MEMBER(proxy_t, timer, e);
    if (p->phase == PH_BODY) {
        /* the answer has begun: all that is left is to cut it */
        drop_conn(p);
        p->phase = PH_DONE;
        p->cut = 1;
        if (p->sending.bytes_inflight == 0)
            do_send(p);
        return;
    }
    fail(p, 504, "the replica at 127.0.0.1:%d did not answer within %llu ms", p->port,
         (unsigned long long)p->io_timeout_ms);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    proxy_t *p = sock->data;
    timer_stop(p);
    if (err != NULL) {
        retry(p, "cannot connect to the replica at 127.0.0.1:%d");
        return;
    }
    send_request(p);
}

static void on_sent(h2o_socket_t *sock, const char *err)
{
    proxy_t *p = sock->data;
    timer_stop(p);
    if (err != NULL) {
        /* the request did not go out whole, so the replica cannot have acted on it */
        retry(p, "the replica at 127.0.0.1:%d closed the connection while the request was being sent");
        return;
    }
    p->phase = PH_HEAD;
    h2o_socket_read_start(sock, on_head);
    timer_arm(p);
}

/* ---- the answer --------------------------------------------------------------------------------- */

/*
 * The last n bytes of the connection's input are new body bytes: decode them
 * in place (chunked), drop what follows the body.  1 when the body is
 * complete, 0 when more is to come, -1 when the chunked encoding is broken.
 */
static int body_feed(proxy_t *p, size_t n)
{
    h2o_buffer_t *in = p->conn->sock->input;
    switch (p->body) {
    case BODY_NONE:
        if (in->size != 0) {
            in->size = 0;
            p->keepalive = 0;
        }
        return 1;
    case BODY_LENGTH:
        if (n < p->left) {
            p->left -= n;
            return 0;
        }
        if (n > p->left) { /* bytes after the body: the connection is not reusable */
            in->size -= n - p->left;
            p->keepalive = 0;
        }
        p->left = 0;
        return 1;
    case BODY_CHUNKED: {
        size_t len = n;
        ssize_t r;
        if (n == 0)
            return 0;
        if ((r = phr_decode_chunked(&p->chunked, in->bytes + in->size - n, &len)) == -1)
            return -1;
        in->size -= n - len;
        if (r == -2)
            return 0;
        if (r > 0)
            p->keepalive = 0;
        return 1;
    }
    case BODY_TO_EOF:
        return 0;
    }
    return -1;
}

/* the replica is done with: its connection goes back to the pool (or is closed), the body's tail stays here */
static void upstream_done(proxy_t *p, int cut)
{
    upconn_t *c = p->conn;
    h2o_buffer_t *t = p->rest;
    timer_stop(p);
    p->rest = c->sock->input;
    c->sock->input = t;
    p->conn = NULL;
    p->phase = PH_DONE;
    p->cut = cut;
    if (!cut && p->keepalive)
        conn_release(c);
    else
        conn_close(c);
}

static void do_send(proxy_t *p)
{
    h2o_buffer_t **src = p->conn != NULL ? &p->conn->sock->input : &p->rest;
    h2o_iovec_t buf = h2o_doublebuffer_prepare(&p->sending, src, p->req->preferred_chunk_size);
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;

    if (p->phase == PH_DONE) {
        if (p->cut)
            state = H2O_SEND_STATE_ERROR;
        else if (buf.len == p->sending.buf->size && (*src)->size == 0)
            state = H2O_SEND_STATE_FINAL;
    }
    if (state == H2O_SEND_STATE_IN_PROGRESS && buf.len == 0)
        return;
    h2o_send(p->req, &buf, buf.len != 0 ? 1 : 0, state);
}

static void maybe_pause(proxy_t *p)
{
    if (p->conn->sock->input->size + p->sending.buf->size >= HIGH_WATER) {
        h2o_socket_read_stop(p->conn->sock);
        p->paused = 1;
    }
}

static void do_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    proxy_t *p = (void *)g;
    h2o_doublebuffer_consume(&p->sending);
    if (p->paused && p->conn != NULL && p->conn->sock->input->size + p->sending.buf->size < HIGH_WATER) {
        p->paused = 0;
        h2o_socket_read_start(p->conn->sock, on_body);
        timer_arm(p);
    }
    do_send(p);
}

/* the client has gone (or h2o disposes of the request) mid-answer */
static void do_stop(h2o_generator_t *g, h2o_req_t *req)
{
    proxy_t *p = (void *)g;
    drop_conn(p);
    p->phase = PH_DONE;
}

static void on_body(h2o_socket_t *sock, const char *err)
{
    proxy_t *p = sock->data;
    int r;
    timer_stop(p);
    if (err != NULL) {
        upstream_done(p, p->body != BODY_TO_EOF);
    } else if ((r = body_feed(p, sock->bytes_read)) != 0) {
        upstream_done(p, r < 0);
    } else {
        maybe_pause(p);
        if (!p->paused)
            timer_arm(p);
    }
    if (p->sending.bytes_inflight == 0)
        do_send(p);
}

/*
 * The answer's head has come: check it, copy status and headers into the
 * response (the input buffer they point into is about to be reused), and
 * start streaming.  rlen is the head's length.
 */
static void on_answer(proxy_t *p, int minor, int status, const char *msg, size_t msglen, struct phr_header *hs, size_t nh,
                      int rlen)
{
    h2o_req_t *req = p->req;
    h2o_socket_t *sock = p->conn->sock;
    const h2o_token_t *tokens[MAX_HEADERS];
    size_t clen = SIZE_MAX, i;
    int chunked = 0, r, preserve_server = req->conn->ctx->globalconf->proxy.preserve_server_header;

    p->keepalive = minor >= 1;
    for (i = 0; i != nh; ++i) {
        const char *v = hs[i].value;
        size_t vlen = hs[i].value_len;
        h2o_strtolower((char *)hs[i].name, hs[i].name_len);
        tokens[i] = h2o_lookup_token(hs[i].name, hs[i].name_len);
        if (tokens[i] == H2O_TOKEN_CONNECTION) {
            if (h2o_contains_token(v, vlen, H2O_STRLIT("close"), ','))
                p->keepalive = 0;
            else if (h2o_contains_token(v, vlen, H2O_STRLIT("keep-alive"), ','))
                p->keepalive = 1;
        } else if (tokens[i] == H2O_TOKEN_TRANSFER_ENCODING) {
            if (h2o_lcstris(v, vlen, H2O_STRLIT("chunked"))) {
                chunked = 1;
            } else if (!h2o_lcstris(v, vlen, H2O_STRLIT("identity"))) {
                fail(p, 502, "the replica at 127.0.0.1:%d answered with an unsupported transfer-encoding", p->port);
                return;
            }
        } else if (tokens[i] == H2O_TOKEN_CONTENT_LENGTH) {
            size_t n = h2o_strtosize(v, vlen);
            if (n == SIZE_MAX || (clen != SIZE_MAX && clen != n)) {
                fail(p, 502, "the replica at 127.0.0.1:%d answered with an invalid content-length", p->port);
                return;
            }
            clen = n;
        }
    }

    for (i = 0; i != nh; ++i) {
        h2o_iovec_t v = h2o_strdup(&req->pool, hs[i].value, hs[i].value_len);
        if (tokens[i] != NULL) {
            if (tokens[i]->proxy_should_drop_for_res || tokens[i] == H2O_TOKEN_CONTENT_LENGTH ||
                (tokens[i] == H2O_TOKEN_SERVER && !preserve_server))
                continue;
            h2o_add_header(&req->pool, &req->res.headers, tokens[i], NULL, v.base, v.len);
        } else {
            h2o_iovec_t name = h2o_strdup(&req->pool, hs[i].name, hs[i].name_len);
            h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 0, NULL, v.base, v.len);
        }
    }

    if (method_is(req, H2O_STRLIT("HEAD")) || status == 204 || status == 304) {
        p->body = BODY_NONE;
    } else if (chunked) {
        p->body = BODY_CHUNKED;
        memset(&p->chunked, 0, sizeof(p->chunked));
        p->chunked.consume_trailer = 1;
    } else if (clen != SIZE_MAX) {
        p->body = BODY_LENGTH;
        p->left = clen;
    } else {
        p->body = BODY_TO_EOF;
        p->keepalive = 0;
    }
    req->res.status = status;
    req->res.reason = h2o_strdup(&req->pool, msg, msglen).base;
    if (!chunked && (p->body == BODY_LENGTH || (p->body == BODY_NONE && status != 204 && status != 304)))
        req->res.content_length = clen;
    p->status = status;

    h2o_buffer_consume(&sock->input, (size_t)rlen);
    p->phase = PH_BODY;
    if ((r = body_feed(p, sock->input->size)) < 0) {
        req->res.headers = (h2o_headers_t){NULL};
        fail(p, 502, "the replica at 127.0.0.1:%d sent a broken chunked body", p->port);
        return;
    }
    if (r == 1 && p->body == BODY_CHUNKED)
        req->res.content_length = sock->input->size; /* all here: the client gets a length, not chunks */
    h2o_start_response(req, &p->super);
    if (r == 1) {
        upstream_done(p, 0);
    } else {
        h2o_socket_read_start(sock, on_body);
        maybe_pause(p);
        if (!p->paused)
            timer_arm(p);
    }
    do_send(p);
}

static void on_head(h2o_socket_t *sock, const char *err)
{
    proxy_t *p = sock->data;
    timer_stop(p);
    if (sock->input->size != 0)
        p->got_bytes = 1;
    if (err != NULL) {
        if (!p->got_bytes && p->conn->requests > 1) {
            /* a kept-alive connection the replica had closed (or was closing): the request was not seen */
            retry(p, "the replica at 127.0.0.1:%d closed a kept-alive connection");
            return;
        }
        fail(p, 502, "the replica at 127.0.0.1:%d closed the connection before answering", p->port);
        return;
    }
    for (;;) {
        struct phr_header hs[MAX_HEADERS];
        size_t nh = MAX_HEADERS, msglen;
        const char *msg;
        int minor, status, rlen;
        rlen = phr_parse_response(sock->input->bytes, sock->input->size, &minor, &status, &msg, &msglen, hs, &nh, 0);
        if ((rlen == -2 && sock->input->size >= MAX_HEAD) || rlen > (int)MAX_HEAD) {
            fail(p, 502, "the replica at 127.0.0.1:%d sent an answer head over %u bytes", p->port, MAX_HEAD);
            return;
        }
        if (rlen == -2) {
            timer_arm(p);
            return;
        }
        if (rlen < 0 || status == 101) {
            fail(p, 502, "the replica at 127.0.0.1:%d sent a malformed answer", p->port);
            return;
        }
        if (status >= 200) {
            on_answer(p, minor, status, msg, msglen, hs, nh, rlen);
            return;
        }
        /* 1xx: not passed on */
        h2o_buffer_consume(&sock->input, (size_t)rlen);
        if (sock->input->size == 0) {
            timer_arm(p);
            return;
        }
    }
}

/* ---- the request's life ------------------------------------------------------------------------- */

static void on_dispose(void *_p)
{
    proxy_t *p = _p;
    drop_conn(p);
    h2o_buffer_dispose(&p->rest);
    h2o_doublebuffer_dispose(&p->sending);
    p->ops->done_cb(p->data, p->port, p->status);
}

void ks_upstream_proxy(ks_http_worker_t *w, h2o_req_t *req, const ks_upstream_ops_t *ops, void *data,
                       uint64_t io_timeout_ms)
{
    proxy_t *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), on_dispose);
    worker_state_t *ws;

    memset(p, 0, sizeof(*p));
    p->super.proceed = do_proceed;
    p->super.stop = do_stop;
    p->req = req;
    p->w = w;
    p->ops = ops;
    p->data = data;
    p->port = -1;
    p->timer.cb = on_timeout;
    h2o_buffer_init(&p->rest, &h2o_socket_buffer_prototype);
    h2o_doublebuffer_init(&p->sending, &h2o_socket_buffer_prototype);
    if ((ws = state_of(w)) == NULL) {
        fail(p, 500, "out of memory");
        return;
    }
    p->io_timeout_ms = io_timeout_ms != 0 ? io_timeout_ms : w->ctx->globalconf->proxy.io_timeout;
    p->io_timeout = io_timeout_of(ws, p->io_timeout_ms);
    p->head = build_head(req);
    next_attempt(p, -1, NULL);
}
