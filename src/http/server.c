#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ks/http.h"
#include "ks/json.h"

typedef struct worker {
    ks_http_worker_t pub;
    h2o_timeout_t linger_timeout;
    pthread_t tid;
    int fd;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_linklist_t conns;
    size_t nconns;
    _Atomic uint64_t seen_epoch; /* the epoch this worker last saw between requests */
    /* ks_http_server_wake: one message per worker, sent only when none is pending */
    h2o_multithread_queue_t *mq;
    h2o_multithread_receiver_t receiver;
    h2o_multithread_message_t wake_msg;
    _Atomic int wake_pending;
    _Atomic int wake_ready;
} worker_t;

struct ks_http_server {
    ks_http_config_t cfg;
    h2o_globalconf_t globalconf;
    worker_t *workers;
    int nworkers;
    int port;
    _Atomic int stopping;
    _Atomic uint64_t epoch;
    int drain_ms;
};

typedef struct ks_linger linger_t;

typedef struct conn {
    h2o_linklist_t link;
    h2o_socket_t *sock;
    worker_t *w;
    linger_t *linger;
} conn_t;

/*
 * A lingering close (nginx's): h2o answers 413 as soon as it sees an
 * over-limit Content-Length and closes the connection; closing with the
 * client's body still arriving makes the kernel send RST, which can destroy
 * the answer before the client reads it.  So a duplicate of the descriptor
 * keeps reading and discarding, sends FIN once h2o has closed its side, and
 * closes at EOF or after LINGER_MS.
 */
#define LINGER_MS 2000

struct ks_linger {
    h2o_socket_t *sock; /* on the duplicate */
    h2o_timeout_entry_t timer;
    uint64_t deadline;
    int shut;
};

/* the socket of an HTTP/1 connection: h2o 2.2's st_h2o_http1_conn_t starts with these two */
struct http1_conn_head {
    h2o_conn_t super;
    h2o_socket_t *sock;
};

typedef struct handler {
    h2o_handler_t super;
    ks_http_server_t *s;
} handler_t;

static __thread worker_t *current;

/* ---- answers --------------------------------------------------------------- */

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

void ks_http_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf;

    req->res.status = status;
    req->res.reason = reason_of(status);
    if (content_type == NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    else
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    buf = h2o_strdup(&req->pool, body, len);
    req->res.content_length = len;
    /* while draining, a request read before SIGTERM is the connection's last */
    if (current != NULL && atomic_load_explicit(&current->pub.server->stopping, memory_order_relaxed))
        req->http1_is_persistent = 0;
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void ks_http_send_error(ks_http_worker_t *w, h2o_req_t *req, int status, const char *msg)
{
    ks_buf_reset(&w->out);
    if (ks_json_error(&w->out, msg) != 0) {
        ks_http_send(req, 500, NULL, H2O_STRLIT("{\"error\":\"out of memory\"}"));
        return;
    }
    ks_http_send(req, status, NULL, w->out.base, w->out.len);
}

const char *ks_http_header(h2o_req_t *req, const char *lname, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, lname, strlen(lname), -1);
    if (i < 0)
        return NULL;
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

/* ---- lingering close --------------------------------------------------------- */

static void linger_close(linger_t *l)
{
    if (h2o_timeout_is_linked(&l->timer))
        h2o_timeout_unlink(&l->timer);
    h2o_socket_close(l->sock);
    free(l);
}

static void linger_on_read(h2o_socket_t *sock, const char *err)
{
    linger_t *l = sock->data;
    if (err != NULL) {
        linger_close(l); /* EOF: the client has read the answer and gone */
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static void linger_on_timer(h2o_timeout_entry_t *e)
{
    linger_t *l = H2O_STRUCT_FROM_MEMBER(linger_t, timer, e);
    if (ks_now_ns() >= l->deadline) {
        linger_close(l);
        return;
    }
    h2o_timeout_link(current->ctx.loop, &current->linger_timeout, &l->timer);
}

/* h2o closed its side of a lingering connection: the answer is out, send FIN */
static void linger_origin_closed(linger_t *l)
{
    if (!l->shut) {
        shutdown(h2o_socket_get_fd(l->sock), SHUT_WR);
        l->shut = 1;
    }
}

static void on_conn_close(void *data);

static void start_linger(h2o_req_t *req)
{
    h2o_socket_t *sock;
    conn_t *c;
    linger_t *l;
    int fd;

    if (current == NULL || req->version >= 0x200)
        return;
    sock = ((struct http1_conn_head *)req->conn)->sock;
    if (sock == NULL || sock->on_close.cb != on_conn_close || (c = sock->on_close.data) == NULL || c->linger != NULL)
        return;
    if ((fd = dup(h2o_socket_get_fd(sock))) < 0)
        return;
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        close(fd);
        return;
    }
    l->sock = h2o_evloop_socket_create(current->ctx.loop, fd, 0);
    l->sock->data = l;
    l->deadline = ks_now_ns() + (uint64_t)LINGER_MS * 1000000u;
    l->timer.cb = linger_on_timer;
    h2o_socket_read_start(l->sock, linger_on_read);
    h2o_timeout_link(current->ctx.loop, &current->linger_timeout, &l->timer);
    c->linger = l;
}

int ks_http_req_fd(h2o_req_t *req)
{
    h2o_socket_t *sock;
    if (req->version >= 0x200 || req->conn == NULL)
        return -1;
    sock = ((struct http1_conn_head *)req->conn)->sock;
    if (sock == NULL || sock->on_close.cb != on_conn_close)
        return -1;
    return h2o_socket_get_fd(sock);
}

/* ---- h2o's own error answers as JSON ------------------------------------- */

typedef struct json_error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
} json_error_ostream_t;

static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    json_error_ostream_t *e = (void *)self;
    (void)bufs;
    (void)bufcnt;
    if (!e->sent) {
        e->sent = 1;
        h2o_ostream_send_next(self, req, &e->body, 1, h2o_send_state_is_in_progress(state) ? state : H2O_SEND_STATE_FINAL);
    } else {
        h2o_ostream_send_next(self, req, NULL, 0, state);
    }
}

