/*
 * The autoscaler's KPA decider (shared/spec/autoscaling.md sections 1-3, 7, 9).
 *
 * Pure logic: no clock and no I/O.  The caller feeds per-second collector
 * records (ks_kpa_record) and runs the decider tick (ks_kpa_tick) at a second
 * of its choosing; the same code serves the platform and `kserve autoscaler
 * replay`, which feeds it a recorded trace.
 *
 *   ks_kpa_window_t  the linear window average of section 1.1
 *   ks_kpa_config_t  the section 7 keys with their defaults, and the target (section 2)
 *   ks_kpa_t         the decider of section 3 with its state (panic, scale-down delay)
 */
#ifndef KS_AUTOSCALER_H
#define KS_AUTOSCALER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ks/common.h"

/* ---- window (section 1.1) ---------------------------------------------------------------- */

/* A linear window of n one-second slots.  Fields are private to window.c. */
typedef struct ks_kpa_window {
    int64_t n;        /* seconds in the window */
    double *slots;    /* n slots; the slot of second t is t mod n */
    double total;     /* sum of the slots */
    int64_t first;    /* second of the first write of the current run */
    int64_t last;     /* second of the latest write */
    int written;      /* 0 until the first write (first and last unset) */
} ks_kpa_window_t;

/* Initialises w with n >= 1 seconds.  0 or KS_ENOMEM; ks_kpa_window_free frees it. */
int ks_kpa_window_init(ks_kpa_window_t *w, int64_t n);
void ks_kpa_window_free(ks_kpa_window_t *w);
/* Adds v at second t (values at the same second add up; too old writes are ignored). */
void ks_kpa_window_record(ks_kpa_window_t *w, int64_t t, double v);
/* The average at second now, rounded to 6 decimals (0 when empty or stale). */
double ks_kpa_window_average(const ks_kpa_window_t *w, int64_t now);

/* round_half_away_from_zero(x * 1e6) / 1e6 in double precision. */
double ks_kpa_round6(double x);

/*
 * The panic window in seconds: window_s * pct / 100 computed on nanoseconds in
 * double precision, truncated to whole nanoseconds, rounded to the nearest
 * second (halves up), at least 1.
 */
int64_t ks_kpa_panic_window(int64_t window_s, double pct);

/* ---- configuration (sections 2 and 7) ---------------------------------------------------- */

typedef struct ks_kpa_config {
    int metric_rps;                 /* metric: 0 concurrency (default), 1 rps */
    double target;                  /* target: the explicit target, when has_target */
    int has_target;
    int cc;                         /* container-concurrency: 0 (default) = unlimited */
    double tu_pct;                  /* target-utilization-percentage, when has_tu */
    int has_tu;
    double cc_target_pct;           /* container-concurrency-target-percentage: 70 */
    double cc_target_default;       /* container-concurrency-target-default: 100 */
    double rps_target_default;      /* requests-per-second-target-default: 200 */
    int64_t window_s;               /* window / stable-window: 60 (6 s - 1 h) */
    double panic_window_pct;        /* panic-window-percentage: 10 (1 - 100) */
    double panic_threshold_pct;     /* panic-threshold-percentage: 200 (110 - 1000) */
    double max_up;                  /* max-scale-up-rate: 1000 (> 1) */
    double max_down;                /* max-scale-down-rate: 2 (> 1) */
    double tbc;                     /* target-burst-capacity: 211 (-1 or >= 0) */
    double activator_capacity;      /* activator-capacity: 100 (>= 1) */
    int64_t grace_s;                /* scale-to-zero-grace-period: 30 */
    int64_t retention_s;            /* scale-to-zero-pod-retention-period: 0 */
    int64_t scale_down_delay_s;     /* scale-down-delay: 0 (0 - 1 h) */
    int initial_scale;              /* initial-scale: 1 */
    int allow_zero_initial_scale;   /* allow-zero-initial-scale: false */
    int min_scale, max_scale;       /* min-scale / max-scale: 0 / 0 (unlimited) */
    int activation_scale;           /* activation-scale: 1 (none) */
    int enable_scale_to_zero;       /* enable-scale-to-zero: true */
} ks_kpa_config_t;

/* Fills c with the section 7 defaults. */
void ks_kpa_config_defaults(ks_kpa_config_t *c);

