/*
 * `kserve queue-proxy`: Knative's queue-proxy for one replica.  Every request
 * goes through the breaker (src/queue/queue.c) and is proxied over pooled
 * keep-alive HTTP/1.1 connections to the model server on 127.0.0.1:--upstream;
 * /ks/queue/ready and /ks/queue/stats are answered here.
 *
 * The proxying is h2o's http1client driven by this file rather than h2o's
 * proxy handler, so that the request timeout can stop a request that runs
 * upstream (h2o 2.2's proxy has no way to cancel one before it answers) and
 * so that upstream failures are answered as {"error": ...}.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ks/queue.h"

#define MAX_BODY (64u << 20)
#define POOL_IDLE_MS 2000         /* idle upstream connections close after this */
#define PROBE_STARTING_MS 50      /* readiness probes until the upstream is first ready (spec) */
#define PROBE_READY_MS 1000       /* and once it is */
#define PROBE_TIMEOUT_MS 500

const char ks_queue_proxy_usage[] =
    "usage: kserve queue-proxy --upstream PORT [options]\n"
    "       kserve queue-proxy [options] -- COMMAND [ARGS...]\n"
    "  --upstream PORT              the model server's port on 127.0.0.1 (required without COMMAND)\n"
    "  --port PORT                  port to listen on (default 8012)\n"
    "  --host ADDR                  address to listen on (default 127.0.0.1)\n"
    "  --container-concurrency N    requests in flight to the upstream at once, 0-1000 (default 0: unlimited);\n"
    "                               10*N more wait, beyond that 503\n"
    "  --timeout-seconds S          request timeout, queue time included, 1-3600 (default 300); then 504\n"
    "  --drain-seconds D            on SIGTERM: fail readiness, keep serving, exit after D s without a\n"
    "                               request (default 30; 0: stop accepting at once)\n"
    "  --readiness-path PATH        probe the upstream with GET PATH (2xx = ready) instead of a TCP connect\n"
    "  --workers N                  event-loop threads (default: one per core)\n"
    "  --help                       this text\n"
    "  -- COMMAND [ARGS...]         start the model server as a child on a free port (or --upstream), given\n"
    "                               in $PORT, in $(PORT) inside ARGS, and as --http_port=PORT unless ARGS\n"
    "                               name the port; the queue-proxy ends with the child's exit status, and\n"
    "                               stops the child (SIGTERM, SIGKILL after 10 s) once it has drained\n"
    "endpoints: GET /ks/queue/ready, GET /ks/queue/stats; everything else goes to the upstream\n";

/* ---- flags ----------------------------------------------------------------------------------- */

static int int_flag(const char *flag, const char *v, long lo, long hi, int *out, char *err, size_t errlen)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
        ks_errorf(err, errlen, "%s: expected an integer from %ld to %ld, got \"%s\"", flag, lo, hi, v);
        return KS_EINVAL;
    }
    *out = (int)n;
    return 0;
}

