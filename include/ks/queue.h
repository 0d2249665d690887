/*
 * The queue layer (spec: autoscaling.md section 6): the breaker in front of a
 * replica's request handler, and the per-second figures the autoscaler reads.
 *
 * Two parts:
 *   - ks_breaker_t, the accounting: admission (at most CC in flight, 10 * CC
 *     waiting, the rest refused), the FIFO of waiting requests, and the
 *     time-weighted concurrency and arrivals of each second.  Pure: no lock,
 *     no I/O, the clock passed in, so unit tests drive it with a fake clock.
 *   - ks_queue_t, the breaker at work in an h2o server: one per process,
 *     shared by every worker thread behind one mutex.  It parks requests,
 *     starts them (on the thread that owns them) as slots free, answers 503
 *     when full, 504 at the request timeout, and notices clients that leave.
 *
 * Used by `kserve model-server` (inference paths only) and by
 * `kserve queue-proxy` (every request, proxied to the model server).
 */
#ifndef KS_QUEUE_H
#define KS_QUEUE_H

#include <stdint.h>

#include "ks/http.h"

/* ---- accounting (pure) ------------------------------------------------------------------ */

/* A request waiting in the breaker's FIFO (embedded in the caller's request state). */
typedef struct ks_breaker_node {
    struct ks_breaker_node *prev, *next;
} ks_breaker_node_t;

/* What /ks/queue/stats shows. */
typedef struct ks_queue_stats {
    int in_flight;              /* requests holding a slot (running) */
    int queued;                 /* requests waiting for one */
    double concurrency;         /* last complete second: time-weighted average of in_flight + queued */
    uint64_t rps;               /* last complete second: requests that arrived in it (refused ones too) */
    uint64_t requests_total;    /* every request that reached the breaker */
    uint64_t rejected_total;    /* answered 503: the queue was full */
    uint64_t timeouts_total;    /* answered 504 (or cut off) at the request timeout */
    int max_in_flight;          /* the most in flight at once since start */
    int container_concurrency;  /* CC (0: unlimited) */
    int draining;
} ks_queue_stats_t;

typedef struct ks_breaker {
    int capacity;   /* CC: slots; 0 = unlimited */
    int max_queued; /* 10 * CC */
    int in_flight;
    int queued;
    int max_in_flight;
    ks_breaker_node_t fifo; /* anchor: fifo.next is the oldest */
    uint64_t requests_total, rejected_total, timeouts_total;
    uint64_t last_arrival_ns;
    /* the second being measured: [sec * 1e9, (sec + 1) * 1e9) */
    uint64_t sec;
    uint64_t mark_ns; /* accounted up to here */
    uint64_t area;    /* sum of (in_flight + queued) * dt in ns, over [sec start, mark_ns) */
    uint64_t arrivals;
    /* the last complete second */
    double last_concurrency;
    uint64_t last_rps;
} ks_breaker_t;

/* What ks_breaker_arrive decided. */
typedef enum ks_breaker_verdict {
    KS_BREAKER_RUN = 0, /* a slot was free: the request holds it now */
    KS_BREAKER_QUEUED,  /* appended to the FIFO */
    KS_BREAKER_REJECTED /* in flight + queued = 11 * CC already: answer 503 now */
} ks_breaker_verdict_t;

/* Sets up b for CC = capacity (0: unlimited; no queue) at time now_ns. */
void ks_breaker_init(ks_breaker_t *b, int capacity, uint64_t now_ns);
/* A request arrives; n is linked into the FIFO when the verdict is KS_BREAKER_QUEUED. */
ks_breaker_verdict_t ks_breaker_arrive(ks_breaker_t *b, ks_breaker_node_t *n, uint64_t now_ns);
/*
 * A request holding a slot is done.  Its slot passes to the oldest waiting
 * request, which is unlinked and returned (it holds the slot now: start it);
 * NULL when nobody waits.
 */
ks_breaker_node_t *ks_breaker_release(ks_breaker_t *b, uint64_t now_ns);
/* A waiting request leaves the FIFO without running (its client left, or it timed out: timed_out 1). */
void ks_breaker_leave(ks_breaker_t *b, ks_breaker_node_t *n, int timed_out, uint64_t now_ns);
/* A running request was cut off at the request timeout (counted only). */
void ks_breaker_count_timeout(ks_breaker_t *b);
/* Brings the per-second figures up to now_ns and copies everything into out. */
void ks_breaker_stats(ks_breaker_t *b, uint64_t now_ns, ks_queue_stats_t *out);

