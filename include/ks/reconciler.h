/*
 * The reconciler: level-triggered and idempotent.  Each pass reads the
 * desired state (InferenceServices, ServingRuntimes) from the store,
 * compares it with what runs (Revisions, the supervisor's replicas, the
 * ingress routes) and acts: creates a Revision for every change of a
 * component's spec, chooses the runtime, has the storage initializer fetch
 * the model, tells the supervisor how many replicas each revision runs,
 * switches traffic once a new revision is ready, stops what no route needs,
 * and writes status and events back to the store.
 */
#ifndef KS_RECONCILER_H
#define KS_RECONCILER_H

#include <jansson.h>

#include "ks/autoscaler.h"
#include "ks/ingress.h"
#include "ks/store.h"
#include "ks/supervisor.h"

typedef struct ks_platform_config {
    const char *home;     /* $KSERVE_HOME */
    const char *domain;   /* example.com */
    const char *self_exe; /* this binary, for runtimes whose command is "kserve" */
    int ingress_port;
    ks_kpa_config_t autoscaler;   /* platform-wide autoscaler defaults (--autoscaler-config) */
    int activator_queue_depth;    /* requests one revision may have waiting in the activator */
    int hpa_sync_s;               /* RawDeployment's HPA: sync period (0: 15 s) */
    double hpa_tolerance;         /* (< 0: 0.1) */
    int64_t hpa_down_window_s;    /* scale-down stabilisation (< 0: 300 s) */
} ks_platform_config_t;

typedef struct ks_reconciler ks_reconciler_t;

ks_reconciler_t *ks_reconciler_new(ks_store_t *store, ks_supervisor_t *sup, ks_ingress_t *ingress,
                                   const ks_platform_config_t *cfg);
/* One pass over everything. */
void ks_reconciler_pass(ks_reconciler_t *r);
/* Runs passes on a thread: at once on ks_reconciler_poke(), else when the supervisor asks. */
int ks_reconciler_start(ks_reconciler_t *r);
void ks_reconciler_poke(ks_reconciler_t *r);
/* Adds the autoscaler's live figures (averages, EBC) to an InferenceService's or Revision's status; thread safe. */
void ks_reconciler_overlay(ks_reconciler_t *r, json_t *obj);
/* The platform's allow-zero-initial-scale. */
int ks_reconciler_allows_zero_initial_scale(const ks_reconciler_t *r);
/* Stops the thread; with stop_replicas, stops every replica first (daemon shutdown). */
void ks_reconciler_stop(ks_reconciler_t *r, int stop_replicas);

/*
 * Chooses the ServingRuntime for a predictor's model as KServe does: the
 * named runtime when model.runtime is set, else among runtimes that are not
 * disabled, support the protocol and list the format with autoSelect,
 * namespace runtimes before cluster runtimes, then the highest priority.
 * Returns the chosen runtime (borrowed from the arrays) or NULL with a
 * reason (NoSupportingRuntime, RuntimeNotRecognized, RuntimeDisabled) and a
 * message.
 */
json_t *ks_select_runtime(json_t *model, json_t *ns_runtimes, json_t *cluster_runtimes, const char **reason, char *err,
                          size_t errlen);

/* The built-in ClusterServingRuntimes (the YAML files of config/runtimes/) as a new JSON array. */
json_t *ks_builtin_runtimes(void);

#endif
