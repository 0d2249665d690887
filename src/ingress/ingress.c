/*
 * The ingress.  See include/ks/ingress.h.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "ks/http.h"
#include "ks/ingress.h"
#include "ks/json.h"

#define MAX_TARGETS 8
#define POOL_GRACE_NS (600ull * 1000000000ull) /* a pool outlives its replica by this much */

/*
 * One keep-alive pool per replica port per worker: a pool's idle timer lives
 * in its worker's loop, so no loop is touched from another thread.
 */
typedef struct pool {
    struct pool *next;
    int port;
    h2o_socketpool_t sp;
    uint64_t last_used;
} pool_t;

typedef struct target {
    char *revision;
    int percent;
    int nports;
    int *ports;
} target_t;

typedef struct route {
    char *host;
    int ntargets;
    target_t t[MAX_TARGETS];
} route_t;

struct ks_routes {
    route_t *r;
    int n, cap;
    ks_buf_t key;
    struct ks_routes *next_retired;
    uint64_t epoch;
};

struct ks_ingress {
    ks_http_server_t *http;
    _Atomic(ks_routes_t *) table;
    pthread_mutex_t lock; /* retired tables */
    ks_routes_t *retired;
};

static __thread uint64_t rng = 0x9E3779B97F4A7C15ull;
static __thread unsigned rr;
static __thread pool_t *pools; /* this worker's */
static __thread uint64_t last_sweep;

/* ---- route tables ------------------------------------------------------------------------ */

ks_routes_t *ks_routes_new(void)
{
    ks_routes_t *t = calloc(1, sizeof(*t));
    if (t != NULL)
        ks_buf_init(&t->key, 0);
    return t;
}

void ks_routes_free(ks_routes_t *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < t->n; ++i) {
        free(t->r[i].host);
        for (int k = 0; k < t->r[i].ntargets; ++k) {
            free(t->r[i].t[k].revision);
            free(t->r[i].t[k].ports);
        }
    }
    free(t->r);
    ks_buf_free(&t->key);
    free(t);
}

int ks_routes_add(ks_routes_t *t, const char *host, const char *revision, int percent, const int *ports, int nports)
{
    route_t *r = NULL;
    target_t *tg;
    for (int i = 0; i < t->n; ++i)
        if (strcasecmp(t->r[i].host, host) == 0)
            r = &t->r[i];
    if (r == NULL) {
        if (t->n == t->cap) {
            int ncap = t->cap ? t->cap * 2 : 16;
            route_t *nr = realloc(t->r, sizeof(*nr) * (size_t)ncap);
            if (nr == NULL)
                return KS_ENOMEM;
            t->r = nr;
            t->cap = ncap;
        }
        r = &t->r[t->n++];
        memset(r, 0, sizeof(*r));
        r->host = strdup(host);
    }
    if (r->ntargets == MAX_TARGETS)
        return KS_ETOOBIG;
    tg = &r->t[r->ntargets++];
    tg->revision = strdup(revision);
    tg->percent = percent;
    tg->nports = nports;
    tg->ports = calloc((size_t)(nports > 0 ? nports : 1), sizeof(int));
    if (nports > 0)
        memcpy(tg->ports, ports, sizeof(int) * (size_t)nports);
    ks_buf_printf(&t->key, "%s>%s:%d:", host, revision, percent);
    for (int i = 0; i < nports; ++i)
        ks_buf_printf(&t->key, "%d,", ports[i]);
    ks_buf_putc(&t->key, ';');
    return 0;
}

const char *ks_routes_key(ks_routes_t *t)
{
    ks_buf_putc(&t->key, '\0');
    t->key.len--;
    return t->key.base != NULL ? t->key.base : "";
}

/* ---- pools --------------------------------------------------------------------------------- */

static pool_t *pool_for(ks_http_worker_t *w, int port)
{
    pool_t *p;
    struct sockaddr_in sa;
    uint64_t now = ks_now_ns();
    for (p = pools; p != NULL; p = p->next)
        if (p->port == port) {
            p->last_used = now;
            return p;
        }
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    h2o_socketpool_init_by_address(&p->sp, (struct sockaddr *)&sa, sizeof(sa), 0, SIZE_MAX);
    h2o_socketpool_set_timeout(&p->sp, w->ctx->loop, 2000); /* idle upstream connections close after 2 s */
    p->port = port;
    p->last_used = now;
    p->next = pools;
    pools = p;
    return p;
}

