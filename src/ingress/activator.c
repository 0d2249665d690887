/*
 * The activator.  See activator.h.
 *
 * A request's life here: ks__activator_handle() counts its arrival on the
 * revision's stats, then either sends it to a replica at once or holds it on
 * this worker's list.  Its record lives in the request's memory pool with a
 * dispose callback, so the end of the request (answer sent, client gone)
 * always reaches end_request(), exactly once, whatever happened to it.
 *
 * Held requests are looked at on their own worker: after every loop turn
 * while any are held, and when another thread wakes the workers (a new route
 * table was published, or a slot freed on a revision with held requests).
 */
#include <math.h>
#include <string.h>

#include "activator.h"
#include "ks/upstream.h"

/* COUNTED: counted in flight, answered by the ingress itself (503, 504, 404) */
typedef enum { REQ_COUNTED = 1, REQ_HELD, REQ_SENT, REQ_DONE } req_state_t;

typedef struct activation {
    h2o_linklist_t link; /* on the worker's held list while REQ_HELD */
    h2o_req_t *req;
    ks_ingress_t *g;
    ks_revstat_t *stat;
    req_state_t state;
    int port;
    uint64_t deadline_ns;
    const char *host;    /* the request's own authority (lives as long as the request) */
    size_t hlen;
    char revision[200];
    int failed[KS_UPSTREAM_MAX_ATTEMPTS]; /* replicas that refused it (not tried again) */
    int nfailed;
} activation_t;

static __thread h2o_linklist_t held = {NULL, NULL};
static __thread size_t nheld;
static __thread uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- the revision's stats ------------------------------------------------------------------ */

/* under s->lock: in_flight changes by d at now */
static void account(ks_revstat_t *s, uint64_t now, int d)
{
    if (s->last_ns != 0 && now > s->last_ns)
        s->area += (double)s->in_flight * (double)(now - s->last_ns);
    if (now > s->last_ns)
        s->last_ns = now;
    s->in_flight += d;
}

void ks_revstat_collect(ks_revstat_t *s, uint64_t now, uint64_t since, double *concurrency, double *requests,
                        int *held_out)
{
    pthread_mutex_lock(&s->lock);
    account(s, now, 0);
    *concurrency = now > since ? s->area / (double)(now - since) : (double)s->in_flight;
    *requests = (double)s->requests;
    *held_out = s->held;
    s->area = 0;
    s->requests = 0;
    pthread_mutex_unlock(&s->lock);
}

int ks_revstat_take_poke(ks_revstat_t *s)
{
    return atomic_exchange(&s->poked, 0);
}