int ks_queue_proxy_parse_flags(int argc, char **argv, ks_queue_proxy_config_t *cfg, char *err, size_t errlen)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 8012;
    cfg->timeout_seconds = 300;
    cfg->drain_seconds = 30;
    cfg->workers = ncpu > 0 ? (int)(ncpu > 64 ? 64 : ncpu) : 1;

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = NULL, *eq;
        char flag[64];
        size_t n;
        int r = 0;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strcmp(a, "--") == 0) {
            if (i + 1 >= argc) {
                ks_errorf(err, errlen, "--: a command must follow");
                return KS_EINVAL;
            }
            cfg->command = &argv[i + 1];
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            ks_errorf(err, errlen, "unexpected argument \"%.100s\" (flags look like --name value)", a);
            return KS_EINVAL;
        }
        n = (eq = strchr(a, '=')) != NULL ? (size_t)(eq - a) : strlen(a);
        if (n >= sizeof(flag)) {
            ks_errorf(err, errlen, "unknown flag \"%.40s...\"", a);
            return KS_EINVAL;
        }
        memcpy(flag, a, n);
        flag[n] = '\0';
        for (char *p = flag + 2; *p != '\0'; ++p) /* --timeout-seconds and --timeout_seconds */
            if (*p == '_')
                *p = '-';
        if (eq != NULL) {
            v = eq + 1;
        } else if (i + 1 >= argc) {
            ks_errorf(err, errlen, "%s: missing value", flag);
            return KS_EINVAL;
        } else {
            v = argv[++i];
        }
        if (strcmp(flag, "--upstream") == 0)
            r = int_flag(flag, v, 1, 65535, &cfg->upstream, err, errlen);
        else if (strcmp(flag, "--port") == 0)
            r = int_flag(flag, v, 0, 65535, &cfg->port, err, errlen);
        else if (strcmp(flag, "--host") == 0) {
            if (*v == '\0') {
                ks_errorf(err, errlen, "--host: empty address");
                return KS_EINVAL;
            }
            cfg->host = v;
        } else if (strcmp(flag, "--container-concurrency") == 0)
            r = int_flag(flag, v, 0, 1000, &cfg->container_concurrency, err, errlen);
        else if (strcmp(flag, "--timeout-seconds") == 0)
            r = int_flag(flag, v, 1, 3600, &cfg->timeout_seconds, err, errlen);
        else if (strcmp(flag, "--drain-seconds") == 0)
            r = int_flag(flag, v, 0, 3600, &cfg->drain_seconds, err, errlen);
        else if (strcmp(flag, "--workers") == 0)
            r = int_flag(flag, v, 1, 256, &cfg->workers, err, errlen);
        else if (strcmp(flag, "--readiness-path") == 0) {
            if (v[0] != '/' || strlen(v) > 1024 || strpbrk(v, " \r\n") != NULL) {
                ks_errorf(err, errlen, "--readiness-path: expected a path starting with '/', got \"%.100s\"", v);
                return KS_EINVAL;
            }
            cfg->readiness_path = v;
        } else {
            ks_errorf(err, errlen, "unknown flag %s (see --help)", flag);
            return KS_EINVAL;
        }
        if (r != 0)
            return r;
    }
    if (cfg->upstream == 0 && cfg->command == NULL) {
        ks_errorf(err, errlen, "--upstream is required (the model server's port), or a command after --");
        return KS_EINVAL;
    }
    return 0;
}

/* ---- proxying --------------------------------------------------------------------------------- */

static ks_queue_proxy_config_t cfg;
static ks_queue_t *queue;
static h2o_socketpool_t *pools; /* one per worker: a pool's idle timer lives in its worker's loop */
static _Atomic int upstream_ready;

/* One request to the upstream; lives in the request's pool. */
typedef struct call {
    h2o_generator_t super;
    h2o_req_t *req;
    ks_http_worker_t *w;
    h2o_http1client_t *client; /* NULL once the upstream side is over */
    h2o_iovec_t up[2];         /* request head, body */
    int is_head;
    int started;  /* the answer's head went downstream */
    int finished; /* the last h2o_send happened */
    int had_error;
    h2o_buffer_t *rest; /* what the upstream sent after the client closed */
    h2o_doublebuffer_t sending;
} call_t;

static h2o_socketpool_t *pool_of(ks_http_worker_t *w)
{
    h2o_socketpool_t *p = &pools[w->id];
    if (p->_interval_cb.loop == NULL) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)cfg.upstream);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        h2o_socketpool_init_by_address(p, (struct sockaddr *)&sa, sizeof(sa), 0, SIZE_MAX);
        h2o_socketpool_set_timeout(p, w->ctx->loop, POOL_IDLE_MS);
    }
    return p;
}

static int drop_for_req(const h2o_header_t *h)
{
    if (!h2o_iovec_is_token(h->name))
        return 0;
    const h2o_token_t *t = (const h2o_token_t *)h->name;
    return t->proxy_should_drop_for_req || t == H2O_TOKEN_EXPECT || t == H2O_TOKEN_CONTENT_LENGTH ||
           t == H2O_TOKEN_HOST;
}