/* ---- the breaker in an h2o server ------------------------------------------------------- */

typedef struct ks_queue ks_queue_t;
/* One request through the queue; lives in the request's pool. */
typedef struct ks_queue_ticket ks_queue_ticket_t;

/*
 * Runs an admitted request on its worker's thread: answer it, or start
 * something that will (the proxy).  The request holds its slot until h2o
 * disposes of it (answer sent, or connection gone).
 */
typedef void (*ks_queue_run_cb)(ks_http_worker_t *w, h2o_req_t *req, ks_queue_ticket_t *t, void *data);
/*
 * The request timeout passed while the request runs: stop it and answer 504
 * (or cut the answer off if it has started).  Returns 1 if it did so, 0 if
 * the request was already answered.
 */
typedef int (*ks_queue_abort_cb)(ks_http_worker_t *w, h2o_req_t *req, void *ctx);

typedef struct ks_queue_config {
    int container_concurrency; /* CC, 0..1000; 0: unlimited (counted, never queued) */
    int timeout_seconds;       /* request timeout, queue time included (KServe `timeout`, 300) */
    int workers;               /* the http server's worker count (ks_http_worker_t.id < workers) */
    ks_queue_run_cb run;
    void *data;                /* passed to run */
} ks_queue_config_t;

/* A queue for cfg (copied); NULL when out of memory.  Free with ks_queue_free after the server stopped. */
ks_queue_t *ks_queue_new(const ks_queue_config_t *cfg);
void ks_queue_free(ks_queue_t *q);

/*
 * Puts req through the breaker, from a request handler on worker w: runs it
 * now (cfg.run), parks it, or answers 503.  Parked requests are started as
 * slots free, on w's thread, in arrival order across all workers.
 */
void ks_queue_submit(ks_queue_t *q, ks_http_worker_t *w, h2o_req_t *req);
/* From cfg.run: what to call if the request timeout passes while it runs (NULL: let it finish). */
void ks_queue_set_abort(ks_queue_ticket_t *t, ks_queue_abort_cb cb, void *ctx);

/* A request that bypasses the breaker but counts as traffic for the drain's quiet period. */
void ks_queue_note_request(ks_queue_t *q);
/* From now on /ks/queue/ready says 503 and the quiet period runs (SIGTERM). */
void ks_queue_start_drain(ks_queue_t *q);
int ks_queue_draining(ks_queue_t *q);
/*
 * 1 when nothing is in flight or queued and no request arrived for quiet_ms
 * (counted from the drain's start at the earliest).
 */
int ks_queue_quiet(ks_queue_t *q, int quiet_ms);
void ks_queue_get_stats(ks_queue_t *q, ks_queue_stats_t *out);

/*
 * Answers GET /ks/queue/stats (the figures as JSON) and GET /ks/queue/ready
 * (200 when ready is non-zero and not draining, else 503); returns 1 if req
 * was one of them, 0 to let the caller handle it.
 */
int ks_queue_serve_endpoint(ks_queue_t *q, ks_http_worker_t *w, h2o_req_t *req, int ready);

/* ---- kserve queue-proxy: the breaker as a process in front of a model server ------------------ */

typedef struct ks_queue_proxy_config {
    const char *host;           /* --host (127.0.0.1) */
    int port;                   /* --port (8012, Knative's queue-proxy port) */
    int upstream;               /* --upstream PORT on 127.0.0.1 (required) */
    int container_concurrency;  /* --container-concurrency (0: unlimited) */
    int timeout_seconds;        /* --timeout-seconds (300) */
    int drain_seconds;          /* --drain-seconds (30, Knative's drain period) */
    const char *readiness_path; /* --readiness-path: HTTP GET probe of the upstream (NULL: TCP connect) */
    int workers;                /* --workers (one per core) */
    char **command;             /* after "--": the model server to start and supervise (NULL: none) */
} ks_queue_proxy_config_t;

/*
 * Parses argv (argv[0] is the subcommand; --flag value, --flag=value, '-' or
 * '_' inside names).  Returns 0, 1 for --help, or KS_EINVAL with a message
 * naming the flag in err.
 */
int ks_queue_proxy_parse_flags(int argc, char **argv, ks_queue_proxy_config_t *cfg, char *err, size_t errlen);
extern const char ks_queue_proxy_usage[];
/* `kserve queue-proxy`: returns the process exit status (2: bad flags). */
int ks_queue_proxy_main(int argc, char **argv);

#endif
