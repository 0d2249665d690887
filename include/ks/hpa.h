/*
 * Raw-mode autoscaling: the Kubernetes HorizontalPodAutoscaler that KServe's
 * RawDeployment mode creates for a predictor (scaleMetric cpu|memory,
 * scaleTarget = target average utilisation in percent), restated in C.
 * Design note: docs/hpa.md.
 *
 *   ks_hpa_config_t  minReplicas/maxReplicas, the metric and its target, the tolerance and the
 *                    HPA "behavior" (stabilisation windows and scaling policies), with the defaults
 *                    Kubernetes gives an HPA whose behavior is left empty, as KServe's is
 *   ks_hpa_t         the decider: one decision from the replicas' utilisation samples (hpa.c;
 *                    pure: no clock, no I/O, no allocation after ks_hpa_new)
 *   ks_procstat_*    a replica's usage read from /proc, and its utilisation of its request
 *   ks_quantity_*    Kubernetes quantities ("500m", "2Gi") as millicores or bytes (procstat.c)
 */
#ifndef KS_HPA_H
#define KS_HPA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks/common.h"

/* ---- defaults --------------------------------------------------------------------------- */

/* KServe's default resources.requests for a predictor that has none (its limits are the same). */
#define KS_HPA_DEFAULT_CPU_REQUEST "1"
#define KS_HPA_DEFAULT_MEMORY_REQUEST "2Gi"
#define KS_HPA_DEFAULT_CPU_MILLICORES 1000LL
#define KS_HPA_DEFAULT_MEMORY_BYTES (2LL << 30)

/* KServe's target when scaleTarget is not set (constants.DefaultCPUUtilization), in percent. */
#define KS_HPA_DEFAULT_TARGET_PCT 80

/* Limits of the configuration: Kubernetes' validation of an HPA's behavior, and our own cap. */
#define KS_HPA_MAX_WINDOW_S 3600   /* stabilizationWindowSeconds: 0 - 3600 */
#define KS_HPA_MAX_PERIOD_S 1800   /* periodSeconds: 1 - 1800 */
#define KS_HPA_MAX_POLICIES 8      /* policies per direction (ours: Kubernetes needs at least 1) */

/* Seconds passed to ks_hpa_decide stay within +-KS_HPA_MAX_SECOND. */
#define KS_HPA_MAX_SECOND 1000000000000000LL

/* ---- configuration ---------------------------------------------------------------------- */

typedef enum ks_hpa_metric {
    KS_HPA_CPU = 0,   /* scaleMetric: cpu (default) */
    KS_HPA_MEMORY = 1 /* scaleMetric: memory */
} ks_hpa_metric_t;

/* A scaling policy: at most `value` pods or `value` percent of the replicas per period_s. */
typedef enum ks_hpa_policy_type { KS_HPA_PODS = 0, KS_HPA_PERCENT = 1 } ks_hpa_policy_type_t;

typedef struct ks_hpa_policy {
    ks_hpa_policy_type_t type;
    int value;       /* > 0 */
    int period_s;    /* 1 - KS_HPA_MAX_PERIOD_S */
} ks_hpa_policy_t;

/* How the policies of one direction combine (HPAScalingRules.selectPolicy). */
typedef enum ks_hpa_select {
    KS_HPA_SELECT_MAX = 0, /* Max (default): the policy allowing the largest change */
    KS_HPA_SELECT_MIN = 1, /* Min: the policy allowing the smallest change */
    KS_HPA_SELECT_DISABLED = 2 /* Disabled: never scale in this direction */
} ks_hpa_select_t;

/* The rules of one direction (HPAScalingRules). */
typedef struct ks_hpa_rules {
    int64_t window_s;                              /* stabilizationWindowSeconds, 0 = none */
    ks_hpa_select_t select;
    int npolicies;                                 /* 1 - KS_HPA_MAX_POLICIES */
    ks_hpa_policy_t policies[KS_HPA_MAX_POLICIES];
} ks_hpa_rules_t;