int64_t ks_revstat_in_flight(ks_revstat_t *s)
{
    int64_t n;
    pthread_mutex_lock(&s->lock);
    n = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static ks_revstat_port_t *port_slot(ks_revstat_t *s, int port)
{
    for (int i = 0; i < s->nports; ++i)
        if (s->ports[i].port == port)
            return &s->ports[i];
    /* reuse a free slot, else append */
    for (int i = 0; i < s->nports; ++i)
        if (s->ports[i].port == 0) {
            s->ports[i].port = port;
            return &s->ports[i];
        }
    if (s->nports == KS_REVSTAT_MAX_PORTS)
        return NULL;
    s->ports[s->nports] = (ks_revstat_port_t){port, 0};
    return &s->ports[s->nports++];
}

/*
 * Under s->lock: a ready replica with a free slot, as Knative's activator
 * balances (spec 5): CC 0, the less loaded of two random replicas; CC <= 3,
 * the first with a free slot; CC > 3, round robin skipping full ones.
 * Returns the port (its in-flight count taken), or 0 when none is free.
 */
static int pick_replica(ks_revstat_t *s, const ks__route_target_t *tg, const int *skip, int nskip)
{
    ks_revstat_port_t *slot[KS_REVSTAT_MAX_PORTS];
    int n = 0;
    /* slots of replicas that left the route and have nothing in flight are free again */
    for (int i = 0; i < s->nports; ++i) {
        int routed = 0;
        for (int k = 0; k < tg->nports && !routed; ++k)
            routed = tg->ports[k] == s->ports[i].port;
        if (!routed && s->ports[i].in_flight == 0)
            s->ports[i].port = 0;
    }
    for (int i = 0; i < tg->nports && n < KS_REVSTAT_MAX_PORTS; ++i) {
        int skipped = 0;
        for (int k = 0; k < nskip; ++k)
            skipped |= skip[k] == tg->ports[i];
        if (!skipped && (slot[n] = port_slot(s, tg->ports[i])) != NULL)
            n++;
    }
    if (n == 0)
        return 0;
    if (tg->cc <= 0) {
        ks_revstat_port_t *a = slot[next_rand() % (unsigned)n], *b = slot[next_rand() % (unsigned)n];
        ks_revstat_port_t *p = b->in_flight < a->in_flight ? b : a;
        p->in_flight++;
        return p->port;
    }
    if (tg->cc <= 3) {
        for (int i = 0; i < n; ++i)
            if (slot[i]->in_flight < tg->cc) {
                slot[i]->in_flight++;
                return slot[i]->port;
            }
        return 0;
    }
    for (int k = 0; k < n; ++k) {
        ks_revstat_port_t *p = slot[(s->rr + (unsigned)k) % (unsigned)n];
        if (p->in_flight < tg->cc) {
            s->rr += (unsigned)k + 1;
            p->in_flight++;
            return p->port;
        }
    }
    return 0;
}

/* under s->lock: the request no longer holds a slot on port */
static void release_port(ks_revstat_t *s, int port)
{
    for (int i = 0; i < s->nports; ++i)
        if (s->ports[i].port == port && s->ports[i].in_flight > 0) {
            s->ports[i].in_flight--;
            break;
        }
}

/* ---- a request's end ------------------------------------------------------------------------ */

static void end_request(void *p)
{
    activation_t *a = p;
    ks_revstat_t *s = a->stat;
    int wake = 0;
    if (a->state == REQ_HELD) {
        h2o_linklist_unlink(&a->link);
        nheld--;
    }
    pthread_mutex_lock(&s->lock);
    account(s, ks_now_ns(), -1);
    if (a->state == REQ_HELD)
        s->held--;
    if (a->state == REQ_SENT) {
        if (a->port > 0)
            release_port(s, a->port);
        wake = s->held > 0; /* a slot freed: held requests (on any worker) may go */
    }
    pthread_mutex_unlock(&s->lock);
    a->state = REQ_DONE;
    if (wake)
        ks__ingress_wake(a->g);
}

/*
 * The upstream client asks for a replica: the one chosen already, then, when
 * a replica refused the request before it was sent (it died), another ready
 * one of the same revision that has not refused it.
 */
static int pick_cb(void *data, int attempt, int failed_port)
{
    activation_t *a = data;
    ks_revstat_t *s = a->stat;
    const ks__route_target_t *tg;
    int port, requeue;

    if (attempt == 0)
        return a->port;
    pthread_mutex_lock(&s->lock);
    release_port(s, failed_port);
    pthread_mutex_unlock(&s->lock);
    if (a->nfailed < KS_UPSTREAM_MAX_ATTEMPTS)
        a->failed[a->nfailed++] = failed_port;
    a->port = 0;
    if ((tg = ks__ingress_route(a->g, a->host, a->hlen, a->revision)) == NULL || tg->stat != s)
        return -1;
    pthread_mutex_lock(&s->lock);
    port = pick_replica(s, tg, a->failed, a->nfailed);
    requeue = port == 0 && tg->activate && a->nfailed < KS_UPSTREAM_MAX_ATTEMPTS && s->held < ks__ingress_queue_depth(a->g);
    if (requeue)
        s->held++;
    pthread_mutex_unlock(&s->lock);
    if (requeue) {
        /* its only replica died with the request unsent: wait for the next one, as a request at zero does */
        if (held.next == NULL)
            h2o_linklist_init_anchor(&held);
        a->state = REQ_HELD;
        h2o_linklist_insert(&held, &a->link);
        nheld++;
        atomic_store(&s->poked, 1);
        ks__ingress_poke(a->g);
        return KS_UPSTREAM_REQUEUE;
    }
    if (port == 0)
        return -1;
    a->port = port;
    return port;
}

static void done_cb(void *data, int port, int status)
{
    /* the accounting is end_request()'s, when the request's memory goes */
    (void)data;
    (void)port;
    (void)status;
}

static const ks_upstream_ops_t upstream_ops = {pick_cb, done_cb};

static void send_to(ks_http_worker_t *w, activation_t *a, int port)
{
    uint64_t now = ks_now_ns(), left_ms;
    a->state = REQ_SENT;
    a->port = port;
    left_ms = a->deadline_ns > now ? (a->deadline_ns - now) / 1000000u : 1;
    ks_upstream_proxy(w, a->req, &upstream_ops, a, left_ms > 0 ? left_ms : 1);
}

/* ---- requests ------------------------------------------------------------------------------- */

void ks__activator_handle(ks_ingress_t *g, ks_http_worker_t *w, h2o_req_t *req, const char *host, size_t hlen)
{
    const ks__route_target_t *tg = ks__ingress_route(g, host, hlen, NULL);
    ks_revstat_t *s;
    activation_t *a;
    char msg[300];
    int port, full;

    if (tg == NULL) {
        snprintf(msg, sizeof(msg),
                 "no InferenceService serves host \"%.*s\" (use the Host header of its status.url: "
                 "<name>.<namespace>.<domain>)",
                 (int)(hlen > 200 ? 200 : hlen), host);
        ks_http_send_error(w, req, 404, msg);
        return;
    }
    if ((s = tg->stat) == NULL) {
        /* a route without stats (tests of the route table): plain round robin */
        if (tg->nports == 0) {
            snprintf(msg, sizeof(msg), "revision %s has no ready replica", tg->revision);
            ks_http_send_error(w, req, 503, msg);
            return;
        }
        ks__ingress_proxy(w, req, tg->ports[next_rand() % (unsigned)tg->nports]);
        return;
    }
    a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), end_request);
    memset(a, 0, sizeof(*a));
    a->req = req;
    a->g = g;
    a->stat = s;
    a->host = host;
    a->hlen = hlen;
    snprintf(a->revision, sizeof(a->revision), "%s", tg->revision);
    a->deadline_ns = ks_now_ns() + (uint64_t)(tg->timeout_s > 0 ? tg->timeout_s : 300) * 1000000000ull;
    pthread_mutex_lock(&s->lock);
    account(s, ks_now_ns(), +1);
    s->requests++;
    s->requests_total++;
    port = pick_replica(s, tg, NULL, 0);
    full = port == 0 && (s->held >= ks__ingress_queue_depth(g) || (!tg->activate && tg->nports == 0));
    if (port == 0 && !full)
        s->held++;
    pthread_mutex_unlock(&s->lock);

    if (port != 0) {
        send_to(w, a, port);
        return;
    }
    if (full) {
        a->state = REQ_COUNTED;
        if (!tg->activate && tg->nports == 0)
            snprintf(msg, sizeof(msg), "revision %s has no ready replica", tg->revision);
        else
            snprintf(msg, sizeof(msg), "pending request queue full: %d requests wait for revision %s",
                     ks__ingress_queue_depth(g), tg->revision);
        ks_http_send_error(w, req, 503, msg);
        return;
    }
    /* hold it */
    if (held.next == NULL)
        h2o_linklist_init_anchor(&held);
    a->state = REQ_HELD;
    h2o_linklist_insert(&held, &a->link);
    nheld++;
    if (tg->nports == 0) {
        atomic_store(&s->poked, 1);
        ks__ingress_poke(g);
    }
}

