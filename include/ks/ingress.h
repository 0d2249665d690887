/*
 * The ingress: HTTP on the ingress port, routing by Host
 * (<isvc>.<ns>.<domain>, <isvc>-predictor.<ns>.<domain>) to a ready replica
 * of the revision the route sends traffic to, through keep-alive connection
 * pools (h2o's proxy).  The reconciler publishes whole route tables; workers
 * read them without a lock (epoch-based reclamation, as the model registry).
 */
#ifndef KS_INGRESS_H
#define KS_INGRESS_H

#include "ks/common.h"

typedef struct ks_ingress ks_ingress_t;
typedef struct ks_routes ks_routes_t;

ks_ingress_t *ks_ingress_new(const char *host, int port, int workers, char *err, size_t errlen);
int ks_ingress_start(ks_ingress_t *g, char *err, size_t errlen);
/* The port actually bound. */
int ks_ingress_port(const ks_ingress_t *g);
/* Stops accepting and drains (up to drain_ms). */
void ks_ingress_stop(ks_ingress_t *g, int drain_ms);
/* Frees route tables retired long enough ago; call periodically. */
void ks_ingress_reclaim(ks_ingress_t *g);

/* A route table under construction. */
/*
 * Every request the ingress routes to a revision is counted on the
 * revision's stats, which the autoscaler's collector reads (src/ingress/activator.h).
 * Found or created by name; lives as long as the ingress.
 */
typedef struct ks_revstat ks_revstat_t;
ks_revstat_t *ks_ingress_revstat(ks_ingress_t *g, const char *ns, const char *rev);
/*
 * Once a second: the time-weighted average number of requests in flight since
 * `since` (ns), the arrivals since the last call, and how many wait in the
 * activator now.  Resets the sums.
 */
void ks_revstat_collect(ks_revstat_t *s, uint64_t now_ns, uint64_t since_ns, double *concurrency, double *requests,
                        int *held);
/* 1 if a request found no ready replica since the last call (clears it) */
int ks_revstat_take_poke(ks_revstat_t *s);
int64_t ks_revstat_in_flight(ks_revstat_t *s);
/* cb(data) runs (on an ingress thread) when a request arrives for a revision with no ready replica */
void ks_ingress_set_poke(ks_ingress_t *g, void (*cb)(void *), void *data);
/* the activator's queue limit per revision (spec: 10000) */
#define KS_ACTIVATOR_QUEUE_DEPTH 10000
void ks_ingress_set_queue_depth(ks_ingress_t *g, int depth);
/* after ks_ingress_stop: frees the revision stats */
void ks_ingress_free_stats(ks_ingress_t *g);

/* how the activator treats a route's revision */
typedef struct ks_route_policy {
    ks_revstat_t *stat;        /* count its requests here (NULL: no activator, round robin) */
    int container_concurrency; /* each replica's capacity; 0 unlimited */
    int timeout_s;             /* a request's limit, waiting included (0: 300) */
    int activate;              /* hold requests while no replica is ready (serverless); else 503 */
} ks_route_policy_t;

ks_routes_t *ks_routes_new(void);
int ks_routes_add_target(ks_routes_t *t, const char *host, const char *revision, int percent, const int *ports,
                         int nports, const ks_route_policy_t *pol);
/*
 * Adds a target to host's route: percent of the host's requests go to the
 * revision, spread over its ready replicas' ports (nports may be 0: the
 * revision has no ready replica, its share is answered 503).
 */
int ks_routes_add(ks_routes_t *t, const char *host, const char *revision, int percent, const int *ports, int nports);
/* A canonical text of the table, to tell whether it changed. */
const char *ks_routes_key(ks_routes_t *t);
void ks_routes_free(ks_routes_t *t);
/* Installs t (ownership passes to the ingress). */
void ks_ingress_publish(ks_ingress_t *g, ks_routes_t *t);

#endif