typedef struct ks_hpa_config {
    ks_hpa_metric_t metric;
    int target_pct;      /* scaleTarget: target average utilisation of the request, percent (>= 1) */
    int min_replicas;    /* minReplicas: below 1 counts as 1, as in KServe */
    int max_replicas;    /* maxReplicas: below min_replicas counts as min_replicas, as in KServe */
    double tolerance;    /* no scaling while 1 - tolerance <= ratio <= 1 + tolerance (0.1) */
    ks_hpa_rules_t up;   /* behavior.scaleUp: window 0; Percent 100 / 15 s, Pods 4 / 15 s; Max */
    ks_hpa_rules_t down; /* behavior.scaleDown: window 300 s; Percent 100 / 15 s; Max */
} ks_hpa_config_t;

/* Fills c with the defaults: cpu, target 80 %, replicas 1 - 1, tolerance 0.1, the behavior above. */
void ks_hpa_config_defaults(ks_hpa_config_t *c);

/*
 * Checks c: target_pct >= 1, tolerance finite and >= 0, windows 0 - 3600 s, 1 - 8 policies per
 * direction with value >= 1 and period 1 - 1800 s, known enums.  0, or KS_EINVAL with a message
 * naming the field in err.  min/max replicas are never errors (see the fields).
 */
int ks_hpa_config_check(const ks_hpa_config_t *c, char *err, size_t errlen);

/* The bounds applied to c: min_replicas raised to 1, max_replicas raised to the minimum. */
void ks_hpa_bounds(const ks_hpa_config_t *c, int *min_replicas, int *max_replicas);

/* ---- the decider ---------------------------------------------------------------------------- */

/*
 * One replica as the HPA sees it.  The caller leaves out replicas that are being stopped or have
 * failed (Kubernetes ignores deleted and failed pods).
 */
typedef struct ks_hpa_sample {
    double utilization_pct; /* usage / request * 100, when has_metric; not finite or < 0: no metric */
    int has_metric;         /* 0: no usage sample for this replica (yet) */
    int started;            /* 0: not running yet (Kubernetes' Pending): never counted */
    int ready;              /* 0: not ready; with the cpu metric its sample is set aside */
} ks_hpa_sample_t;

/* Why the decision is what it is; ks_hpa_reason_name gives Kubernetes' word for it. */
typedef enum ks_hpa_reason {
    KS_HPA_DESIRED_WITHIN_RANGE = 0, /* the stabilised recommendation is applied as it is */
    KS_HPA_SCALE_UP_LIMIT,           /* capped by the scale-up policies */
    KS_HPA_SCALE_DOWN_LIMIT,         /* held up by the scale-down policies */
    KS_HPA_TOO_MANY_REPLICAS,        /* capped at max_replicas */
    KS_HPA_TOO_FEW_REPLICAS,         /* raised to min_replicas */
    KS_HPA_ABOVE_MAX_REPLICAS,       /* current > max: max, without looking at the metric */
    KS_HPA_BELOW_MIN_REPLICAS,       /* current < min: min, without looking at the metric */
    KS_HPA_NO_METRICS,               /* no started, counted replica with a metric: current */
    KS_HPA_SCALING_DISABLED          /* current is 0 (scaled to 0 by hand): 0 */
} ks_hpa_reason_t;

/* One decision. */
typedef struct ks_hpa_decision {
    int replicas;          /* the count to run (the return value of ks_hpa_decide) */
    ks_hpa_reason_t reason;
    int recommendation;    /* from the metric, before stabilisation and policies; -1 when none */
    int stabilized;        /* the recommendation after the stabilisation windows; -1 when none */
    int64_t utilization;   /* average utilisation over the counted replicas, whole percent; -1 */
    double ratio;          /* utilization / target_pct; 0 when none */
    double new_ratio;      /* the ratio after missing/not-ready replicas were filled in, else ratio */
    int ready;             /* replicas counted with their metric */
    int missing;           /* started replicas without a metric */
    int unready;           /* replicas not started, or (cpu) not ready */
} ks_hpa_decision_t;

