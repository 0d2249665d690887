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
/* Revisions not declared since the last call are forgotten (their traces are kept). */
void ks_scaler_sweep(ks_scaler_t *sc);

/*
 * The collector and the deciders: call on every turn of the reconciler's
 * loop.  Returns 1 when some revision's replica count changed (a reconcile
 * pass should apply it), and sets *wait_ms to when it next wants to run.
 */
int ks_scaler_step(ks_scaler_t *sc, uint64_t now_ns, int *wait_ms);

/*
 * The revision's autoscaler state for status: {desiredScale, actualScale?,
 * panic, stableAverage, panicAverage, excessBurstCapacity, target, metric,
 * activatorInPath, initialized}; a new object, or NULL when not KPA-scaled.
 */
json_t *ks_scaler_status(ks_scaler_t *sc, const char *ns, const char *rev);

#endif
