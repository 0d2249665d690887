/*
 * The ingress.  See include/ks/ingress.h.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "activator.h"
#include "ks/upstream.h"
#include "ks/json.h"

#define MAX_TARGETS 8

typedef ks__route_target_t target_t;

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
    pthread_mutex_t lock; /* retired tables, revision stats */
    ks_routes_t *retired;
    ks_revstat_t *stats;  /* every revision's, for the ingress's life */
    void (*poke_cb)(void *);
    void *poke_data;
    _Atomic int queue_depth;
};

static __thread uint64_t rng = 0x9E3779B97F4A7C15ull;

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
    return ks_routes_add_target(t, host, revision, percent, ports, nports, NULL);
}

int ks_routes_add_target(ks_routes_t *t, const char *host, const char *revision, int percent, const int *ports,
                         int nports, const ks_route_policy_t *pol)
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
    memset(tg, 0, sizeof(*tg));
    tg->revision = strdup(revision);
    if (pol != NULL) {
        tg->stat = pol->stat;
        tg->cc = pol->container_concurrency;
        tg->timeout_s = pol->timeout_s;
        tg->activate = pol->activate;
        ks_buf_printf(&t->key, "[%p,%d,%d,%d]", (void *)pol->stat, pol->container_concurrency, pol->timeout_s,
                      pol->activate);
    }
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
    /* requests held by the activator may go now */
    ks_http_server_wake(g->http);
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

/*
 * The host's target in the current table: the one of that revision when
 * revision is given and still routed, else a weighted pick per request.
 */
const ks__route_target_t *ks__ingress_route(ks_ingress_t *g, const char *host, size_t hlen, const char *revision)
{
    ks_routes_t *t = atomic_load_explicit(&g->table, memory_order_acquire);
    route_t *r = NULL;
    int pick;
    if (t != NULL)
        for (int i = 0; i < t->n; ++i)
            if (strlen(t->r[i].host) == hlen && strncasecmp(t->r[i].host, host, hlen) == 0) {
                r = &t->r[i];
                break;
            }
    if (r == NULL || r->ntargets == 0)
        return NULL;
    if (revision != NULL)
        for (int k = 0; k < r->ntargets; ++k)
            if (r->t[k].percent > 0 && strcmp(r->t[k].revision, revision) == 0)
                return &r->t[k];
    /* weighted, per request */
    pick = (int)(next_rand() % 100);
    for (int k = 0; k < r->ntargets; ++k) {
        if (pick < r->t[k].percent)
            return &r->t[k];
        pick -= r->t[k].percent;
    }
    return &r->t[r->ntargets - 1];
}

/* a route without stats (the route table's own tests): one replica, no retry */
static int fixed_pick(void *data, int attempt, int failed_port)
{
    return attempt == 0 ? (int)(intptr_t)data : -1;
}

static void fixed_done(void *data, int port, int status)
{
}

void ks__ingress_proxy(ks_http_worker_t *w, h2o_req_t *req, int port)
{
    static const ks_upstream_ops_t ops = {fixed_pick, fixed_done};
    ks_upstream_proxy(w, req, &ops, (void *)(intptr_t)port, 0);
}

void ks__ingress_poke(ks_ingress_t *g)
{
    if (g->poke_cb != NULL)
        g->poke_cb(g->poke_data);
}

int ks__ingress_queue_depth(ks_ingress_t *g)
{
    return atomic_load_explicit(&g->queue_depth, memory_order_relaxed);
}

void ks__ingress_wake(ks_ingress_t *g)
{
    ks_http_server_wake(g->http);
}

static void handle(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    const char *host = req->authority.base;
    size_t hlen = req->authority.len;
    const char *colon = memchr(host, ':', hlen);
    if (colon != NULL)
        hlen = (size_t)(colon - host);
    ks__activator_handle(data, w, req, host, hlen);
}

/* ---- revision stats and the autoscaler ------------------------------------------------------ */

ks_revstat_t *ks_ingress_revstat(ks_ingress_t *g, const char *ns, const char *rev)
{
    char key[600];
    ks_revstat_t *s;
    snprintf(key, sizeof(key), "%s/%s", ns, rev);
    pthread_mutex_lock(&g->lock);
    for (s = g->stats; s != NULL; s = s->next)
        if (strcmp(s->key, key) == 0)
            goto out;
    if ((s = calloc(1, sizeof(*s))) != NULL && (s->key = strdup(key)) != NULL) {
        pthread_mutex_init(&s->lock, NULL);
        s->last_ns = ks_now_ns();
        s->next = g->stats;
        g->stats = s;
    } else if (s != NULL) {
        free(s);
        s = NULL;
    }
out:
    pthread_mutex_unlock(&g->lock);
    return s;
}

void ks_ingress_set_poke(ks_ingress_t *g, void (*cb)(void *), void *data)
{
    g->poke_cb = cb;
    g->poke_data = data;
}

void ks_ingress_set_queue_depth(ks_ingress_t *g, int depth)
{
    atomic_store(&g->queue_depth, depth > 0 ? depth : 1);
}

ks_ingress_t *ks_ingress_new(const char *host, int port, int workers, char *err, size_t errlen)
{
    ks_ingress_t *g = calloc(1, sizeof(*g));
    ks_http_config_t hc;
    if (g == NULL)
        return NULL;
    pthread_mutex_init(&g->lock, NULL);
    atomic_store(&g->queue_depth, KS_ACTIVATOR_QUEUE_DEPTH);
    memset(&hc, 0, sizeof(hc));
    hc.host = host;
    hc.port = port;
    hc.workers = workers;
    hc.max_body = 64u << 20;
    hc.proxy_io_timeout_ms = 300000; /* the isvc's default timeout */
    hc.handler = handle;
    hc.loop_cb = ks__activator_loop;
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

void ks_ingress_free_stats(ks_ingress_t *g)
{
    ks_revstat_t *s;
    while ((s = g->stats) != NULL) {
        g->stats = s->next;
        pthread_mutex_destroy(&s->lock);
        free(s->key);
        free(s);
    }
}