static void json_error_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    ssize_t ct;
    (void)self;
    /* h2o's own answers have a generator without proceed; a proxied answer (one that streams) passes verbatim */
    if (req->res.status >= 400 && (req->_generator == NULL || req->_generator->proceed == NULL) &&
        (ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1)) >= 0 &&
        h2o_memis(req->res.headers.entries[ct].value.base, 10, H2O_STRLIT("text/plain"))) {
        /* h2o answered by itself: say the same in the protocol's shape */
        const char *msg;
        json_error_ostream_t *e;
        char tmp[200];
        int n;
        switch (req->res.status) {
        case 413: msg = "request body too large"; break;
        case 400: msg = "malformed HTTP request"; break;
        case 404: msg = "not found"; break;
        default: msg = req->res.reason != NULL ? req->res.reason : "error"; break;
        }
        if (req->res.status == 413 && current != NULL)
            n = snprintf(tmp, sizeof(tmp), "{\"error\":\"request body too large: the limit is %zu bytes\"}",
                         current->pub.server->cfg.max_body);
        else
            n = snprintf(tmp, sizeof(tmp), "{\"error\":\"%s\"}", msg);
        req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        req->res.content_length = (size_t)n;
        e = (void *)h2o_add_ostream(req, sizeof(*e), slot);
        e->super.do_send = json_error_send;
        e->body = h2o_strdup(&req->pool, tmp, (size_t)n);
        e->sent = 0;
        slot = &e->super.next;
        if (req->res.status == 413)
            start_linger(req);
    }
    h2o_setup_next_ostream(req, slot);
}

/* ---- requests ------------------------------------------------------------- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    handler_t *h = (void *)self;
    worker_t *w = current;
    h->s->cfg.handler(&w->pub, req, h->s->cfg.data);
    ks_arena_reset(&w->pub.arena);
    return 0;
}

/* ---- connections ---------------------------------------------------------- */

