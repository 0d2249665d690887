/*
 * The queue layer's breaker.  See include/ks/queue.h and docs/queue.md.
 *
 * Threads: one ks_queue_t serves every worker of an h2o server.  The breaker
 * (counts, FIFO, per-second sums) and each worker's list of admitted-but-not-
 * started requests sit behind q->lock; everything else a ticket holds (its
 * timer, its place in the disconnect watch) belongs to the worker thread that
 * read the request, and only that thread touches it.  A slot freed on one
 * worker may go to a request parked by another: the ticket moves to its
 * owner's ready list under the lock and the owner is woken, through its h2o
 * context's multithread queue (one message per worker, sent only when none is
 * pending), or, when the owner is the current thread, through h2o's zero
 * timeout.  The owner starts it from the top of its loop, never from inside
 * h2o's own callbacks.
 */
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "ks/queue.h"

#define NS_PER_SEC 1000000000ull
#define WATCH_BATCH 64

/* ---- accounting (pure) --------------------------------------------------------------------- */

/* Accounts the time up to now: closes the second(s) that ended since the last call. */
static void advance(ks_breaker_t *b, uint64_t now)
{
    uint64_t count = (uint64_t)(b->in_flight + b->queued), s;

    if (now < b->mark_ns)
        now = b->mark_ns; /* the clock is monotonic; a caller's stale reading changes nothing */
    s = now / NS_PER_SEC;
    if (s > b->sec) {
        b->area += count * ((b->sec + 1) * NS_PER_SEC - b->mark_ns);
        if (s == b->sec + 1) {
            b->last_concurrency = (double)b->area / (double)NS_PER_SEC;
            b->last_rps = b->arrivals;
        } else {
            /* whole seconds went by without a change: the count held, nobody arrived */
            b->last_concurrency = (double)count;
            b->last_rps = 0;
        }
        b->sec = s;
        b->mark_ns = s * NS_PER_SEC;
        b->area = 0;
        b->arrivals = 0;
    }
    b->area += count * (now - b->mark_ns);
    b->mark_ns = now;
}