typedef struct ks_hpa ks_hpa_t;

/* A decider for config c (copied); NULL when c fails ks_hpa_config_check or out of memory. */
ks_hpa_t *ks_hpa_new(const ks_hpa_config_t *c);
void ks_hpa_free(ks_hpa_t *h);

/*
 * One decision at second `now` for a revision set to `current` replicas, from the samples of the
 * replicas that exist (nsamples may differ from current while replicas start or stop).  Returns
 * the replica count to run and fills out (may be NULL).  In order:
 *
 *   current 0 -> 0 (scaling disabled); current > max -> max; current < min -> min;
 *   the metric's recommendation (docs/hpa.md), or current when no replica has a usable metric;
 *   the stabilisation windows; the scaling policies; the bounds.
 *
 * The returned count is taken as applied: a change is recorded as a scale event for the
 * policies.  `now` must not go backwards (an earlier second counts as the latest one seen) and
 * stays within +-KS_HPA_MAX_SECOND.  Decisions are normally made every 15 s.
 */
int ks_hpa_decide(ks_hpa_t *h, int64_t now, int current, const ks_hpa_sample_t *samples, size_t nsamples,
                  ks_hpa_decision_t *out);

/* "DesiredWithinRange", "ScaleUpLimit", ...: a static string. */
const char *ks_hpa_reason_name(ks_hpa_reason_t r);

/* ---- measuring a replica (procstat.c) --------------------------------------------------------- */

/* CPU time (utime + stime) of process pid in seconds.  0, KS_ENOENT (no such process), KS_EINVAL. */
int ks_procstat_cpu_seconds(pid_t pid, double *cpu_s);

/* Resident set size of process pid in bytes (/proc/PID/statm).  0, KS_ENOENT, KS_EINVAL. */
int ks_procstat_rss_bytes(pid_t pid, uint64_t *rss);

/*
 * CPU utilisation of a request between two samples:
 * (d_cpu_s / d_wall_s) / (request_millicores / 1000) * 100.
 * 0, or KS_EINVAL when d_wall_s <= 0, d_cpu_s < 0 (the process restarted), request <= 0 or a
 * value is not finite.
 */
int ks_procstat_cpu_pct(double cpu0_s, double cpu1_s, double wall0_s, double wall1_s, int64_t request_millicores,
                        double *pct);

/* Memory utilisation: rss / request_bytes * 100.  0, or KS_EINVAL when request_bytes <= 0. */
int ks_procstat_memory_pct(uint64_t rss, int64_t request_bytes, double *pct);

/* Parses the text of /proc/PID/stat (comm may hold spaces and ')').  0 or KS_EINVAL; for tests. */
int ks__procstat_parse_stat(const char *text, uint64_t *utime_ticks, uint64_t *stime_ticks);

/* ---- quantities (procstat.c) ------------------------------------------------------------------ */

/* Longest quantity accepted, in characters. */
#define KS_QUANTITY_MAX_LEN 64

/*
 * A Kubernetes quantity as resources.requests holds it: a number ("1", "1.5", ".5", "+2") with
 * one optional suffix: n u m "" k M G T P E (powers of 1000), Ki Mi Gi Ti Pi Ei (powers of 1024)
 * or an exponent e<int>/E<int> ("1e3").  The value is rounded up to whole millicores / bytes, as
 * Kubernetes' MilliValue() / Value() do ("1n" CPU is 1m).  Returns 0, or KS_EINVAL with a message
 * quoting the input in err: empty, not a number, unknown suffix, negative, more than 19
 * significant digits, longer than KS_QUANTITY_MAX_LEN, or over INT64_MAX.
 */
int ks_quantity_millicores(const char *s, int64_t *millicores, char *err, size_t errlen);
int ks_quantity_bytes(const char *s, int64_t *bytes, char *err, size_t errlen);

#endif