static void on_conn_close(void *data)
{
    conn_t *c = data;
    if (c->linger != NULL)
        linger_origin_closed(c->linger);
    h2o_linklist_unlink(&c->link);
    c->w->nconns--;
    free(c);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    worker_t *w = listener->data;
    h2o_socket_t *sock;
    int i;

    if (err != NULL)
        return;
    for (i = 0; i < 32; ++i) {
        conn_t *c;
        if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
            return;
        if ((c = calloc(1, sizeof(*c))) == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        c->sock = sock;
        c->w = w;
        h2o_linklist_insert(&w->conns, &c->link);
        w->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = c;
        h2o_accept(&w->accept_ctx, sock);
    }
}

/*
 * A connection is idle when no request bytes wait in its input buffer and no
 * answer is being written; h2o consumes a request's bytes only once its answer
 * has gone.  Shutting the read side of an idle connection makes h2o see EOF
 * and close it by itself.
 */
static void close_idle(worker_t *w)
{
    h2o_linklist_t *n;
    for (n = w->conns.next; n != &w->conns; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        int unread = 0;
        /* bytes the kernel holds but h2o has not read yet are a request too */
        if ((c->sock->input == NULL || c->sock->input->size == 0) && !h2o_socket_is_writing(c->sock) &&
            ioctl(h2o_socket_get_fd(c->sock), FIONREAD, &unread) == 0 && unread == 0)
            shutdown(h2o_socket_get_fd(c->sock), SHUT_RD);
    }
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, receiver, receiver);
    ks_http_server_t *s = w->pub.server;
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    atomic_store_explicit(&w->wake_pending, 0, memory_order_release);
    if (s->cfg.loop_cb != NULL)
        s->cfg.loop_cb(&w->pub, s->cfg.data);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    ks_http_server_t *s = w->pub.server;
    uint64_t deadline;

    current = w;
    h2o_context_init(&w->ctx, h2o_evloop_create(), &s->globalconf);
    w->pub.ctx = &w->ctx;
    h2o_timeout_init(w->ctx.loop, &w->linger_timeout, 100);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = s->globalconf.hosts;
    w->listener = h2o_evloop_socket_create(w->ctx.loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);
    w->mq = h2o_multithread_create_queue(w->ctx.loop);
    h2o_multithread_register_receiver(w->mq, &w->receiver, on_wake);
    atomic_store_explicit(&w->wake_ready, 1, memory_order_release);

    while (!atomic_load_explicit(&s->stopping, memory_order_acquire)) {
        atomic_store_explicit(&w->seen_epoch, atomic_load(&s->epoch), memory_order_release);
        h2o_evloop_run(w->ctx.loop, 100);
        if (s->cfg.loop_cb != NULL)
            s->cfg.loop_cb(&w->pub, s->cfg.data);
    }

    /* drain: accept nothing new, finish what is in flight, then go */
    h2o_socket_read_stop(w->listener);
    h2o_socket_close(w->listener);
    w->listener = NULL;
    h2o_context_request_shutdown(&w->ctx);
    deadline = ks_now_ns() + (uint64_t)s->drain_ms * 1000000u;
    while (w->nconns > 0 && ks_now_ns() < deadline) {
        atomic_store_explicit(&w->seen_epoch, atomic_load(&s->epoch), memory_order_release);
        close_idle(w);
        h2o_evloop_run(w->ctx.loop, 10);
    }
    atomic_store_explicit(&w->seen_epoch, UINT64_MAX, memory_order_release);
    return NULL;
}

/* ---- setup ----------------------------------------------------------------- */

static int bind_one(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char ports[16];
    int fd = -1, on = 1, r;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(ports, sizeof(ports), "%d", port);
    if ((r = getaddrinfo(host, ports, &hints, &res)) != 0) {
        ks_errorf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(r));
        return -1;
    }
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        ks_errorf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd != -1)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/*
 * The workers share the port with SO_REUSEPORT, which would also let another
 * process of the same user join the group and silently take half the
 * connections.  A plain bind first fails when anything listens there already.
 */
static int port_free(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char ports[16];
    int fd, on = 1, ok;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(ports, sizeof(ports), "%d", port);
    if (getaddrinfo(host, ports, &hints, &res) != 0)
        return 1; /* bind_one says why */
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok = fd == -1 || (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
                      (bind(fd, res->ai_addr, res->ai_addrlen) == 0 || errno != EADDRINUSE));
    if (!ok)
        ks_errorf(err, errlen, "cannot listen on %s:%d: %s (another process listens there)", host, port,
                  strerror(EADDRINUSE));
    if (fd != -1)
        close(fd);
    freeaddrinfo(res);
    return ok;
}

static int bind_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    int fd;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        ks_errorf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    unlink(path); /* a stale socket of a dead daemon (the caller holds the state directory's lock) */
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        ks_errorf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    return fd;
}