/*
 * Sets one key from its text value.  key is a section 7 / annotation name with
 * or without the "autoscaling.knative.dev/" prefix ("window" and
 * "stable-window" are the same key); durations are "30s", "1m30s", "1h" or a
 * number of seconds, and must be whole seconds.  Returns 0, or KS_EINVAL with
 * a message naming the key in err (an unknown key, a malformed value, a value
 * out of its range).
 */
int ks_kpa_config_set(ks_kpa_config_t *c, const char *key, const char *value, char *err, size_t errlen);

/* Checks the keys against each other (min-scale <= max-scale, initial-scale 0). 0 or KS_EINVAL. */
int ks_kpa_config_check(const ks_kpa_config_t *c, char *err, size_t errlen);

/* Parses a duration ("30s", "1m30s", "2h", "45") into whole seconds.  0 or KS_EINVAL. */
int ks_kpa_parse_duration(const char *s, int64_t *out);

/* Section 2: the capacity per replica (`total`) and the target scaling divides by. */
double ks_kpa_total(const ks_kpa_config_t *c);
double ks_kpa_target(const ks_kpa_config_t *c);

/*
 * The replica count applied after the decider: desired clamped to
 * [minScale, maxScale] (max 0 = unlimited); minScale counts as 0 while the
 * revision is not reachable and is raised to initial-scale while it is
 * reachable and has not yet reached it once.  Scale-to-zero timing (section 4)
 * is the caller's.
 */
int ks_kpa_bounded_scale(const ks_kpa_config_t *c, int desired, int reachable, int reached_initial);

/* ---- the decider (section 3) --------------------------------------------------------------- */

typedef struct ks_kpa ks_kpa_t;

/* One tick's result.  When valid is 0 (no data, 1.2) the other fields are 0. */
typedef struct ks_kpa_decision {
    int valid;
    int desired;      /* before min/max scale */
    int panic;        /* panic state after the tick */
    double stable;    /* rounded stable-window average of the scaling metric */
    double panic_avg; /* rounded panic-window average */
    int64_t ebc;      /* excess burst capacity */
} ks_kpa_decision_t;

/* A decider for config c (copied); NULL when out of memory.  Free with ks_kpa_free. */
ks_kpa_t *ks_kpa_new(const ks_kpa_config_t *c);
void ks_kpa_free(ks_kpa_t *k);

/* One collector record at second t: writes both metrics, the scaling one feeds the windows. */
void ks_kpa_record(ks_kpa_t *k, int64_t t, double concurrency, double rps);

/*
 * The decider tick at second now with `ready` ready replicas (section 3).
 * Seconds passed to ks_kpa_record and ks_kpa_tick stay within
 * +-KS_KPA_MAX_SECOND, so that their differences cannot overflow.
 * A no-data tick (1.2) sets out->valid = 0 and changes no state.
 */
void ks_kpa_tick(ks_kpa_t *k, int64_t now, int ready, int reachable, ks_kpa_decision_t *out);

/* ---- replay (section 9) --------------------------------------------------------------------- */

/* Limits of a trace: |t| in seconds, and a stat line's concurrency or rps. */
#define KS_KPA_MAX_SECOND 1000000000000000LL
#define KS_KPA_MAX_VALUE 1e12

/* Longest trace line accepted. */
#define KS_KPA_REPLAY_MAX_LINE (1 << 20)

/*
 * Reads a JSON-lines trace from in and writes one JSON line per tick to out.
 * Returns 0, KS_EINVAL with "line N: reason" in err for a bad line, or
 * KS_ENOMEM.  Decisions before the bad line have been written.
 */
int ks_kpa_replay(FILE *in, FILE *out, char *err, size_t errlen);
/* Prints x so that it reads back as the same double; integral values print without a point ("5"). */
void ks_kpa_put_double(FILE *out, double x);
/* The trace's first line, {"config": {...}} with every key of c, so that a replay decides as the live decider did. */
void ks_kpa_config_write(FILE *out, const ks_kpa_config_t *c);

/* `kserve autoscaler replay FILE|-`: exit 0, 1 on a bad trace, 2 on usage errors. */
int ks_autoscaler_main(int argc, char **argv);

#endif
