/*
 * A reverse proxy for bench/upstream.sh: a ks_http server on 127.0.0.1:PORT
 * sending every request to 127.0.0.1:UPSTREAM_PORT, in one of two ways:
 *
 *   ks   ks_upstream_proxy (src/http/upstream.c)
 *   h2o  h2o's proxy: h2o_reprocess_request with an h2o_req_overrides_t
 *        carrying a per-worker h2o_socketpool_t, as the ingress did
 *
 *   upstream_proxy ks|h2o PORT UPSTREAM_PORT WORKERS
 *
 * Runs until SIGTERM or SIGINT.
 */
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ks/upstream.h"

static int upstream_port;
static volatile sig_atomic_t stop;

static int pick(void *data, int attempt, int failed_port)
{
    return attempt == 0 ? upstream_port : -1;
}

static void done(void *data, int port, int status)
{
}

static const ks_upstream_ops_t OPS = {pick, done};

static void via_ks(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    ks_upstream_proxy(w, req, &OPS, NULL, 0);
}

static __thread h2o_socketpool_t *pool;

static void via_h2o(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    h2o_req_overrides_t *ov;
    if (pool == NULL) {
        struct sockaddr_in sa;
        pool = calloc(1, sizeof(*pool));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)upstream_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        h2o_socketpool_init_by_address(pool, (struct sockaddr *)&sa, sizeof(sa), 0, SIZE_MAX);
        h2o_socketpool_set_timeout(pool, w->ctx->loop, 2000);
    }
    ov = h2o_mem_alloc_pool(&req->pool, sizeof(*ov));
    *ov = (h2o_req_overrides_t){NULL};
    ov->socketpool = pool;
    h2o_reprocess_request(req, req->method, req->scheme, req->authority, req->path, ov, 0);
}

static void on_signal(int sig)
{
    stop = 1;
}

int main(int argc, char **argv)
{
    ks_http_config_t c;
    ks_http_server_t *s;
    char err[KS_ERRLEN];

    if (argc != 5 || (strcmp(argv[1], "ks") != 0 && strcmp(argv[1], "h2o") != 0)) {
        fprintf(stderr, "usage: %s ks|h2o PORT UPSTREAM_PORT WORKERS\n", argv[0]);
        return 2;
    }
    upstream_port = atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    memset(&c, 0, sizeof(c));
    c.host = "127.0.0.1";
    c.port = atoi(argv[2]);
    c.workers = atoi(argv[4]);
    c.max_body = 64u << 20;
    c.handler = strcmp(argv[1], "ks") == 0 ? via_ks : via_h2o;
    if ((s = ks_http_server_new(&c, err, sizeof(err))) == NULL || ks_http_server_start(s, err, sizeof(err)) != 0) {
        fprintf(stderr, "upstream_proxy: %s\n", err);
        return 1;
    }
    fprintf(stderr, "upstream_proxy %s: 127.0.0.1:%d -> 127.0.0.1:%d, %d workers\n", argv[1], ks_http_server_port(s),
            upstream_port, c.workers);
    while (!stop)
        pause();
    ks_http_server_stop(s, 1000);
    return 0;
}