static void fifo_unlink(ks_breaker_node_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

void ks_breaker_init(ks_breaker_t *b, int capacity, uint64_t now_ns)
{
    memset(b, 0, sizeof(*b));
    b->capacity = capacity > 0 ? capacity : 0;
    b->max_queued = 10 * b->capacity;
    b->fifo.prev = b->fifo.next = &b->fifo;
    b->sec = now_ns / NS_PER_SEC;
    b->mark_ns = now_ns;
}

ks_breaker_verdict_t ks_breaker_arrive(ks_breaker_t *b, ks_breaker_node_t *n, uint64_t now_ns)
{
    advance(b, now_ns);
    b->requests_total++;
    b->arrivals++;
    b->last_arrival_ns = now_ns;
    if (b->capacity == 0 || b->in_flight < b->capacity) {
        /* a free slot means nobody waits: release hands a slot straight to the queue's head */
        KS_ASSERT(b->queued == 0);
        if (++b->in_flight > b->max_in_flight)
            b->max_in_flight = b->in_flight;
        return KS_BREAKER_RUN;
    }
    if (b->queued < b->max_queued) {
        n->prev = b->fifo.prev;
        n->next = &b->fifo;
        b->fifo.prev->next = n;
        b->fifo.prev = n;
        b->queued++;
        return KS_BREAKER_QUEUED;
    }
    b->rejected_total++;
    return KS_BREAKER_REJECTED;
}

ks_breaker_node_t *ks_breaker_release(ks_breaker_t *b, uint64_t now_ns)
{
    ks_breaker_node_t *n;

    advance(b, now_ns);
    KS_ASSERT(b->in_flight > 0);
    if (b->queued == 0) {
        b->in_flight--;
        return NULL;
    }
    n = b->fifo.next;
    fifo_unlink(n);
    b->queued--;
    return n;
}

void ks_breaker_leave(ks_breaker_t *b, ks_breaker_node_t *n, int timed_out, uint64_t now_ns)
{
    advance(b, now_ns);
    KS_ASSERT(b->queued > 0 && n->next != NULL);
    fifo_unlink(n);
    b->queued--;
    if (timed_out)
        b->timeouts_total++;
}

void ks_breaker_count_timeout(ks_breaker_t *b)
{
    b->timeouts_total++;
}

void ks_breaker_stats(ks_breaker_t *b, uint64_t now_ns, ks_queue_stats_t *out)
{
    advance(b, now_ns);
    memset(out, 0, sizeof(*out));
    out->in_flight = b->in_flight;
    out->queued = b->queued;
    out->concurrency = b->last_concurrency;
    out->rps = b->last_rps;
    out->requests_total = b->requests_total;
    out->rejected_total = b->rejected_total;
    out->timeouts_total = b->timeouts_total;
    out->max_in_flight = b->max_in_flight;
    out->container_concurrency = b->capacity;
}

/* ---- the breaker in an h2o server -------------------------------------------------------- */

typedef enum ticket_state {
    T_QUEUED = 1, /* in the breaker's FIFO */
    T_READY,      /* holds a slot, in its worker's ready list, not started yet */
    T_RUNNING,    /* holds a slot, handed to cfg.run */
    T_DONE        /* holds nothing: refused, timed out or left while waiting */
} ticket_state_t;

typedef struct worker_state worker_state_t;

struct ks_queue_ticket {
    ks_breaker_node_t node; /* first: the FIFO gives back nodes */
    ks_queue_t *q;
    worker_state_t *ws;
    h2o_req_t *req;
    ticket_state_t state;       /* under q->lock */
    h2o_linklist_t ready_link;  /* in ws->ready while T_READY (under q->lock) */
    h2o_linklist_t watch_link;  /* in ws->watch while waiting on HTTP/1 (owner thread) */
    h2o_timeout_entry_t deadline;
    ks_queue_abort_cb abort;
    void *abort_ctx;
};

struct worker_state {
    ks_queue_t *q;
    ks_http_worker_t *w;
    pthread_t tid;
    int started;                   /* set up on the first request (owner thread) */
    h2o_timeout_t timeout;         /* the request timeout, in this worker's loop */
    h2o_timeout_entry_t kick;      /* zero timeout: start ready requests */
    h2o_timeout_entry_t watch_timer;
    h2o_linklist_t watch;          /* waiting HTTP/1 requests whose client may leave */
    h2o_multithread_receiver_t receiver;
    h2o_multithread_message_t bell;
    /* under q->lock */
    h2o_linklist_t ready;
    int bell_rung;
};

struct ks_queue {
    ks_queue_config_t cfg;
    pthread_mutex_t lock;
    ks_breaker_t b;
    worker_state_t *ws;
    _Atomic int draining;
    _Atomic uint64_t drain_start_ns;
    _Atomic uint64_t last_note_ns;
};

/* who must be woken once the lock is dropped */
typedef struct wakeup {
    worker_state_t *ring; /* another worker: send its bell */
    worker_state_t *kick; /* this worker: zero timeout */
} wakeup_t;

/* The slot of a finished request went to n (lock held): queue it on its owner's ready list. */
static void hand_over(ks_breaker_node_t *n, wakeup_t *wk)
{
    ks_queue_ticket_t *t = (ks_queue_ticket_t *)n;
    worker_state_t *ws = t->ws;

    t->state = T_READY;
    h2o_linklist_insert(&ws->ready, &t->ready_link);
    if (pthread_equal(ws->tid, pthread_self())) {
        wk->kick = ws;
    } else if (!ws->bell_rung) {
        ws->bell_rung = 1;
        wk->ring = ws;
    }
}

static void wake(const wakeup_t *wk)
{
    if (wk->ring != NULL)
        h2o_multithread_send_message(&wk->ring->receiver, &wk->ring->bell);
    if (wk->kick != NULL && !h2o_timeout_is_linked(&wk->kick->kick))
        h2o_timeout_link(wk->kick->w->ctx->loop, &wk->kick->w->ctx->zero_timeout, &wk->kick->kick);
}

/* A ticket that held a slot gives it up (lock held). */
static void give_up_slot(ks_queue_t *q, ks_queue_ticket_t *t, wakeup_t *wk)
{
    ks_breaker_node_t *n;
    if (t->state == T_READY)
        h2o_linklist_unlink(&t->ready_link);
    if ((n = ks_breaker_release(&q->b, ks_now_ns())) != NULL)
        hand_over(n, wk);
}

static void unwatch(ks_queue_ticket_t *t)
{
    if (h2o_linklist_is_linked(&t->watch_link))
        h2o_linklist_unlink(&t->watch_link);
}

static void send_timeout(ks_queue_t *q, ks_http_worker_t *w, h2o_req_t *req)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "the request timed out after %d s waiting in the queue (container concurrency %d)",
             q->cfg.timeout_seconds, q->cfg.container_concurrency);
    ks_http_send_error(w, req, 504, msg);
}

