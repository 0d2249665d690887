/*
 * The KPA's configuration keys (shared/spec/autoscaling.md section 7) with
 * their defaults and ranges, and the target of section 2.  The ranges are
 * Knative's validation: window 6 s - 1 h, panic-threshold-percentage
 * 110 - 1000, rates > 1, target-burst-capacity -1 or >= 0, and so on.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "ks/autoscaler.h"

#define PREFIX "autoscaling.knative.dev/"
#define HOUR 3600

void ks_kpa_config_defaults(ks_kpa_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->cc_target_pct = 70;
    c->cc_target_default = 100;
    c->rps_target_default = 200;
    c->window_s = 60;
    c->panic_window_pct = 10;
    c->panic_threshold_pct = 200;
    c->max_up = 1000;
    c->max_down = 2;
    c->tbc = 211;
    c->activator_capacity = 100;
    c->grace_s = 30;
    c->retention_s = 0;
    c->initial_scale = 1;
    c->activation_scale = 1;
    c->enable_scale_to_zero = 1;
}

int ks_kpa_parse_duration(const char *s, int64_t *out)
{
    const char *p = s;
    char *end;
    double ms = 0, v;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return KS_EINVAL;
    errno = 0;
    v = strtod(p, &end);
    if (end != p && errno == 0 && *end == '\0') { /* a plain number of seconds */
        ms = v * 1000;
        goto whole;
    }
    while (*p != '\0') {
        double unit;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return KS_EINVAL;
        errno = 0;
        v = strtod(p, &end);
        if (end == p || errno != 0)
            return KS_EINVAL;
        p = end;
        if (strncmp(p, "ms", 2) == 0)
            unit = 1, p += 2;
        else if (*p == 'h')
            unit = 3600000, p++;
        else if (*p == 'm')
            unit = 60000, p++;
        else if (*p == 's')
            unit = 1000, p++;
        else
            return KS_EINVAL;
        ms += v * unit;
    }
whole:
    if (!isfinite(ms) || ms < 0 || ms > 1e15 || fmod(ms, 1000) != 0)
        return KS_EINVAL;
    *out = (int64_t)(ms / 1000);
    return 0;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    while (end != s && isspace((unsigned char)*end))
        end++;
    return end == s || *end != '\0' || errno != 0 || !isfinite(*out) ? KS_EINVAL : 0;
}

static int parse_int(const char *s, int *out)
{
    double v;
    if (parse_number(s, &v) != 0 || v != floor(v) || v < -2147483648.0 || v > 2147483647.0)
        return KS_EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcasecmp(s, "true") == 0)
        *out = 1;
    else if (strcasecmp(s, "false") == 0)
        *out = 0;
    else
        return KS_EINVAL;
    return 0;
}

enum kind { NUMBER, INT, DURATION, BOOL, METRIC };

