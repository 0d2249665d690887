#include <string.h>

#include "ks/json.h"
#include "ks/metrics.h"
#include "ks/runtime.h"

/* prometheus_client's defaults, with finer buckets below 5 ms in front */
const double ks_hist_bounds[KS_HIST_NBOUNDS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,    0.025,  0.05,    0.075,  0.1,   0.25,   0.5,
                                                0.75,    1.0,    2.5,     5.0,    7.5,   10.0};

ks_model_stats_t *ks_model_stats_new(int n)
{
    size_t sz = sizeof(ks_model_stats_t) * (size_t)(n > 0 ? n : 1);
    ks_model_stats_t *s = aligned_alloc(64, sz);
    if (s != NULL)
        memset(s, 0, sz);
    return s;
}

#define BUMP(field, by) __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (by), __ATOMIC_RELAXED)
#define READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void ks_stats_success(ks_model_stats_t *s, uint64_t predict_ns, uint64_t rows)
{
    ks_stats_success_batch(s, predict_ns, 1, rows);
}

void ks_stats_success_batch(ks_model_stats_t *s, uint64_t predict_ns, uint64_t requests, uint64_t rows)
{
    double sec = (double)predict_ns / 1e9;
    int b = 0;
    while (b < KS_HIST_NBOUNDS && sec > ks_hist_bounds[b])
        b++;
    /* every request of the batch waited for the whole call */
    BUMP(s->predict_hist[b], requests);
    BUMP(s->predict_ns_sum, predict_ns * requests);
    BUMP(s->success, requests);
    BUMP(s->inference_count, rows);
    BUMP(s->exec_count, 1);
}

void ks_stats_failure(ks_model_stats_t *s, ks_failure_reason_t why)
{
    BUMP(s->failure[why], 1);
}

static int label(ks_buf_t *out, const char *metric, const char *key, const char *model)
{
    int r;
    if ((r = ks_buf_append(out, metric, strlen(metric))) != 0 || (r = ks_buf_putc(out, '{')) != 0 ||
        (r = ks_buf_append(out, key, strlen(key))) != 0 || (r = ks_buf_putc(out, '=')) != 0)
        return r;
    /* JSON string escaping is a superset of what Prometheus label values need */
    return ks_json_str(out, model, strlen(model));
}

int ks_metrics_render(ks_buf_t *out, ks_model_t *const *models, int nmodels)
{
    static const char *const reasons[KS_FAIL_NREASONS] = {"invalid_input", "model_error", "unavailable"};
    int r = 0;

    r |= ks_buf_puts(out, "# HELP request_predict_seconds predict latency\n# TYPE request_predict_seconds histogram\n");
    for (int m = 0; m < nmodels; ++m) {
        ks_model_stats_t tot;
        uint64_t cum = 0;
        memset(&tot, 0, sizeof(tot));
        for (int w = 0; w < models[m]->nstats; ++w) {
            ks_model_stats_t *s = &models[m]->stats[w];
            for (int b = 0; b <= KS_HIST_NBOUNDS; ++b)
                tot.predict_hist[b] += READ(s->predict_hist[b]);
            tot.predict_ns_sum += READ(s->predict_ns_sum);
        }
        for (int b = 0; b <= KS_HIST_NBOUNDS; ++b) {
            cum += tot.predict_hist[b];
            r |= label(out, "request_predict_seconds_bucket", "model_name", models[m]->name);
            if (b < KS_HIST_NBOUNDS && ks_hist_bounds[b] == (double)(int)ks_hist_bounds[b])
                r |= ks_buf_printf(out, ",le=\"%.1f\"} %llu\n", ks_hist_bounds[b], (unsigned long long)cum);
            else if (b < KS_HIST_NBOUNDS)
                r |= ks_buf_printf(out, ",le=\"%g\"} %llu\n", ks_hist_bounds[b], (unsigned long long)cum);
            else
                r |= ks_buf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        r |= label(out, "request_predict_seconds_sum", "model_name", models[m]->name);
        r |= ks_buf_printf(out, "} %.9f\n", (double)tot.predict_ns_sum / 1e9);
        r |= label(out, "request_predict_seconds_count", "model_name", models[m]->name);
        r |= ks_buf_printf(out, "} %llu\n", (unsigned long long)cum);
    }

    struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"kserve_inference_request_success", "successful inference requests", offsetof(ks_model_stats_t, success)},
        {"kserve_inference_count", "inferences performed (rows; a batch of N counts N)",
         offsetof(ks_model_stats_t, inference_count)},
        {"kserve_inference_exec_count", "model executions (count / exec_count = average batch size)",
         offsetof(ks_model_stats_t, exec_count)},
    };
    for (size_t c = 0; c < KS_ARRAY_SIZE(counters); ++c) {
        r |= ks_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", counters[c].name, counters[c].help, counters[c].name);
        for (int m = 0; m < nmodels; ++m) {
            uint64_t v = 0;
            for (int w = 0; w < models[m]->nstats; ++w)
                v += READ(*(uint64_t *)((char *)&models[m]->stats[w] + counters[c].off));
            r |= label(out, counters[c].name, "model", models[m]->name);
            r |= ks_buf_printf(out, "} %llu\n", (unsigned long long)v);
        }
    }
    r |= ks_buf_puts(out, "# HELP kserve_inference_request_failure failed inference requests, by reason\n"
                          "# TYPE kserve_inference_request_failure counter\n");
    for (int m = 0; m < nmodels; ++m) {
        for (int k = 0; k < KS_FAIL_NREASONS; ++k) {
            uint64_t v = 0;
            for (int w = 0; w < models[m]->nstats; ++w)
                v += READ(models[m]->stats[w].failure[k]);
            r |= label(out, "kserve_inference_request_failure", "model", models[m]->name);
            r |= ks_buf_printf(out, ",reason=\"%s\"} %llu\n", reasons[k], (unsigned long long)v);
        }
    }
    return r != 0 ? KS_ENOMEM : 0;
}