/*
 * Starts this worker's admitted requests, one at a time (each may be disposed
 * of by the one before).  One whose timeout has come meanwhile is answered
 * 504 rather than started only to be stopped.
 */
static void start_ready(worker_state_t *ws)
{
    ks_queue_t *q = ws->q;
    uint64_t now = h2o_now(ws->w->ctx->loop);
    for (;;) {
        ks_queue_ticket_t *t;
        wakeup_t wk = {NULL, NULL};
        int expired;
        pthread_mutex_lock(&q->lock);
        if (h2o_linklist_is_empty(&ws->ready)) {
            pthread_mutex_unlock(&q->lock);
            return;
        }
        t = H2O_STRUCT_FROM_MEMBER(ks_queue_ticket_t, ready_link, ws->ready.next);
        if ((expired = now >= t->deadline.registered_at + ws->timeout.timeout)) {
            give_up_slot(q, t, &wk);
            ks_breaker_count_timeout(&q->b);
            t->state = T_DONE;
        } else {
            h2o_linklist_unlink(&t->ready_link);
            t->state = T_RUNNING;
        }
        pthread_mutex_unlock(&q->lock);
        wake(&wk);
        unwatch(t);
        if (expired) {
            if (h2o_timeout_is_linked(&t->deadline))
                h2o_timeout_unlink(&t->deadline);
            send_timeout(q, ws->w, t->req);
            continue;
        }
        q->cfg.run(ws->w, t->req, t, q->cfg.data);
        ks_arena_reset(&ws->w->arena);
    }
}

static void on_kick(h2o_timeout_entry_t *e)
{
    start_ready(H2O_STRUCT_FROM_MEMBER(worker_state_t, kick, e));
}

static void on_bell(h2o_multithread_receiver_t *r, h2o_linklist_t *messages)
{
    worker_state_t *ws = H2O_STRUCT_FROM_MEMBER(worker_state_t, receiver, r);
    /* unlinked before bell_rung clears, so the next ring finds the message free */
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    pthread_mutex_lock(&ws->q->lock);
    ws->bell_rung = 0;
    pthread_mutex_unlock(&ws->q->lock);
    start_ready(ws);
}

/* h2o disposes of the request (answered, or its connection went): give back what the ticket holds. */
static void on_ticket_dispose(void *p)
{
    ks_queue_ticket_t *t = p;
    ks_queue_t *q = t->q;
    wakeup_t wk = {NULL, NULL};

    if (h2o_timeout_is_linked(&t->deadline))
        h2o_timeout_unlink(&t->deadline);
    unwatch(t);
    pthread_mutex_lock(&q->lock);
    switch (t->state) {
    case T_QUEUED: ks_breaker_leave(&q->b, &t->node, 0, ks_now_ns()); break;
    case T_READY:
    case T_RUNNING: give_up_slot(q, t, &wk); break;
    case T_DONE: break;
    }
    t->state = T_DONE;
    pthread_mutex_unlock(&q->lock);
    wake(&wk);
}