/* The request head for the upstream, in req's pool: hop-by-hop headers dropped, keep-alive asked. */
static h2o_iovec_t build_head(h2o_req_t *req)
{
    size_t cap = req->method.len + req->path.len + req->authority.len + 128, off = 0;
    char *p;

    for (size_t i = 0; i < req->headers.size; ++i)
        cap += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    p = h2o_mem_alloc_pool(&req->pool, cap);
#define APPEND(s, l)                                                                                                       \
    do {                                                                                                                   \
        memcpy(p + off, (s), (l));                                                                                         \
        off += (l);                                                                                                        \
    } while (0)
#define APPEND_LIT(lit) APPEND((lit), sizeof(lit) - 1)
    APPEND(req->method.base, req->method.len);
    APPEND(" ", 1);
    APPEND(req->path.base, req->path.len);
    APPEND_LIT(" HTTP/1.1\r\nconnection: keep-alive\r\nhost: ");
    if (req->authority.len != 0)
        APPEND(req->authority.base, req->authority.len);
    else
        APPEND_LIT("127.0.0.1");
    APPEND("\r\n", 2);
    if (req->entity.base != NULL || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")))
        off += (size_t)sprintf(p + off, "content-length: %zu\r\n", req->entity.base != NULL ? req->entity.len : 0);
    for (size_t i = 0; i < req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (drop_for_req(h))
            continue;
        APPEND(h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        APPEND(": ", 2);
        APPEND(h->value.base, h->value.len);
        APPEND("\r\n", 2);
    }
    APPEND("\r\n", 2);
#undef APPEND_LIT
#undef APPEND
    KS_ASSERT(off <= cap);
    return h2o_iovec_init(p, off);
}

/* The upstream failed before answering: 502 (or nothing, if the client is already answered). */
static void bad_gateway(call_t *c, const char *why)
{
    char msg[300];
    if (c->finished)
        return;
    c->finished = 1;
    fprintf(stderr, "kserve queue-proxy: 502 %.*s: upstream 127.0.0.1:%d: %s\n",
            (int)(c->req->path.len > 200 ? 200 : c->req->path.len), c->req->path.base, cfg.upstream, why);
    snprintf(msg, sizeof(msg), "the model server (127.0.0.1:%d) failed: %s", cfg.upstream, why);
    ks_http_send_error(c->w, c->req, 502, msg);
}

static void do_send(call_t *c)
{
    h2o_iovec_t vec;
    size_t n = 0;
    h2o_send_state_t st;

    KS_ASSERT(c->sending.bytes_inflight == 0);
    vec = h2o_doublebuffer_prepare(&c->sending, c->client != NULL ? &c->client->sock->input : &c->rest,
                                   c->req->preferred_chunk_size);
    if (c->client == NULL && vec.len == c->sending.buf->size && c->rest->size == 0) {
        n = vec.len != 0;
        st = c->had_error ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
        c->finished = 1;
    } else {
        if (vec.len == 0)
            return;
        n = 1;
        st = c->had_error ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_IN_PROGRESS;
        if (c->had_error)
            c->finished = 1;
    }
    h2o_send(c->req, &vec, n, st);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    call_t *c = (call_t *)g;
    h2o_doublebuffer_consume(&c->sending);
    if (!c->finished)
        do_send(c);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    call_t *c = (call_t *)g;
    if (c->client != NULL) {
        h2o_http1client_cancel(c->client);
        c->client = NULL;
    }
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    call_t *c = client->data;

    if (errstr != NULL) {
        /* the upstream is done (or broke): keep what it sent, the client leaves with the socket */
        h2o_buffer_dispose(&c->rest);
        c->rest = client->sock->input;
        h2o_buffer_init(&client->sock->input, &h2o_socket_buffer_prototype);
        c->client = NULL;
        if (errstr != h2o_http1client_error_is_eos) {
            fprintf(stderr, "kserve queue-proxy: upstream 127.0.0.1:%d broke off an answer: %s\n", cfg.upstream,
                    errstr);
            c->had_error = 1;
        }
    }
    if (c->sending.bytes_inflight == 0 && !c->finished)
        do_send(c);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    call_t *c = client->data;
    h2o_req_t *req = c->req;

    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        c->client = NULL;
        bad_gateway(c, errstr);
        return NULL;
    }
    req->res.status = status;
    req->res.reason = h2o_strdup(&req->pool, msg.base, msg.len).base;
    for (size_t i = 0; i < num_headers; ++i) {
        h2o_iovec_t value;
        if (h2o_iovec_is_token(headers[i].name)) {
            const h2o_token_t *t = H2O_STRUCT_FROM_MEMBER(h2o_token_t, buf, headers[i].name);
            if (t == H2O_TOKEN_CONTENT_LENGTH) {
                size_t cl = h2o_strtosize(headers[i].value.base, headers[i].value.len);
                if (req->res.content_length != SIZE_MAX || (req->res.content_length = cl) == SIZE_MAX) {
                    c->client = NULL;
                    bad_gateway(c, "malformed content-length in its answer");
                    return NULL;
                }
                continue;
            }
            if (t->proxy_should_drop_for_res || t == H2O_TOKEN_SERVER || t == H2O_TOKEN_DATE)
                continue;
            value = h2o_strdup(&req->pool, headers[i].value.base, headers[i].value.len);
            h2o_add_header(&req->pool, &req->res.headers, t, headers[i].orig_name, value.base, value.len);
        } else {
            h2o_iovec_t name = h2o_strdup(&req->pool, headers[i].name->base, headers[i].name->len);
            value = h2o_strdup(&req->pool, headers[i].value.base, headers[i].value.len);
            h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 0, headers[i].orig_name,
                                  value.base, value.len);
        }
    }
    c->started = 1;
    h2o_start_response(req, &c->super);
    if (errstr == h2o_http1client_error_is_eos) {
        c->client = NULL;
        c->finished = 1;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs,
                                          size_t *reqbufcnt, int *method_is_head)
{
    call_t *c = client->data;

    if (errstr != NULL) {
        c->client = NULL;
        bad_gateway(c, errstr);
        return NULL;
    }
    *reqbufs = c->up;
    *reqbufcnt = c->up[1].base != NULL && c->up[1].len != 0 ? 2 : 1;
    *method_is_head = c->is_head;
    return on_head;
}

static void on_call_dispose(void *p)
{
    call_t *c = p;
    if (c->client != NULL) {
        h2o_http1client_cancel(c->client);
        c->client = NULL;
    }
    h2o_buffer_dispose(&c->rest);
    h2o_doublebuffer_dispose(&c->sending);
}

/* The request timeout passed while the call runs (the queue's on_deadline). */
static int on_timeout(ks_http_worker_t *w, h2o_req_t *req, void *ctx)
{
    call_t *c = ctx;
    char msg[160];

    if (c->finished)
        return 0;
    if (c->client != NULL) {
        h2o_http1client_cancel(c->client);
        c->client = NULL;
    }
    if (!c->started) {
        c->finished = 1;
        snprintf(msg, sizeof(msg), "the model server did not answer within the request timeout (%d s)",
                 cfg.timeout_seconds);
        ks_http_send_error(w, req, 504, msg);
        return 1;
    }
    /* the answer has begun: cut it off */
    c->had_error = 1;
    if (c->sending.bytes_inflight == 0)
        do_send(c);
    return 1;
}

static void run(ks_http_worker_t *w, h2o_req_t *req, ks_queue_ticket_t *t, void *data)
{
    call_t *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_call_dispose);

    memset(c, 0, sizeof(*c));
    c->super.proceed = on_proceed;
    c->super.stop = on_stop;
    c->req = req;
    c->w = w;
    c->up[0] = build_head(req);
    c->up[1] = req->entity;
    c->is_head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    h2o_buffer_init(&c->rest, &h2o_socket_buffer_prototype);
    h2o_doublebuffer_init(&c->sending, &h2o_socket_buffer_prototype);
    ks_queue_set_abort(t, on_timeout, c);
    h2o_http1client_connect_with_pool(&c->client, c, &w->ctx->proxy.client_ctx, pool_of(w), on_connect);
}

