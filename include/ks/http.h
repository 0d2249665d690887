/*
 * The HTTP layer: h2o's event loop, one per worker thread, each with its own
 * SO_REUSEPORT listener, so workers share no lock and no socket.
 *
 * It also turns h2o's own error answers (413 for an oversized body, 400 for a
 * broken request line) into the protocol's {"error": "..."} bodies, tracks
 * connections so SIGTERM can drain them, and keeps the per-worker quiescent
 * epochs that let a model be freed once no worker can still see it.
 */
#ifndef KS_HTTP_H
#define KS_HTTP_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdatomic.h>

#include "ks/buf.h"

typedef struct ks_http_server ks_http_server_t;

typedef struct ks_http_worker {
    int id;
    ks_http_server_t *server;
    ks_arena_t arena; /* per-request arena, reset after each request */
    ks_buf_t out;     /* response body scratch */
    h2o_context_t *ctx;
} ks_http_worker_t;

/* Handles one request: answers it, or hands it to h2o (e.g. the proxy) before returning. */
typedef void (*ks_http_handler_cb)(ks_http_worker_t *w, h2o_req_t *req, void *data);

typedef struct ks_http_config {
    const char *host;
    int port;           /* 0: any free port */
    const char *unix_path; /* listen on this Unix socket instead of host:port */
    uint64_t proxy_io_timeout_ms; /* for handlers that proxy (0: h2o's default) */
    int workers;
    size_t max_body;    /* larger bodies get 413 */
    ks_http_handler_cb handler;
    /* optional: called on each worker's thread after every turn of its loop (at least every 100 ms) and after ks_http_server_wake */
    void (*loop_cb)(ks_http_worker_t *w, void *data);
    void *data;
} ks_http_config_t;

/* Binds the listeners (so errors show before anything starts). */
ks_http_server_t *ks_http_server_new(const ks_http_config_t *cfg, char *err, size_t errlen);
/* The port actually bound. */
int ks_http_server_port(const ks_http_server_t *s);
/* Starts the worker threads. */
int ks_http_server_start(ks_http_server_t *s, char *err, size_t errlen);
/*
 * Stops accepting, lets requests in flight finish for up to drain_ms, joins
 * the workers and frees the server.
 */
void ks_http_server_stop(ks_http_server_t *s, int drain_ms);

/* Makes every worker run cfg.loop_cb soon; callable from any thread. */
void ks_http_server_wake(ks_http_server_t *s);

/*
 * Epoch-based reclamation: ks_http_retire_epoch() opens a new epoch; once
 * ks_http_quiescent(s, e) is true, every worker has finished every request
 * it was serving when epoch e opened.
 */
uint64_t ks_http_retire_epoch(ks_http_server_t *s);
int ks_http_quiescent(ks_http_server_t *s, uint64_t epoch);

/* Answers with body (copied) and status; content_type NULL means JSON. */
void ks_http_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
/* Answers {"error": msg} with status. */
void ks_http_send_error(ks_http_worker_t *w, h2o_req_t *req, int status, const char *msg);
/* A header's value, or NULL (len in *len). */
const char *ks_http_header(h2o_req_t *req, const char *lname, size_t *len);
/* The socket of an HTTP/1 request's connection (to poll for a hang-up; never read it), or -1 (HTTP/2). */
int ks_http_req_fd(h2o_req_t *req);

#endif