/*
 * Takes a waiting ticket out of the breaker (lock not held).  Returns 1 if it
 * was waiting (queued, or admitted but not started), 0 if it runs or is done.
 */
static int take_out(ks_queue_ticket_t *t, int timed_out)
{
    ks_queue_t *q = t->q;
    wakeup_t wk = {NULL, NULL};
    int was = 1;

    pthread_mutex_lock(&q->lock);
    if (t->state == T_QUEUED)
        ks_breaker_leave(&q->b, &t->node, timed_out, ks_now_ns());
    else if (t->state == T_READY) {
        give_up_slot(q, t, &wk);
        if (timed_out)
            ks_breaker_count_timeout(&q->b);
    } else
        was = 0;
    if (was)
        t->state = T_DONE;
    pthread_mutex_unlock(&q->lock);
    wake(&wk);
    if (was) {
        unwatch(t);
        if (h2o_timeout_is_linked(&t->deadline))
            h2o_timeout_unlink(&t->deadline);
    }
    return was;
}

static void on_deadline(h2o_timeout_entry_t *e)
{
    ks_queue_ticket_t *t = H2O_STRUCT_FROM_MEMBER(ks_queue_ticket_t, deadline, e);
    ks_queue_t *q = t->q;
    ks_http_worker_t *w = t->ws->w;
    ks_queue_abort_cb abort;

    if (take_out(t, 1)) {
        send_timeout(q, w, t->req);
        return;
    }
    pthread_mutex_lock(&q->lock);
    abort = t->state == T_RUNNING ? t->abort : NULL;
    pthread_mutex_unlock(&q->lock);
    if (abort != NULL && abort(w, t->req, t->abort_ctx)) {
        pthread_mutex_lock(&q->lock);
        ks_breaker_count_timeout(&q->b);
        pthread_mutex_unlock(&q->lock);
    }
}

/*
 * HTTP/1 in h2o 2.2 stops reading a connection while its request is being
 * handled, so a client that hangs up while its request waits is not seen by
 * h2o until it writes the answer.  Every 100 ms a worker polls the sockets of
 * its waiting HTTP/1 requests for a hang-up (POLLRDHUP: the peer closed, as
 * Go's server, Knative's queue-proxy, takes it); HTTP/2 streams are disposed
 * of by h2o when reset, which on_ticket_dispose handles.
 */