/* One key: where it goes, its kind and its range (inclusive; lo_open makes lo exclusive). */
static const struct key {
    const char *name;
    size_t off;
    enum kind kind;
    double lo, hi;
    int lo_open;
    size_t set_off; /* a flag set to 1 with the value, or 0 */
    const char *range;
} keys[] = {
#define O(f) offsetof(ks_kpa_config_t, f)
    {"metric", O(metric_rps), METRIC, 0, 0, 0, 0, "\"concurrency\" or \"rps\""},
    {"target", O(target), NUMBER, 0.01, 1e18, 0, O(has_target), "at least 0.01"},
    {"container-concurrency", O(cc), INT, 0, 1000, 0, 0, "0 - 1000"},
    {"target-utilization-percentage", O(tu_pct), NUMBER, 1, 100, 0, O(has_tu), "1 - 100"},
    {"container-concurrency-target-percentage", O(cc_target_pct), NUMBER, 1, 100, 0, 0, "1 - 100"},
    {"container-concurrency-target-default", O(cc_target_default), NUMBER, 0.01, 1e18, 0, 0, "at least 0.01"},
    {"requests-per-second-target-default", O(rps_target_default), NUMBER, 0.01, 1e18, 0, 0, "at least 0.01"},
    {"window", O(window_s), DURATION, 6, HOUR, 0, 0, "6s - 1h"},
    {"stable-window", O(window_s), DURATION, 6, HOUR, 0, 0, "6s - 1h"},
    {"panic-window-percentage", O(panic_window_pct), NUMBER, 1, 100, 0, 0, "1 - 100"},
    {"panic-threshold-percentage", O(panic_threshold_pct), NUMBER, 110, 1000, 0, 0, "110 - 1000"},
    {"max-scale-up-rate", O(max_up), NUMBER, 1, 1e18, 1, 0, "greater than 1"},
    {"max-scale-down-rate", O(max_down), NUMBER, 1, 1e18, 1, 0, "greater than 1"},
    {"target-burst-capacity", O(tbc), NUMBER, -1, 1e18, 0, 0, "-1 or at least 0"},
    {"activator-capacity", O(activator_capacity), NUMBER, 1, 1e18, 0, 0, "at least 1"},
    {"scale-to-zero-grace-period", O(grace_s), DURATION, 6, HOUR, 0, 0, "6s - 1h"},
    {"scale-to-zero-pod-retention-period", O(retention_s), DURATION, 0, HOUR, 0, 0, "0s - 1h"},
    {"scale-down-delay", O(scale_down_delay_s), DURATION, 0, HOUR, 0, 0, "0s - 1h"},
    {"initial-scale", O(initial_scale), INT, 0, 2147483647.0, 0, 0, "at least 0"},
    {"allow-zero-initial-scale", O(allow_zero_initial_scale), BOOL, 0, 0, 0, 0, "true or false"},
    {"min-scale", O(min_scale), INT, 0, 2147483647.0, 0, 0, "at least 0"},
    {"max-scale", O(max_scale), INT, 0, 2147483647.0, 0, 0, "at least 0"},
    {"activation-scale", O(activation_scale), INT, 1, 2147483647.0, 0, 0, "at least 1"},
    {"enable-scale-to-zero", O(enable_scale_to_zero), BOOL, 0, 0, 0, 0, "true or false"},
#undef O
};

int ks_kpa_config_set(ks_kpa_config_t *c, const char *key, const char *value, char *err, size_t errlen)
{
    const struct key *k = NULL;
    char *base = (char *)c;
    double v = 0;
    int64_t d;
    int i, bad = 0;

    if (strncmp(key, PREFIX, strlen(PREFIX)) == 0)
        key += strlen(PREFIX);
    for (size_t j = 0; j < KS_ARRAY_SIZE(keys); ++j)
        if (strcmp(keys[j].name, key) == 0)
            k = &keys[j];
    if (k == NULL) {
        ks_errorf(err, errlen, "unknown autoscaling key \"%s\"", key);
        return KS_EINVAL;
    }
    switch (k->kind) {
    case METRIC:
        if (strcmp(value, "concurrency") == 0)
            *(int *)(base + k->off) = 0;
        else if (strcmp(value, "rps") == 0)
            *(int *)(base + k->off) = 1;
        else
            bad = 1;
        break;
    case BOOL:
        bad = parse_bool(value, (int *)(base + k->off)) != 0;
        break;
    case NUMBER:
        if (parse_number(value, &v) != 0)
            bad = 1;
        else if (v < k->lo || v > k->hi || (k->lo_open && v == k->lo) ||
                 (k->off == offsetof(ks_kpa_config_t, tbc) && v < 0 && v != -1))
            bad = 2;
        else
            *(double *)(base + k->off) = v;
        break;
    case INT:
        if (parse_int(value, &i) != 0)
            bad = 1;
        else if (i < k->lo || i > k->hi)
            bad = 2;
        else
            *(int *)(base + k->off) = i;
        break;
    case DURATION:
        if (ks_kpa_parse_duration(value, &d) != 0)
            bad = 1;
        else if (d < k->lo || d > k->hi)
            bad = 2;
        else
            *(int64_t *)(base + k->off) = d;
        break;
    }
    if (bad) {
        ks_errorf(err, errlen, "%s: %s \"%s\" (%s%s)", key, bad == 1 ? "malformed value" : "value out of range",
                  value, k->kind == DURATION && bad == 1 ? "a duration of whole seconds, " : "", k->range);
        return KS_EINVAL;
    }
    if (k->set_off != 0)
        *(int *)(base + k->set_off) = 1;
    return 0;
}

