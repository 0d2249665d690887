/*
 * The API server: Kubernetes-style REST for InferenceService,
 * ServingRuntime, ClusterServingRuntime and (read only) Revision, over a
 * Unix socket in $KSERVE_HOME (and optionally loopback TCP).
 */
#ifndef KS_APISERVER_H
#define KS_APISERVER_H

#include "ks/reconciler.h"
#include "ks/store.h"

typedef struct ks_apiserver ks_apiserver_t;

/* unix_path or (host, port) when unix_path is NULL. */
ks_apiserver_t *ks_apiserver_new(ks_store_t *store, ks_reconciler_t *rec, const char *unix_path, const char *host,
                                 int port, char *err, size_t errlen);
int ks_apiserver_start(ks_apiserver_t *a, char *err, size_t errlen);
void ks_apiserver_stop(ks_apiserver_t *a);

/* `kserve up`: the daemon. */
int ks_up_main(int argc, char **argv);

#endif