static void on_watch(h2o_timeout_entry_t *e)
{
    worker_state_t *ws = H2O_STRUCT_FROM_MEMBER(worker_state_t, watch_timer, e);
    h2o_linklist_t *node = ws->watch.next;

    while (node != &ws->watch) {
        ks_queue_ticket_t *batch[WATCH_BATCH];
        struct pollfd fds[WATCH_BATCH];
        int n = 0;
        for (; node != &ws->watch && n < WATCH_BATCH; node = node->next) {
            batch[n] = H2O_STRUCT_FROM_MEMBER(ks_queue_ticket_t, watch_link, node);
            fds[n].fd = ks_http_req_fd(batch[n]->req);
            fds[n].events = POLLRDHUP;
            fds[n].revents = 0;
            ++n;
        }
        if (poll(fds, (nfds_t)n, 0) <= 0)
            continue;
        for (int i = 0; i < n; ++i) {
            if ((fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0 || !take_out(batch[i], 0))
                continue;
            /* the answer goes nowhere; sending it makes h2o close the connection and free the request */
            batch[i]->req->http1_is_persistent = 0;
            ks_http_send_error(ws->w, batch[i]->req, 499, "the client closed the connection while the request waited");
        }
    }
    if (!h2o_linklist_is_empty(&ws->watch))
        h2o_timeout_link(ws->w->ctx->loop, &ws->w->ctx->hundred_ms_timeout, &ws->watch_timer);
}

static void watch(worker_state_t *ws, ks_queue_ticket_t *t)
{
    if (ks_http_req_fd(t->req) < 0)
        return;
    h2o_linklist_insert(&ws->watch, &t->watch_link);
    if (!h2o_timeout_is_linked(&ws->watch_timer))
        h2o_timeout_link(ws->w->ctx->loop, &ws->w->ctx->hundred_ms_timeout, &ws->watch_timer);
}

/* on the worker's thread, before its first ticket */
static void start_worker(ks_queue_t *q, worker_state_t *ws, ks_http_worker_t *w)
{
    ws->w = w;
    ws->tid = pthread_self();
    h2o_timeout_init(w->ctx->loop, &ws->timeout, (uint64_t)q->cfg.timeout_seconds * 1000);
    ws->kick.cb = on_kick;
    ws->watch_timer.cb = on_watch;
    h2o_linklist_init_anchor(&ws->watch);
    h2o_multithread_register_receiver(w->ctx->queue, &ws->receiver, on_bell);
    ws->started = 1;
}

ks_queue_t *ks_queue_new(const ks_queue_config_t *cfg)
{
    ks_queue_t *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->cfg = *cfg;
    if (q->cfg.timeout_seconds <= 0)
        q->cfg.timeout_seconds = 300;
    if ((q->ws = calloc((size_t)(cfg->workers > 0 ? cfg->workers : 1), sizeof(*q->ws))) == NULL) {
        free(q);
        return NULL;
    }
    for (int i = 0; i < cfg->workers; ++i) {
        q->ws[i].q = q;
        h2o_linklist_init_anchor(&q->ws[i].ready);
    }
    pthread_mutex_init(&q->lock, NULL);
    ks_breaker_init(&q->b, cfg->container_concurrency, ks_now_ns());
    return q;
}

/*
 * After the server stopped (its loops never run again): unlinks what the
 * workers' loops still point at, then frees.  Requests still unanswered by
 * then die with the process, as their connections do.
 */
void ks_queue_free(ks_queue_t *q)
{
    if (q == NULL)
        return;
    for (int i = 0; i < q->cfg.workers; ++i) {
        worker_state_t *ws = &q->ws[i];
        if (!ws->started)
            continue;
        while (!h2o_linklist_is_empty(&ws->timeout._entries))
            h2o_timeout_unlink(H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, ws->timeout._entries.next));
        h2o_timeout_dispose(ws->w->ctx->loop, &ws->timeout);
        if (h2o_timeout_is_linked(&ws->kick))
            h2o_timeout_unlink(&ws->kick);
        if (h2o_timeout_is_linked(&ws->watch_timer))
            h2o_timeout_unlink(&ws->watch_timer);
        if (h2o_linklist_is_linked(&ws->bell.link))
            h2o_linklist_unlink(&ws->bell.link);
        h2o_multithread_unregister_receiver(ws->w->ctx->queue, &ws->receiver);
    }
    pthread_mutex_destroy(&q->lock);
    free(q->ws);
    free(q);
}

void ks_queue_submit(ks_queue_t *q, ks_http_worker_t *w, h2o_req_t *req)
{
    worker_state_t *ws = &q->ws[w->id];
    ks_queue_ticket_t *t;
    ks_breaker_verdict_t v;
    int in_flight = 0, queued = 0;
    char msg[200];

    if (!ws->started)
        start_worker(q, ws, w);
    t = h2o_mem_alloc_shared(&req->pool, sizeof(*t), on_ticket_dispose);
    memset(t, 0, sizeof(*t));
    t->q = q;
    t->ws = ws;
    t->req = req;
    t->deadline.cb = on_deadline;
    pthread_mutex_lock(&q->lock);
    v = ks_breaker_arrive(&q->b, &t->node, ks_now_ns());
    t->state = v == KS_BREAKER_RUN ? T_RUNNING : v == KS_BREAKER_QUEUED ? T_QUEUED : T_DONE;
    in_flight = q->b.in_flight;
    queued = q->b.queued;
    pthread_mutex_unlock(&q->lock);

    if (v == KS_BREAKER_REJECTED) {
        snprintf(msg, sizeof(msg), "overloaded: %d requests in flight and %d queued (container concurrency %d)",
                 in_flight, queued, q->cfg.container_concurrency);
        ks_http_send_error(w, req, 503, msg);
        return;
    }
    h2o_timeout_link(w->ctx->loop, &ws->timeout, &t->deadline);
    if (v == KS_BREAKER_QUEUED) {
        watch(ws, t);
        return;
    }
    q->cfg.run(w, req, t, q->cfg.data);
}

