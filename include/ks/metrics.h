/*
 * Per-model metrics, kept per worker thread (no shared counters on the hot
 * path) and summed when /metrics is scraped.
 *
 * Names: KServe's request_*_seconds histograms (label model_name) and
 * Triton-style kserve_inference_* counters (label model).
 */
#ifndef KS_METRICS_H
#define KS_METRICS_H

#include "ks/buf.h"

#define KS_HIST_NBOUNDS 20

typedef enum ks_failure_reason {
    KS_FAIL_INVALID = 0, /* bad input: 400 */
    KS_FAIL_INTERNAL,    /* the model failed: 500 */
    KS_FAIL_UNAVAILABLE, /* not ready: 503 */
    KS_FAIL_NREASONS,
} ks_failure_reason_t;

struct ks_model_stats {
    uint64_t success;
    uint64_t failure[KS_FAIL_NREASONS];
    uint64_t inference_count; /* rows inferred */
    uint64_t exec_count;      /* runtime calls */
    uint64_t predict_ns_sum;
    uint64_t predict_hist[KS_HIST_NBOUNDS + 1]; /* last: +Inf */
} __attribute__((aligned(64)));

typedef struct ks_model_stats ks_model_stats_t;
typedef struct ks_model ks_model_t;

/* n zeroed, cache-line aligned slots; free() frees. */
ks_model_stats_t *ks_model_stats_new(int n);

/* Single-writer updates (each worker writes only its own slot). */
void ks_stats_success(ks_model_stats_t *s, uint64_t predict_ns, uint64_t rows);
/* One runtime call that answered `requests` requests holding `rows` rows in all. */
void ks_stats_success_batch(ks_model_stats_t *s, uint64_t predict_ns, uint64_t requests, uint64_t rows);
void ks_stats_failure(ks_model_stats_t *s, ks_failure_reason_t why);

/* Appends the Prometheus text exposition of every model to out. */
int ks_metrics_render(ks_buf_t *out, ks_model_t *const *models, int nmodels);

/* The histogram's upper bounds in seconds. */
extern const double ks_hist_bounds[KS_HIST_NBOUNDS];

#endif