ks_http_server_t *ks_http_server_new(const ks_http_config_t *cfg, char *err, size_t errlen)
{
    ks_http_server_t *s = calloc(1, sizeof(*s));
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    handler_t *h;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (s == NULL)
        return NULL;
    s->cfg = *cfg;
    s->nworkers = cfg->workers;
    h2o_config_init(&s->globalconf);
    s->globalconf.max_request_entity_size = cfg->max_body;
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("kserve-c"));
    if (cfg->proxy_io_timeout_ms != 0)
        s->globalconf.proxy.io_timeout = cfg->proxy_io_timeout_ms;
    host = h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->s = s;
    h2o_create_filter(path, sizeof(h2o_filter_t))->on_setup_ostream = json_error_setup;
    h2o_create_filter(&host->fallback_path, sizeof(h2o_filter_t))->on_setup_ostream = json_error_setup;

    if ((s->workers = calloc((size_t)s->nworkers, sizeof(worker_t))) == NULL)
        goto error;
    for (int i = 0; i < s->nworkers; ++i)
        s->workers[i].fd = -1;
    if (cfg->unix_path != NULL) {
        /* one listener: every worker accepts from it */
        if ((s->workers[0].fd = bind_unix(cfg->unix_path, err, errlen)) < 0)
            goto error;
        for (int i = 1; i < s->nworkers; ++i)
            s->workers[i].fd = dup(s->workers[0].fd);
        goto bound;
    }
    /* the first bind picks the port when 0 was asked; the others share it */
    if (cfg->port != 0 && !port_free(cfg->host, cfg->port, err, errlen))
        goto error;
    if ((s->workers[0].fd = bind_one(cfg->host, cfg->port, err, errlen)) < 0)
        goto error;
    if (getsockname(s->workers[0].fd, (struct sockaddr *)&ss, &sl) != 0)
        goto error;
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    for (int i = 1; i < s->nworkers; ++i)
        if ((s->workers[i].fd = bind_one(cfg->host, s->port, err, errlen)) < 0)
            goto error;
bound:
    for (int i = 0; i < s->nworkers; ++i) {
        worker_t *w = &s->workers[i];
        w->pub.id = i;
        w->pub.server = s;
        ks_arena_init(&w->pub.arena, cfg->max_body * 8 + (64u << 20));
        ks_buf_init(&w->pub.out, 0);
        h2o_linklist_init_anchor(&w->conns);
    }
    return s;
error:
    if (s->workers != NULL) {
        for (int i = 0; i < s->nworkers; ++i)
            if (s->workers[i].fd >= 0)
                close(s->workers[i].fd);
        free(s->workers);
    }
    free(s);
    return NULL;
}

int ks_http_server_port(const ks_http_server_t *s)
{
    return s->port;
}

int ks_http_server_start(ks_http_server_t *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->nworkers; ++i) {
        int r = pthread_create(&s->workers[i].tid, NULL, worker_main, &s->workers[i]);
        if (r != 0) {
            ks_errorf(err, errlen, "cannot start a worker thread: %s", strerror(r));
            return KS_EINTERNAL;
        }
    }
    return 0;
}

void ks_http_server_stop(ks_http_server_t *s, int drain_ms)
{
    s->drain_ms = drain_ms;
    atomic_store_explicit(&s->stopping, 1, memory_order_release);
    for (int i = 0; i < s->nworkers; ++i)
        pthread_join(s->workers[i].tid, NULL);
    /* the loops and contexts die with the process: h2o 2.2 cannot dispose of a loop with sockets on it */
}

void ks_http_server_wake(ks_http_server_t *s)
{
    for (int i = 0; i < s->nworkers; ++i) {
        worker_t *w = &s->workers[i];
        if (!atomic_load_explicit(&w->wake_ready, memory_order_acquire))
            continue;
        if (!atomic_exchange_explicit(&w->wake_pending, 1, memory_order_acq_rel))
            h2o_multithread_send_message(&w->receiver, &w->wake_msg);
    }
}

uint64_t ks_http_retire_epoch(ks_http_server_t *s)
{
    return atomic_fetch_add(&s->epoch, 1) + 1;
}

int ks_http_quiescent(ks_http_server_t *s, uint64_t epoch)
{
    for (int i = 0; i < s->nworkers; ++i)
        if (atomic_load_explicit(&s->workers[i].seen_epoch, memory_order_acquire) < epoch)
            return 0;
    return 1;
}