/*
 * A held request once more: its revision may have got a replica or a free
 * slot, or may have left the route table (a rollout while it waited: then
 * the host's current revision takes it over, stats and all).
 */
/* takes a held request off the list: the ingress answers it itself */
static void unhold(activation_t *a)
{
    h2o_linklist_unlink(&a->link);
    nheld--;
    pthread_mutex_lock(&a->stat->lock);
    a->stat->held--;
    pthread_mutex_unlock(&a->stat->lock);
    a->state = REQ_COUNTED;
}

static int try_release(ks_ingress_t *g, ks_http_worker_t *w, activation_t *a, uint64_t now)
{
    const ks__route_target_t *tg = ks__ingress_route(g, a->host, a->hlen, a->revision);
    ks_revstat_t *s = a->stat;
    char msg[300];
    int port = 0;

    if (tg == NULL) {
        unhold(a);
        snprintf(msg, sizeof(msg), "host \"%.*s\" is no longer served", (int)(a->hlen > 200 ? 200 : a->hlen), a->host);
        ks_http_send_error(w, a->req, 404, msg);
        return 1;
    }
    if (tg->stat != NULL && tg->stat != s) {
        /* moved to another revision: its stats take the request over */
        uint64_t t = ks_now_ns();
        pthread_mutex_lock(&s->lock);
        account(s, t, -1);
        s->held--;
        pthread_mutex_unlock(&s->lock);
        s = a->stat = tg->stat;
        pthread_mutex_lock(&s->lock);
        account(s, t, +1);
        s->held++;
        pthread_mutex_unlock(&s->lock);
        snprintf(a->revision, sizeof(a->revision), "%s", tg->revision);
        if (tg->nports == 0) {
            atomic_store(&s->poked, 1);
            ks__ingress_poke(g);
        }
    }
    if (now >= a->deadline_ns) {
        unhold(a);
        snprintf(msg, sizeof(msg), "request timed out after %d s waiting for a ready replica of revision %s",
                 tg->timeout_s > 0 ? tg->timeout_s : 300, a->revision);
        ks_http_send_error(w, a->req, 504, msg);
        return 1;
    }
    pthread_mutex_lock(&s->lock);
    /* never again a replica that refused it: a dead one stays routed until the supervisor notices */
    if ((port = pick_replica(s, tg, a->failed, a->nfailed)) != 0)
        s->held--;
    pthread_mutex_unlock(&s->lock);
    if (port == 0)
        return 0;
    h2o_linklist_unlink(&a->link);
    nheld--;
    send_to(w, a, port);
    return 1;
}

void ks__activator_loop(ks_http_worker_t *w, void *data)
{
    ks_ingress_t *g = data;
    uint64_t now;
    h2o_linklist_t *n, *next;

    if (nheld == 0 || held.next == NULL)
        return;
    now = ks_now_ns();
    /* FIFO: the list is in arrival order; a request answered here leaves it */
    for (n = held.next; n != &held; n = next) {
        activation_t *a = H2O_STRUCT_FROM_MEMBER(activation_t, link, n);
        next = n->next;
        if (a->state != REQ_HELD || !h2o_linklist_is_linked(&a->link))
            continue;
        try_release(g, w, a, now);
        /* an answer sent above may have ended other requests: start over from a safe point */
        if (next != &held && !h2o_linklist_is_linked(next))
            break;
    }
}
