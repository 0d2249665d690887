/*
 * `kserve autoscaler replay FILE|-` (shared/spec/autoscaling.md section 9):
 * feeds a recorded JSON-lines trace to the KPA decider and prints every
 * decision.  No clock and no processes: the trace's seconds are the time.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "ks/autoscaler.h"

/* Prints x so that it reads back as the same double; integral values print without a point ("5"). */
void ks_kpa_put_double(FILE *out, double x)
{
    char buf[64];
    for (int prec = 15; prec <= 17; ++prec) {
        snprintf(buf, sizeof(buf), "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    fputs(buf, out);
}

/* A JSON value of the config object as the text ks_kpa_config_set takes. */
static int config_text(json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return KS_EINVAL;
    return 0;
}

static int parse_config(json_t *root, ks_kpa_config_t *c, char *err, size_t errlen)
{
    json_t *cfg = json_object_get(root, "config"), *v;
    const char *key;
    char text[256];
    int rc;

    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_object(cfg)) {
        ks_errorf(err, errlen, "the first line must be {\"config\": {...}}");
        return KS_EINVAL;
    }
    ks_kpa_config_defaults(c);
    json_object_foreach(cfg, key, v) {
        if (config_text(v, text, sizeof(text)) != 0) {
            ks_errorf(err, errlen, "%s: expected a string, a number or a boolean", key);
            return KS_EINVAL;
        }
        if ((rc = ks_kpa_config_set(c, key, text, err, errlen)) != 0)
            return rc;
    }
    return ks_kpa_config_check(c, err, errlen);
}

/* A JSON number that is a whole second. */
static int get_second(json_t *v, int64_t *out)
{
    double d;
    if (json_is_integer(v)) {
        if (json_integer_value(v) > KS_KPA_MAX_SECOND || json_integer_value(v) < -KS_KPA_MAX_SECOND)
            return KS_EINVAL;
        *out = json_integer_value(v);
        return 0;
    }
    if (!json_is_real(v))
        return KS_EINVAL;
    d = json_real_value(v);
    if (d != floor(d) || fabs(d) > (double)KS_KPA_MAX_SECOND)
        return KS_EINVAL;
    *out = (int64_t)d;
    return 0;
}

static int get_metric(json_t *root, const char *name, double *out, int *seen, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, name);
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= KS_KPA_MAX_VALUE)) {
        ks_errorf(err, errlen, "\"%s\" must be a number from 0 to %g", name, KS_KPA_MAX_VALUE);
        return KS_EINVAL;
    }
    *out = json_number_value(v);
    *seen = 1;
    return 0;
}

/* One stat or tick line; a tick writes its decision to out. */
static int run_line(ks_kpa_t *k, json_t *root, FILE *out, char *err, size_t errlen)
{
    json_t *tick, *v;
    const char *key;
    int64_t t;

    if (!json_is_object(root)) {
        ks_errorf(err, errlen, "expected a JSON object");
        return KS_EINVAL;
    }
    if (get_second(json_object_get(root, "t"), &t) != 0) {
        ks_errorf(err, errlen, "\"t\" must be a whole number of seconds, at most %lld from 0", (long long)KS_KPA_MAX_SECOND);
        return KS_EINVAL;
    }
    tick = json_object_get(root, "tick");
    if (tick != NULL) {
        json_t *ready = json_object_get(root, "ready"), *reach = json_object_get(root, "reachable");
        ks_kpa_decision_t d;
        json_object_foreach(root, key, v) {
            if (strcmp(key, "t") != 0 && strcmp(key, "tick") != 0 && strcmp(key, "ready") != 0 &&
                strcmp(key, "reachable") != 0) {
                ks_errorf(err, errlen, "unknown key \"%s\" in a tick line", key);
                return KS_EINVAL;
            }
        }
        if (!json_is_true(tick)) {
            ks_errorf(err, errlen, "\"tick\" must be true");
            return KS_EINVAL;
        }
        if (!json_is_integer(ready) || json_integer_value(ready) < 0 || json_integer_value(ready) > 1000000000) {
            ks_errorf(err, errlen, "a tick needs \"ready\": a whole number of replicas >= 0");
            return KS_EINVAL;
        }
        if (reach != NULL && !json_is_boolean(reach)) {
            ks_errorf(err, errlen, "\"reachable\" must be true or false");
            return KS_EINVAL;
        }
        ks_kpa_tick(k, t, (int)json_integer_value(ready), reach == NULL || json_is_true(reach), &d);
        if (!d.valid) {
            fprintf(out, "{\"t\": %" PRId64 ", \"valid\": false}\n", t);
            return 0;
        }
        fprintf(out, "{\"t\": %" PRId64 ", \"desired\": %d, \"panic\": %s, \"stable\": ", t, d.desired,
                d.panic ? "true" : "false");
        ks_kpa_put_double(out, d.stable);
        fputs(", \"panic_avg\": ", out);
        ks_kpa_put_double(out, d.panic_avg);
        fprintf(out, ", \"ebc\": %" PRId64 "}\n", d.ebc);
        return 0;
    }
    double conc = 0, rps = 0;
    int seen = 0;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "t") != 0 && strcmp(key, "concurrency") != 0 && strcmp(key, "rps") != 0) {
            ks_errorf(err, errlen, "unknown key \"%s\" in a stat line", key);
            return KS_EINVAL;
        }
    }
    if (get_metric(root, "concurrency", &conc, &seen, err, errlen) != 0 ||
        get_metric(root, "rps", &rps, &seen, err, errlen) != 0)
        return KS_EINVAL;
    if (!seen) {
        ks_errorf(err, errlen, "a stat line needs \"concurrency\" and/or \"rps\"");
        return KS_EINVAL;
    }
    ks_kpa_record(k, t, conc, rps);
    return 0;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}

int ks_kpa_replay(FILE *in, FILE *out, char *err, size_t errlen)
{
    char *line = NULL, msg[KS_ERRLEN];
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    ks_kpa_t *k = NULL;
    int rc = 0;

    while ((n = getline(&line, &cap, in)) >= 0) {
        json_error_t jerr;
        json_t *root;
        lineno++;
        if (n > KS_KPA_REPLAY_MAX_LINE) {
            ks_errorf(err, errlen, "line %ld: longer than %d bytes", lineno, KS_KPA_REPLAY_MAX_LINE);
            rc = KS_EINVAL;
            goto out;
        }
        if (blank(line) && k != NULL)
            continue;
        if ((root = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
            ks_errorf(err, errlen, "line %ld: not JSON: %s", lineno, jerr.text);
            rc = KS_EINVAL;
            goto out;
        }
        msg[0] = '\0';
        if (k == NULL) {
            ks_kpa_config_t c;
            if ((rc = parse_config(root, &c, msg, sizeof(msg))) == 0 && (k = ks_kpa_new(&c)) == NULL) {
                ks_errorf(msg, sizeof(msg), "out of memory");
                rc = KS_ENOMEM;
            }
        } else {
            rc = run_line(k, root, out, msg, sizeof(msg));
        }
        json_decref(root);
        if (rc != 0) {
            ks_errorf(err, errlen, "line %ld: %s", lineno, msg);
            goto out;
        }
    }
    if (ferror(in)) {
        ks_errorf(err, errlen, "line %ld: read error: %s", lineno + 1, strerror(errno));
        rc = KS_EINVAL;
    } else if (k == NULL) {
        ks_errorf(err, errlen, "line 1: empty trace: the first line must be {\"config\": {...}}");
        rc = KS_EINVAL;
    }
out:
    free(line);
    ks_kpa_free(k);
    return rc;
}

