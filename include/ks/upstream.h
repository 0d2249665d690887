/*
 * The upstream client: the ingress's and activator's reverse proxy to the
 * replicas on 127.0.0.1.
 *
 * A request goes out over a per-worker pool of keep-alive HTTP/1.1
 * connections and its answer streams back as it arrives.  When a replica
 * cannot have seen the request (connection refused, or a kept-alive
 * connection found closed before any byte of an answer) the request goes
 * again, to a replica the caller picks, up to KS_UPSTREAM_MAX_ATTEMPTS
 * times.  The caller hears of every replica it picked, exactly once, so it
 * can keep exact in-flight counts.  docs/upstream.md has the design.
 */
#ifndef KS_UPSTREAM_H
#define KS_UPSTREAM_H

#include "ks/http.h"

#define KS_UPSTREAM_MAX_ATTEMPTS 3 /* replicas tried per request, the first included */
#define KS_UPSTREAM_IDLE_MS 2000   /* an unused upstream connection closes after this */
#define KS_UPSTREAM_MAX_IDLE 256   /* idle connections kept per port per worker */

/*
 * What the caller decides and hears; both run on the worker's thread, and
 * neither may answer the request.
 *
 * pick_cb: the port for attempt `attempt` (0 first), or -1 (any value <= 0)
 * when there is none: the request then gets 502 {"error": ...}.  failed_port is the port of the
 * attempt that just failed without the request reaching it (-1 for attempt 0).
 *
 * done_cb: the request has ended (its answer fully handed to the client's
 * socket, or the client gone, or an error sent).  Called exactly once.  port
 * is the port of the last attempt (-1 if pick_cb never gave one) and status
 * the status sent to the client (0 if none).
 *
 * So every port pick_cb returns comes back exactly once: as the failed_port
 * of the next pick_cb, or as done_cb's port.  Counting +1 on pick and -1 on
 * each return keeps a replica's in-flight count exact.
 */
/*
 * pick_cb may return this on a retry (attempt > 0): the caller takes the
 * request back (it was not sent) and will answer it or proxy it again later;
 * the client sends nothing.  done_cb still comes, with port -1.
 */
#define KS_UPSTREAM_REQUEUE (-2)

typedef struct ks_upstream_ops {
    int (*pick_cb)(void *data, int attempt, int failed_port);
    void (*done_cb)(void *data, int port, int status);
} ks_upstream_ops_t;

/*
 * Proxies req (method, path, headers, body) to 127.0.0.1:<picked port> and
 * streams the answer (status, headers, body) back.  io_timeout_ms bounds each
 * wait on the replica (connect, send, every read; 0: the server's
 * proxy_io_timeout_ms): when the replica does not answer in time the client
 * gets 504, when it stalls mid-answer the client's response is cut.
 *
 * Call it from a ks_http handler, on the worker's thread, instead of
 * answering.  ops must outlive the request; data must live until done_cb.
 */
void ks_upstream_proxy(ks_http_worker_t *w, h2o_req_t *req, const ks_upstream_ops_t *ops, void *data,
                       uint64_t io_timeout_ms);

/* Process-wide counters, for tests and metrics. */
typedef struct ks_upstream_stats {
    uint64_t connects;       /* upstream connections opened */
    uint64_t reused;         /* requests sent on a kept-alive connection */
    uint64_t retries;        /* attempts after a first one */
    int64_t connections;     /* upstream connections open now (busy or idle) */
    int64_t pools;           /* per-worker, per-port pools alive now */
} ks_upstream_stats_t;

void ks_upstream_stats(ks_upstream_stats_t *out);

#endif
