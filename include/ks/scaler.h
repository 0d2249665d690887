/*
 * The live autoscaler: one KPA decider per revision (include/ks/autoscaler.h,
 * the same code `kserve autoscaler replay` runs), fed once a second by the
 * collector from the ingress's per-revision counts, ticking every 2 s and at
 * once on a poke, and turning decisions into the replica count the
 * supervisor runs (min/max/initial scale, scale to zero after the grace
 * period: spec autoscaling.md sections 1, 3 and 4).
 *
 * Not thread safe: the reconciler's thread owns it.  It writes each
 * revision's trace (the replay format) and decisions under
 * <home>/autoscaler/<namespace>/<revision>.{trace,decisions}.jsonl.
 */
#ifndef KS_SCALER_H
#define KS_SCALER_H

#include <jansson.h>
#include <stdint.h>

#include "ks/autoscaler.h"
#include "ks/hpa.h"
#include "ks/ingress.h"
#include "ks/supervisor.h"

typedef struct ks_scaler ks_scaler_t;

ks_scaler_t *ks_scaler_new(const char *home, ks_supervisor_t *sup);
void ks_scaler_free(ks_scaler_t *sc);

/*
 * Declares a revision scaled by the KPA in this reconcile pass (creating its
 * decider on first sight, or anew when cfg changed) and returns the replica
 * count to run now.  reachable: traffic routes to it.  initialized: it reached
 * its initial scale once before (a restarted daemon does not bring a revision
 * that was at zero back to initial-scale).
 */
int ks_scaler_revision(ks_scaler_t *sc, const char *ns, const char *rev, ks_revstat_t *stat, const ks_kpa_config_t *cfg,
                       int reachable, int initialized);
/*
 * Declares a RawDeployment revision scaled by the HPA (include/ks/hpa.h):
 * every sync period the scaler measures its replicas' CPU or RSS from /proc
 * against the request and decides.  Returns the replica count to run now.
 */
int ks_scaler_hpa_revision(ks_scaler_t *sc, const char *ns, const char *rev, const ks_hpa_config_t *cfg,
                           int64_t request_millicores, int64_t request_bytes);
/* The HPA controller's sync period (default 15 s). */
void ks_scaler_set_hpa_period(ks_scaler_t *sc, int seconds);
/* Revisions not declared since the last call are forgotten (their traces are kept). */
void ks_scaler_sweep(ks_scaler_t *sc);

/*
 * The collector and the deciders: call on every turn of the reconciler's
 * loop.  Returns 1 when some revision's replica count changed (a reconcile
 * pass should apply it), and sets *wait_ms to when it next wants to run.
 */
int ks_scaler_step(ks_scaler_t *sc, uint64_t now_ns, int *wait_ms);

/*
 * The revision's autoscaler state for status: for the KPA {class, metric,
 * target, desiredScale, activatorInPath, scaleTargetInitialized, panic,
 * stableAverage, panicAverage, excessBurstCapacity, decidedScale}; for the
 * HPA {class, metric, target, desiredScale, currentUtilization, reason}; a
 * new object, or NULL when the revision is not scaled here.
 */
json_t *ks_scaler_status(ks_scaler_t *sc, const char *ns, const char *rev, int live);
/*
 * live = 0 leaves out what changes every tick (the averages, EBC, the
 * decider's own count, the HPA's utilisation): stored status keeps only what
 * changes with the scale, so that a client's read-modify-write of the object
 * is not refused for a resourceVersion the autoscaler moved every 2 s.  The
 * API server adds the live figures when it answers (ks_reconciler_overlay).
 */
/* Bumped at every tick and sync: the live figures changed. */
uint64_t ks_scaler_version(const ks_scaler_t *sc);
/* {"ns/rev": live status, ...} of every revision scaled here; a new object. */
json_t *ks_scaler_snapshot(ks_scaler_t *sc);

#endif