static void handle(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    if (ks_queue_serve_endpoint(queue, w, req, atomic_load(&upstream_ready)))
        return;
    ks_queue_submit(queue, w, req);
}

/* ---- readiness probe ------------------------------------------------------------------------------ */

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = ks_now_ns();
        struct pollfd p = {fd, events, 0};
        int r;
        if (now >= deadline)
            return -1;
        r = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* 1 when the upstream accepts a connection (and, with --readiness-path, answers GET with 2xx). */
static int probe_upstream(void)
{
    struct sockaddr_in sa;
    uint64_t deadline = ks_now_ns() + (uint64_t)PROBE_TIMEOUT_MS * 1000000u;
    int fd, ok = 0, soerr = 0;
    socklen_t sl = sizeof(soerr);
    char buf[64];
    size_t got = 0;

    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg.upstream);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
        (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) != 0 ||
         getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0))
        goto out;
    if (cfg.readiness_path == NULL) {
        ok = 1;
        goto out;
    }
    {
        char rq[1200];
        int n = snprintf(rq, sizeof(rq),
                         "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: kserve-queue-proxy\r\n"
                         "Connection: close\r\n\r\n",
                         cfg.readiness_path, cfg.upstream);
        if (ks_send_all(fd, rq, (size_t)n) != 0)
            goto out;
    }
    /* the status line is enough: "HTTP/1.x NNN" */
    while (got < 12) {
        ssize_t r;
        if (wait_fd(fd, POLLIN, deadline) != 0)
            goto out;
        if ((r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) <= 0) {
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            goto out;
        }
        got += (size_t)r;
    }
    ok = memcmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '2';
