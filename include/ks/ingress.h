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
ks_routes_t *ks_routes_new(void);
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