/* pools of ports no request used for long (their replica is gone): a borrowed connection may outlive a request by little */
static void sweep_pools(void)
{
    uint64_t now = ks_now_ns();
    pool_t **pp, *p;
    if (now - last_sweep < 10000000000ull)
        return;
    last_sweep = now;
    for (pp = &pools; (p = *pp) != NULL;) {
        if (now - p->last_used > POOL_GRACE_NS) {
            *pp = p->next;
            h2o_socketpool_dispose(&p->sp);
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

void ks_ingress_publish(ks_ingress_t *g, ks_routes_t *t)
{
    ks_routes_t *old;

    pthread_mutex_lock(&g->lock);
    old = atomic_exchange(&g->table, t);
    if (old != NULL) {
        old->epoch = ks_http_retire_epoch(g->http);
        old->next_retired = g->retired;
        g->retired = old;
    }
    pthread_mutex_unlock(&g->lock);
}

void ks_ingress_reclaim(ks_ingress_t *g)
{
    ks_routes_t **p, *t;

    pthread_mutex_lock(&g->lock);
    for (p = &g->retired; (t = *p) != NULL;) {
        if (ks_http_quiescent(g->http, t->epoch)) {
            *p = t->next_retired;
            ks_routes_free(t);
        } else {
            p = &t->next_retired;
        }
    }
    pthread_mutex_unlock(&g->lock);
}

/* ---- requests ------------------------------------------------------------------------------ */

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void handle(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    ks_ingress_t *g = data;
    ks_routes_t *t = atomic_load_explicit(&g->table, memory_order_acquire);
    const char *host = req->authority.base;
    size_t hlen = req->authority.len;
    const char *colon = memchr(host, ':', hlen);
    route_t *r = NULL;
    target_t *tg = NULL;
    h2o_req_overrides_t *ov;
    char msg[400];
    int pick;

    if (colon != NULL)
        hlen = (size_t)(colon - host);
    if (t != NULL)
        for (int i = 0; i < t->n; ++i)
            if (strlen(t->r[i].host) == hlen && strncasecmp(t->r[i].host, host, hlen) == 0) {
                r = &t->r[i];
                break;
            }
    if (r == NULL) {
        snprintf(msg, sizeof(msg),
                 "no InferenceService serves host \"%.*s\" (use the Host header of its status.url: "
                 "<name>.<namespace>.<domain>)",
                 (int)(hlen > 200 ? 200 : hlen), host);
        ks_http_send_error(w, req, 404, msg);
        return;
    }
    /* weighted, per request */
    pick = (int)(next_rand() % 100);
    for (int k = 0; k < r->ntargets; ++k) {
        tg = &r->t[k];
        if (pick < tg->percent)
            break;
        pick -= tg->percent;
    }
    if (tg == NULL || tg->nports == 0) {
        snprintf(msg, sizeof(msg), "revision %s has no ready replica", tg != NULL ? tg->revision : "?");
        ks_http_send_error(w, req, 503, msg);
        return;
    }
    sweep_pools();
    {
        pool_t *p = pool_for(w, tg->ports[rr++ % (unsigned)tg->nports]);
        if (p == NULL) {
            ks_http_send_error(w, req, 500, "out of memory");
            return;
        }
        ov = h2o_mem_alloc_pool(&req->pool, sizeof(*ov));
        *ov = (h2o_req_overrides_t){NULL};
        ov->socketpool = &p->sp;
    }
    h2o_reprocess_request(req, req->method, req->scheme, req->authority, req->path, ov, 0);
}

ks_ingress_t *ks_ingress_new(const char *host, int port, int workers, char *err, size_t errlen)
{
    ks_ingress_t *g = calloc(1, sizeof(*g));
    ks_http_config_t hc;
    if (g == NULL)
        return NULL;
    pthread_mutex_init(&g->lock, NULL);
    memset(&hc, 0, sizeof(hc));
    hc.host = host;
    hc.port = port;
    hc.workers = workers;
    hc.max_body = 64u << 20;
    hc.proxy_io_timeout_ms = 300000; /* the isvc's default timeout */
    hc.handler = handle;
    hc.data = g;
    if ((g->http = ks_http_server_new(&hc, err, errlen)) == NULL) {
        free(g);
        return NULL;
    }
    atomic_store(&g->table, ks_routes_new());
    return g;
}

int ks_ingress_start(ks_ingress_t *g, char *err, size_t errlen)
{
    return ks_http_server_start(g->http, err, errlen);
}

int ks_ingress_port(const ks_ingress_t *g)
{
    return ks_http_server_port(g->http);
}

void ks_ingress_stop(ks_ingress_t *g, int drain_ms)
{
    ks_http_server_stop(g->http, drain_ms);
}
