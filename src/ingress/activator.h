/*
 * The activator: the gateway's part of serverless scaling (spec
 * autoscaling.md sections 1 and 5), inside the ingress.
 *
 * Every request the ingress routes to a revision is counted here, from its
 * arrival to the end of its answer: the revision's in-flight count, its
 * time-weighted concurrency and its request count, which the autoscaler's
 * collector reads once a second (ks_revstat_collect).  The ingress is the one
 * gateway, so each request is counted once.
 *
 * A request goes to a ready replica with a free slot (containerConcurrency
 * CC as each replica's capacity; CC 0 is unlimited).  When the revision has
 * no ready replica, or every replica is full, the request is held in a
 * bounded queue on its worker (503 when full, 504 past the revision's
 * timeout), the autoscaler is poked when no replica is ready, and held
 * requests go on as soon as a slot or a replica appears.
 */
#ifndef KS_INGRESS_ACTIVATOR_H
#define KS_INGRESS_ACTIVATOR_H

#include <pthread.h>
#include <stdint.h>

#include "ks/http.h"
#include "ks/ingress.h"

#define KS_REVSTAT_MAX_PORTS 64

typedef struct ks_revstat_port {
    int port;
    int in_flight;
} ks_revstat_port_t;

struct ks_revstat {
    struct ks_revstat *next;
    char *key; /* "namespace/revision" */
    pthread_mutex_t lock;
    /* under lock: */
    int64_t in_flight;   /* arrived and not yet answered, held ones included */
    int held;            /* waiting in the activator */
    uint64_t last_ns;    /* time of the last change of in_flight */
    double area;         /* sum(in_flight * dt) since the last collection, in request-ns */
    uint64_t requests;   /* arrivals since the last collection */
    uint64_t requests_total;
    ks_revstat_port_t ports[KS_REVSTAT_MAX_PORTS];
    int nports;
    unsigned rr;
    _Atomic int poked;   /* a request found no ready replica since the autoscaler last looked */
};

/* the ingress's worker-side entry points */
void ks__activator_handle(ks_ingress_t *g, ks_http_worker_t *w, h2o_req_t *req, const char *host, size_t hlen);
void ks__activator_loop(ks_http_worker_t *w, void *data);

/* what activator.c needs of the ingress */
typedef struct ks__route_target {
    char *revision;
    int percent;
    int nports;
    int *ports;
    ks_revstat_t *stat;
    int cc, timeout_s, activate;
} ks__route_target_t;

const ks__route_target_t *ks__ingress_route(ks_ingress_t *g, const char *host, size_t hlen, const char *revision);
void ks__ingress_proxy(ks_http_worker_t *w, h2o_req_t *req, int port);
void ks__ingress_poke(ks_ingress_t *g);
int ks__ingress_queue_depth(ks_ingress_t *g);
void ks__ingress_wake(ks_ingress_t *g);

#endif