void ks_queue_set_abort(ks_queue_ticket_t *t, ks_queue_abort_cb cb, void *ctx)
{
    /* the owner thread is the only reader (on_deadline): no lock */
    t->abort = cb;
    t->abort_ctx = ctx;
}

void ks_queue_note_request(ks_queue_t *q)
{
    atomic_store_explicit(&q->last_note_ns, ks_now_ns(), memory_order_relaxed);
}

void ks_queue_start_drain(ks_queue_t *q)
{
    atomic_store(&q->drain_start_ns, ks_now_ns());
    atomic_store(&q->draining, 1);
}

int ks_queue_draining(ks_queue_t *q)
{
    return atomic_load(&q->draining);
}

int ks_queue_quiet(ks_queue_t *q, int quiet_ms)
{
    uint64_t now = ks_now_ns(), last, t;
    int busy;

    pthread_mutex_lock(&q->lock);
    busy = q->b.in_flight + q->b.queued;
    last = q->b.last_arrival_ns;
    pthread_mutex_unlock(&q->lock);
    if ((t = atomic_load(&q->last_note_ns)) > last)
        last = t;
    if ((t = atomic_load(&q->drain_start_ns)) > last)
        last = t;
    return busy == 0 && now - last >= (uint64_t)quiet_ms * 1000000u;
}

void ks_queue_get_stats(ks_queue_t *q, ks_queue_stats_t *out)
{
    pthread_mutex_lock(&q->lock);
    ks_breaker_stats(&q->b, ks_now_ns(), out);
    pthread_mutex_unlock(&q->lock);
    out->draining = ks_queue_draining(q);
}

int ks_queue_serve_endpoint(ks_queue_t *q, ks_http_worker_t *w, h2o_req_t *req, int ready)
{
    const char *path = req->path.base, *qm;
    size_t len = req->path.len;
    int stats;
    ks_queue_stats_t s;

    if ((qm = memchr(path, '?', len)) != NULL)
        len = (size_t)(qm - path);
    if (h2o_memis(path, len, H2O_STRLIT("/ks/queue/stats")))
        stats = 1;
    else if (h2o_memis(path, len, H2O_STRLIT("/ks/queue/ready")))
        stats = 0;
    else
        return 0;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
        ks_http_send_error(w, req, 405, "method not allowed (use GET)");
        return 1;
    }
    if (!stats) {
        if (ready && !ks_queue_draining(q))
            ks_http_send(req, 200, NULL, H2O_STRLIT("{\"ready\":true}"));
        else if (ks_queue_draining(q))
            ks_http_send(req, 503, NULL, H2O_STRLIT("{\"ready\":false,\"draining\":true}"));
        else
            ks_http_send(req, 503, NULL, H2O_STRLIT("{\"ready\":false,\"draining\":false}"));
        return 1;
    }
    ks_queue_get_stats(q, &s);
    ks_buf_reset(&w->out);
    ks_buf_printf(&w->out,
                  "{\"in_flight\":%d,\"queued\":%d,\"concurrency\":%.6f,\"rps\":%llu,\"requests_total\":%llu,"
                  "\"rejected_total\":%llu,\"timeouts_total\":%llu,\"max_in_flight\":%d,\"container_concurrency\":%d,"
                  "\"timeout_seconds\":%d,\"draining\":%s}",
                  s.in_flight, s.queued, s.concurrency, (unsigned long long)s.rps, (unsigned long long)s.requests_total,
                  (unsigned long long)s.rejected_total, (unsigned long long)s.timeouts_total, s.max_in_flight,
                  s.container_concurrency, q->cfg.timeout_seconds, s.draining ? "true" : "false");
    ks_http_send(req, 200, NULL, w->out.base, w->out.len);
    return 1;
}