int ks_kpa_config_check(const ks_kpa_config_t *c, char *err, size_t errlen)
{
    if (c->max_scale > 0 && c->min_scale > c->max_scale) {
        ks_errorf(err, errlen, "min-scale: %d is greater than max-scale %d", c->min_scale, c->max_scale);
        return KS_EINVAL;
    }
    if (c->initial_scale == 0 && !c->allow_zero_initial_scale) {
        ks_errorf(err, errlen, "initial-scale: 0 needs allow-zero-initial-scale: true");
        return KS_EINVAL;
    }
    return 0;
}

double ks_kpa_total(const ks_kpa_config_t *c)
{
    if (c->metric_rps)
        return c->has_target ? c->target : c->rps_target_default;
    if (c->has_target)
        return c->cc > 0 && c->target > c->cc ? c->cc : c->target;
    return c->cc > 0 ? c->cc : c->cc_target_default;
}

double ks_kpa_target(const ks_kpa_config_t *c)
{
    double tu = c->has_tu ? c->tu_pct / 100 : c->metric_rps ? 0.7 : c->cc_target_pct / 100;
    double t = ks_kpa_total(c) * tu;
    return t < 0.01 ? 0.01 : t;
}

int ks_kpa_bounded_scale(const ks_kpa_config_t *c, int desired, int reachable, int reached_initial)
{
    int lo = reachable ? c->min_scale : 0;
    if (reachable && !reached_initial && c->initial_scale > lo)
        lo = c->initial_scale;
    if (desired < lo)
        desired = lo;
    if (c->max_scale > 0 && desired > c->max_scale)
        desired = c->max_scale;
    return desired;
}

void ks_kpa_config_write(FILE *out, const ks_kpa_config_t *c)
{
#define NUM(key, v)                                                                                                    \
    do {                                                                                                               \
        fputs(", \"" key "\": ", out);                                                                                 \
        ks_kpa_put_double(out, (v));                                                                                   \
    } while (0)
    fprintf(out, "{\"config\": {\"metric\": \"%s\"", c->metric_rps ? "rps" : "concurrency");
    if (c->has_target)
        NUM("target", c->target);
    fprintf(out, ", \"container-concurrency\": %d", c->cc);
    if (c->has_tu)
        NUM("target-utilization-percentage", c->tu_pct);
    NUM("container-concurrency-target-percentage", c->cc_target_pct);
    NUM("container-concurrency-target-default", c->cc_target_default);
    NUM("requests-per-second-target-default", c->rps_target_default);
    fprintf(out, ", \"window\": \"%llds\"", (long long)c->window_s);
    NUM("panic-window-percentage", c->panic_window_pct);
    NUM("panic-threshold-percentage", c->panic_threshold_pct);
    NUM("max-scale-up-rate", c->max_up);
    NUM("max-scale-down-rate", c->max_down);
    NUM("target-burst-capacity", c->tbc);
    NUM("activator-capacity", c->activator_capacity);
    fprintf(out, ", \"scale-to-zero-grace-period\": \"%llds\"", (long long)c->grace_s);
    fprintf(out, ", \"scale-to-zero-pod-retention-period\": \"%llds\"", (long long)c->retention_s);
    fprintf(out, ", \"scale-down-delay\": \"%llds\"", (long long)c->scale_down_delay_s);
    fprintf(out, ", \"initial-scale\": %d, \"allow-zero-initial-scale\": %s", c->initial_scale,
            c->allow_zero_initial_scale ? "true" : "false");
    fprintf(out, ", \"min-scale\": %d, \"max-scale\": %d", c->min_scale, c->max_scale);
    if (c->activation_scale > 1)
        fprintf(out, ", \"activation-scale\": %d", c->activation_scale);
    fprintf(out, ", \"enable-scale-to-zero\": %s}}\n", c->enable_scale_to_zero ? "true" : "false");
#undef NUM
}