out:
    close(fd);
    return ok;
}

/* ---- lifecycle --------------------------------------------------------------------------------- */

/* ---- the model server as a child ------------------------------------------------------------ */

static pid_t child;

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* "$(PORT)" in an argument becomes the port (Kubernetes expands $(VAR) in args the same way) */
static char *expand_port(const char *a, const char *port)
{
    size_t n = strlen(a) + 1;
    const char *p;
    char *out, *o;
    for (p = a; (p = strstr(p, "$(PORT)")) != NULL; p += 7)
        n += strlen(port);
    if ((out = malloc(n)) == NULL)
        return NULL;
    for (o = out; *a;) {
        if (strncmp(a, "$(PORT)", 7) == 0) {
            o = stpcpy(o, port);
            a += 7;
        } else {
            *o++ = *a++;
        }
    }
    *o = '\0';
    return out;
}

static int start_child(char **command, int port)
{
    char portbuf[16], flag[40];
    int n = 0, named = 0;
    char **argv;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    while (command[n] != NULL) {
        named |= strstr(command[n], "$(PORT)") != NULL || strncmp(command[n], "--http_port", 11) == 0 ||
                 strncmp(command[n], "--http-port", 11) == 0;
        n++;
    }
    if ((argv = calloc((size_t)n + 2, sizeof(char *))) == NULL)
        return -1;
    for (int i = 0; i < n; ++i)
        argv[i] = expand_port(command[i], portbuf);
    if (!named && n > 0) {
        snprintf(flag, sizeof(flag), "--http_port=%d", port);
        argv[n] = strdup(flag);
    }
    child = fork();
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setenv("PORT", portbuf, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "kserve queue-proxy: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (int i = 0; i <= n; ++i)
        free(argv[i]);
    free(argv);
    return child > 0 ? 0 : -1;
}

/* the child's exit status as the queue-proxy's (128 + signal when killed), or -1 while it runs */
static int child_exited(int block)
{
    int status;
    if (child <= 0 || waitpid(child, &status, block ? 0 : WNOHANG) != child)
        return -1;
    child = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void stop_child(void)
{
    if (child <= 0)
        return;
    kill(child, SIGTERM);
    for (int i = 0; i < 1000 && child > 0; ++i) { /* 10 s */
        struct timespec ts = {0, 10 * 1000 * 1000};
        if (child_exited(0) >= 0)
            return;
        nanosleep(&ts, NULL);
    }
    if (child > 0) {
        kill(child, SIGKILL);
        child_exited(1);
    }
}

int ks_queue_proxy_main(int argc, char **argv)
{
    int exit_code = 0;
    char err[KS_ERRLEN];
    ks_http_config_t hc;
    ks_queue_config_t qc;
    ks_http_server_t *server;
    sigset_t sigs;
    uint64_t next_probe = 0;
    int r, sig = 0;

    r = ks_queue_proxy_parse_flags(argc, argv, &cfg, err, sizeof(err));
    if (r == 1) {
        fputs(ks_queue_proxy_usage, stdout);
        return 0;
    }
    if (r != 0) {
        fprintf(stderr, "kserve queue-proxy: %s\n%s", err, ks_queue_proxy_usage);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* the workers inherit the mask: signals come to this thread */

    memset(&qc, 0, sizeof(qc));
    qc.container_concurrency = cfg.container_concurrency;
    qc.timeout_seconds = cfg.timeout_seconds;
    qc.workers = cfg.workers;
    qc.run = run;
    if ((pools = calloc((size_t)cfg.workers, sizeof(*pools))) == NULL || (queue = ks_queue_new(&qc)) == NULL) {
        fprintf(stderr, "kserve queue-proxy: out of memory\n");
        return 1;
    }
    if (cfg.upstream == 0 && (cfg.upstream = free_port()) < 0) {
        fprintf(stderr, "kserve queue-proxy: no free port for the model server\n");
        return 1;
    }
    memset(&hc, 0, sizeof(hc));
    hc.host = cfg.host;
    hc.port = cfg.port;
    hc.workers = cfg.workers;
    hc.max_body = MAX_BODY;
    /* the upstream's own I/O limit stays above the request timeout, which ends a call first */
    hc.proxy_io_timeout_ms = ((uint64_t)cfg.timeout_seconds + 5) * 1000;
    hc.handler = handle;
    if ((server = ks_http_server_new(&hc, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve queue-proxy: %s\n", err);
        return 1;
    }
    if (ks_http_server_start(server, err, sizeof(err)) != 0) {
        fprintf(stderr, "kserve queue-proxy: %s\n", err);
        return 1;
    }
    if (cfg.command != NULL && start_child(cfg.command, cfg.upstream) != 0) {
        fprintf(stderr, "kserve queue-proxy: cannot start %s: %s\n", cfg.command[0], strerror(errno));
        return 1;
    }
    fprintf(stderr,
            "kserve queue-proxy: listening on %s:%d, upstream 127.0.0.1:%d, container concurrency %d, timeout %d s, "
            "drain %d s, %d worker%s\n",
            cfg.host, ks_http_server_port(server), cfg.upstream, cfg.container_concurrency, cfg.timeout_seconds,
            cfg.drain_seconds, cfg.workers, cfg.workers == 1 ? "" : "s");

    for (;;) {
        struct timespec ts = {0, PROBE_STARTING_MS * 1000 * 1000};
        uint64_t now;
        sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            if (cfg.drain_seconds == 0 || ks_queue_draining(queue))
                break; /* no drain period, or a second signal: stop now */
            ks_queue_start_drain(queue);
            fprintf(stderr, "kserve queue-proxy: %s: draining (readiness fails; exit after %d s without a request)\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.drain_seconds);
        }
        if (ks_queue_draining(queue) && ks_queue_quiet(queue, cfg.drain_seconds * 1000))
            break;
        if ((exit_code = child_exited(0)) >= 0) {
            fprintf(stderr, "kserve queue-proxy: the model server %s exited with status %d\n", cfg.command[0], exit_code);
            ks_http_server_stop(server, 0);
            return exit_code != 0 ? exit_code : 1;
        }
        exit_code = 0;
        if ((now = ks_now_ns()) >= next_probe) {
            int was = atomic_load(&upstream_ready), is = probe_upstream();
            atomic_store(&upstream_ready, is);
            if (is != was)
                fprintf(stderr, "kserve queue-proxy: upstream 127.0.0.1:%d %s\n", cfg.upstream,
                        is ? "ready" : "not ready");
            next_probe = ks_now_ns() + (uint64_t)(is ? PROBE_READY_MS : PROBE_STARTING_MS) * 1000000u;
        }
    }
    fprintf(stderr, "kserve queue-proxy: stopping\n");
    ks_http_server_stop(server, cfg.timeout_seconds * 1000);
    stop_child();
    ks_queue_free(queue);
    queue = NULL;
    for (int i = 0; i < cfg.workers; ++i)
        if (pools[i]._interval_cb.loop != NULL)
            h2o_socketpool_dispose(&pools[i]);
    free(pools);
    pools = NULL;
    fprintf(stderr, "kserve queue-proxy: stopped\n");
    return 0;
}
