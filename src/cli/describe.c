/*
 * `kserve describe TYPE NAME [-n NS]`: kubectl describe.
 *
 * For an InferenceService: the object's metadata and spec, then what a user
 * debugging it needs in one page: conditions, traffic per revision, the
 * revisions and their readiness, the replicas (with the last log lines of
 * failing ones), the model status and the events.  Other kinds print their
 * metadata, spec and status.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static const char describe_usage[] =
    "usage: kserve describe TYPE NAME... [-n NS]\n"
    "       kserve describe TYPE/NAME... [-n NS]\n"
    "Shows an object in detail: for an InferenceService its conditions, traffic, revisions, replicas\n"
    "(with the last log lines of failing ones), model status and events.\n"
    "  -n, --namespace NS      the namespace (default \"default\")\n";

#define LOG_LINES 10

/* ---- small printers --------------------------------------------------------------------- */

/* src with each newline run replaced by " | " (table cells stay on one line), into dst. */
static const char *one_line(char *dst, size_t len, const char *src)
{
    size_t o = 0;

    if (len == 0)
        return dst;
    for (const char *p = src != NULL ? src : ""; *p != '\0' && o + 4 < len; ++p) {
        if (*p == '\n' || *p == '\r') {
            while (p[1] == '\n' || p[1] == '\r')
                ++p;
            if (p[1] != '\0') {
                memcpy(dst + o, " | ", 3);
                o += 3;
            }
        } else {
            dst[o++] = *p;
        }
    }
    dst[o] = '\0';
    return dst;
}

/* The first line of src (" …" marks that more lines follow), for table cells. */
static const char *first_line(char *dst, size_t len, const char *src)
{
    const char *nl;
    size_t n;

    if (src == NULL)
        src = "";
    nl = strchr(src, '\n');
    n = nl != NULL ? (size_t)(nl - src) : strlen(src);
    if (n > 0 && src[n - 1] == ';')
        n--;
    if (nl != NULL && nl[1] != '\0')
        snprintf(dst, len, "%.*s \xe2\x80\xa6", (int)n, src);
    else
        snprintf(dst, len, "%.*s", (int)n, src);
    return dst;
}

/* "Label:" / value pairs aligned like kubectl describe (tabwriter, padding 2). */
typedef struct kv {
    ks_cli_table_t t;
} kv_t;

static void kv_init(kv_t *kv)
{
    ks_cli_table_init(&kv->t, 2);
}

static void kv_add(kv_t *kv, const char *label, const char *value)
{
    char flat[2048];
    ks_cli_table_rowv(&kv->t, label, one_line(flat, sizeof(flat), value));
}

/* A pair only when the value is there (describe leaves out absent fields). */
static void kv_opt(kv_t *kv, const char *label, const char *value)
{
    if (value != NULL && *value != '\0')
        kv_add(kv, label, value);
}

/* key=value lines of a string map, the first beside the label; "<none>" when empty. */
static void kv_map(kv_t *kv, const char *label, json_t *map)
{
    const char *key;
    json_t *v;
    int first = 1;

    json_object_foreach(map, key, v)
    {
        char line[2048];
        char flat[1900];
        snprintf(line, sizeof(line), "%s=%s", key, one_line(flat, sizeof(flat), json_string_value(v)));
        ks_cli_table_rowv(&kv->t, first ? label : "", line);
        first = 0;
    }
    if (first)
        ks_cli_table_rowv(&kv->t, label, "<none>");
}

static void kv_flush(kv_t *kv, ks_buf_t *b, const char *indent)
{
    ks_cli_table_render(&kv->t, b, indent, 0, 2);
    ks_cli_table_free(&kv->t);
}

/* A table with a header and a dashed line under it, as describe prints events. */
static void table_with_rule(ks_cli_table_t *t, const char *const *head)
{
    const char *rule[16];
    char dashes[16][64];

    for (size_t c = 0; c < t->ncols && c < 16; ++c) {
        size_t n = strlen(head[c]) < sizeof(dashes[c]) ? strlen(head[c]) : sizeof(dashes[c]) - 1;
        memset(dashes[c], '-', n);
        dashes[c][n] = '\0';
        rule[c] = dashes[c];
    }
    ks_cli_table_row(t, head);
    ks_cli_table_row(t, rule);
}

static void yaml_block(ks_buf_t *b, json_t *v, const char *indent)
{
    char err[256];
    if (v == NULL || (json_is_object(v) && json_object_size(v) == 0))
        return;
    if (ks_cli_yaml_emit(v, b, indent, err, sizeof(err)) != 0)
        ks_buf_printf(b, "%s<cannot print: %s>\n", indent, err);
}

/* Text lines (a string with newlines, or an array of strings), each indented. */
static void text_lines(ks_buf_t *b, json_t *lines, const char *indent)
{
    if (json_is_string(lines)) {
        const char *p = json_string_value(lines);
        while (*p != '\0') {
            const char *nl = strchr(p, '\n');
            size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
            ks_buf_printf(b, "%s%.*s\n", indent, (int)n, p);
            p += n + (nl != NULL);
        }
    } else if (json_is_array(lines)) {
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) text_lines(b, l, indent);
    }
}

/* The last lines of a replica's log file, for replicas whose status carries none. */
static int file_tail(ks_buf_t *b, const char *home, const char *ns, const char *rev, const char *replica,
                     const char *indent)
{
    char path[PATH_MAX], buf[8192];
    FILE *f;
    size_t n;
    long size;
    int lines = 0;
    char *start;

    snprintf(path, sizeof(path), "%s/logs/%s/%s/%s.log", home, ns, rev, replica);
    if ((f = fopen(path, "rb")) == NULL)
        return KS_ENOENT;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    start = buf + n;
    while (start > buf && lines < LOG_LINES) {
        --start;
        if (*start == '\n' && ++lines == LOG_LINES) {
            ++start;
            break;
        }
    }
    if (*start == '\0')
        return KS_ENOENT;
    {
        json_t *s = json_string(start);
        if (s == NULL) /* not UTF-8 */
            return KS_EINVAL;
        text_lines(b, s, indent);
        json_decref(s);
    }
    return 0;
}

static void header_section(ks_buf_t *b, json_t *obj)
{
    kv_t kv;
    char text[64];
    json_t *meta = json_object_get(obj, "metadata");

    kv_init(&kv);
    kv_add(&kv, "Name:", ks_cli_json_str(meta, "name"));
    if (ks_cli_json_str(meta, "namespace") != NULL)
        kv_add(&kv, "Namespace:", ks_cli_json_str(meta, "namespace"));
    kv_map(&kv, "Labels:", json_object_get(meta, "labels"));
    kv_map(&kv, "Annotations:", json_object_get(meta, "annotations"));
    kv_add(&kv, "API Version:", ks_cli_json_str(obj, "apiVersion"));
    kv_add(&kv, "Kind:", ks_cli_json_str(obj, "kind"));
    kv_flush(&kv, b, NULL);

    kv_init(&kv);
    kv_opt(&kv, "Creation Timestamp:", ks_cli_json_str(meta, "creationTimestamp"));
    kv_opt(&kv, "Generation:", ks_cli_json_text(meta, "generation", text, sizeof(text)));
    kv_opt(&kv, "Resource Version:", ks_cli_json_text(meta, "resourceVersion", text, sizeof(text)));
    kv_opt(&kv, "UID:", ks_cli_json_str(meta, "uid"));
    if (kv.t.nrows > 0)
        ks_buf_puts(b, "Metadata:\n");
    kv_flush(&kv, b, "  ");

    if (json_object_get(obj, "spec") != NULL) {
        ks_buf_puts(b, "Spec:\n");
        yaml_block(b, json_object_get(obj, "spec"), "  ");
    }
}

/* ---- InferenceService ------------------------------------------------------------------------- */

static void conditions_section(ks_buf_t *b, json_t *obj, time_t now)
{
    static const char *const head[] = {"Type", "Status", "Reason", "Last Transition Time", "Message"};
    json_t *conds = ks_cli_json_path(obj, "status.conditions"), *c;
    ks_cli_table_t t;
    size_t i;

    (void)now;
    if (json_array_size(conds) == 0) {
        ks_buf_puts(b, "  Conditions:  <none>\n");
        return;
    }
    ks_buf_puts(b, "  Conditions:\n");
    ks_cli_table_init(&t, 5);
    table_with_rule(&t, head);
    json_array_foreach(conds, i, c)
    {
        char msg[2048];
        /* the message last: a long one widens no column; its other lines are in Model Status */
        ks_cli_table_rowv(&t, json_string_value(json_object_get(c, "type")),
                          json_string_value(json_object_get(c, "status")),
                          json_string_value(json_object_get(c, "reason")),
                          json_string_value(json_object_get(c, "lastTransitionTime")),
                          first_line(msg, sizeof(msg), json_string_value(json_object_get(c, "message"))));
    }
    ks_cli_table_render(&t, b, "    ", 0, 2);
    ks_cli_table_free(&t);
}

static void human_bytes(char *buf, size_t len, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < KS_ARRAY_SIZE(units)) {
        v /= 1024;
        ++u;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f %s", v, units[u]);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void component_section(ks_buf_t *b, const char *name, json_t *comp)
{
    static const char *const head[] = {"Revision", "Percent", "Tag", "Latest"};
    json_t *traffic = json_object_get(comp, "traffic"), *t, *dl = json_object_get(comp, "download");
    kv_t kv;
    size_t i;

    /* "predictor" -> "Predictor:" */
    ks_buf_printf(b, "  %c%s:\n", name[0] >= 'a' && name[0] <= 'z' ? name[0] - 32 : name[0], name + 1);
    kv_init(&kv);
    kv_opt(&kv, "URL:", ks_cli_json_str(comp, "url"));
    kv_opt(&kv, "Latest Created Revision:", ks_cli_json_str(comp, "latestCreatedRevision"));
    kv_opt(&kv, "Latest Ready Revision:", ks_cli_json_str(comp, "latestReadyRevision"));
    kv_opt(&kv, "Latest Rolledout Revision:", ks_cli_json_str(comp, "latestRolledoutRevision"));
    kv_opt(&kv, "Previous Rolledout Revision:", ks_cli_json_str(comp, "previousRolledoutRevision"));
    if (dl != NULL) {
        char done[32], total[32], line[128];
        double d = (double)json_integer_value(json_object_get(dl, "bytes"));
        double tot = (double)json_integer_value(json_object_get(dl, "total"));
        human_bytes(done, sizeof(done), d);
        human_bytes(total, sizeof(total), tot);
        if (tot > 0)
            snprintf(line, sizeof(line), "%s of %s (%.0f%%)", done, total, 100.0 * d / tot);
        else
            snprintf(line, sizeof(line), "%s", done);
        kv_add(&kv, "Download:", line);
    }
    {
        json_t *rc = json_object_get(comp, "replicaCounts"), *as = json_object_get(comp, "autoscaler");
        char line[300];
        if (rc != NULL) {
            snprintf(line, sizeof(line), "desired %lld, actual %lld, ready %lld",
                     (long long)json_integer_value(json_object_get(rc, "desired")),
                     (long long)json_integer_value(json_object_get(rc, "actual")),
                     (long long)json_integer_value(json_object_get(rc, "ready")));
            kv_add(&kv, "Replicas:", line);
        }
        if (as != NULL) {
            snprintf(line, sizeof(line), "%s on %s, target %g%s", json_string_value(json_object_get(as, "class")) ?: "",
                     json_string_value(json_object_get(as, "metric")) ?: "",
                     json_number_value(json_object_get(as, "target")),
                     json_is_true(json_object_get(as, "activatorInPath")) ? ", activator in path" : "");
            kv_add(&kv, "Autoscaler:", line);
            if (json_object_get(as, "stableAverage") != NULL) {
                snprintf(line, sizeof(line), "decided %lld, panic %s, stable avg %g, panic avg %g, excess burst capacity %lld",
                         (long long)json_integer_value(json_object_get(as, "decidedScale")),
                         json_is_true(json_object_get(as, "panic")) ? "yes" : "no",
                         json_number_value(json_object_get(as, "stableAverage")),
                         json_number_value(json_object_get(as, "panicAverage")),
                         (long long)json_integer_value(json_object_get(as, "excessBurstCapacity")));
                kv_add(&kv, "Last Decision:", line);
            }
        }
    }
    kv_flush(&kv, b, "    ");
    if (json_array_size(traffic) == 0) {
        ks_buf_puts(b, "    Traffic:  <none>\n");
        return;
    }
    ks_buf_puts(b, "    Traffic:\n");
    {
        ks_cli_table_t tt;
        ks_cli_table_init(&tt, 4);
        table_with_rule(&tt, head);
        json_array_foreach(traffic, i, t)
        {
            char pct[32], latest[8];
            json_t *p = json_object_get(t, "percent");
            if (json_is_number(p))
                snprintf(pct, sizeof(pct), "%g%%", json_number_value(p));
            else
                pct[0] = '\0';
            snprintf(latest, sizeof(latest), "%s",
                     json_is_true(json_object_get(t, "latestRevision")) ? "true" : "false");
            ks_cli_table_rowv(&tt, json_string_value(json_object_get(t, "revisionName")), pct,
                              json_string_value(json_object_get(t, "tag")), latest);
        }
        ks_cli_table_render(&tt, b, "      ", 0, 2);
        ks_cli_table_free(&tt);
    }
}

static void model_status_section(ks_buf_t *b, json_t *ms)
{
    json_t *lf = json_object_get(ms, "lastFailureInfo");
    char text[64];
    kv_t kv;

    if (ms == NULL)
        return;
    ks_buf_puts(b, "  Model Status:\n");
    kv_init(&kv);
    kv_opt(&kv, "Transition Status:", ks_cli_json_str(ms, "transitionStatus"));
    kv_opt(&kv, "Active Model State:", ks_cli_json_str(ms, "states.activeModelState"));
    kv_opt(&kv, "Target Model State:", ks_cli_json_str(ms, "states.targetModelState"));
    kv_flush(&kv, b, "    ");
    if (lf != NULL) {
        ks_buf_puts(b, "    Last Failure Info:\n");
        kv_init(&kv);
        kv_add(&kv, "Reason:", ks_cli_json_str(lf, "reason"));
        if (json_object_get(lf, "exitCode") != NULL)
            kv_add(&kv, "Exit Code:", ks_cli_json_text(lf, "exitCode", text, sizeof(text)));
        {
            const char *msg = ks_cli_json_str(lf, "message");
            if (msg != NULL && strchr(msg, '\n') == NULL)
                kv_add(&kv, "Message:", msg);
            kv_flush(&kv, b, "      ");
            if (msg != NULL && strchr(msg, '\n') != NULL) {
                json_t *s = json_string(msg);
                ks_buf_puts(b, "      Message:\n");
                text_lines(b, s, "        ");
                json_decref(s);
            }
        }
    }
}

static void revisions_section(ks__cli_client_t *c, ks_buf_t *b, const char *ns, const char *name, json_t *isvc,
                              time_t now)
{
    static const char *const head[] = {"Name", "Ready", "Reason", "Replicas", "Age"};
    const ks_cli_kind_t *rk = ks_cli_kind_lookup("revisions");
    char query[512], path[1024], err[512];
    json_t *reply = NULL, *rev;
    ks_cli_table_t t;
    long status;
    size_t i;

    (void)isvc;
    if (ks_cli_label_selector(query, sizeof(query), "serving.kserve.io/inferenceservice", name) != 0 ||
        ks_cli_kind_path(path, sizeof(path), rk, ns, NULL, NULL, query) != 0)
        return;
    if (ks__cli_call(c, "GET", path, NULL, &status, &reply, err, sizeof(err)) != 0 || status != 200 ||
        json_array_size(json_object_get(reply, "items")) == 0) {
        ks_buf_puts(b, "Revisions:  <none>\n");
        json_decref(reply);
        return;
    }
    ks_buf_puts(b, "Revisions:\n");
    ks_cli_table_init(&t, 5);
    table_with_rule(&t, head);
    json_array_foreach(json_object_get(reply, "items"), i, rev)
    {
        json_t *ready = ks_cli_condition(rev, "Ready");
        const char *owner = json_string_value(json_object_get(ks_cli_json_path(rev, "metadata.labels"),
                                                              "serving.kserve.io/inferenceservice"));
        char reps[64], age[32], reason[512], a[32], d[32];
        /* the daemon may not filter by label: keep only this isvc's */
        if (owner != NULL && strcmp(owner, name) != 0)
            continue;
        ks_cli_json_text(rev, "status.readyReplicas", a, sizeof(a));
        if (a[0] == '\0')
            ks_cli_json_text(rev, "status.actualReplicas", a, sizeof(a));
        ks_cli_json_text(rev, "status.desiredReplicas", d, sizeof(d));
        if (a[0] != '\0' || d[0] != '\0')
            snprintf(reps, sizeof(reps), "%s/%s", a[0] ? a : "0", d[0] ? d : "?");
        else
            reps[0] = '\0';
        ks_cli_age_since(age, sizeof(age), ks_cli_json_str(rev, "metadata.creationTimestamp"), now);
        ks_cli_table_rowv(&t, ks_cli_json_str(rev, "metadata.name"),
                          json_string_value(json_object_get(ready, "status")),
                          one_line(reason, sizeof(reason), json_string_value(json_object_get(ready, "reason"))), reps,
                          age);
    }
    ks_cli_table_render(&t, b, "  ", 0, 2);
    ks_cli_table_free(&t);
    json_decref(reply);
}

static int replica_failing(json_t *rep)
{
    const char *state = json_string_value(json_object_get(rep, "state"));
    if (state == NULL)
        return 0;
    if (strcmp(state, "CrashLoopBackOff") == 0 || strcmp(state, "Failed") == 0 || strcmp(state, "Error") == 0)
        return 1;
    return strcmp(state, "Ready") != 0 && json_integer_value(json_object_get(rep, "restarts")) > 0;
}

static void replicas_section(ks__cli_client_t *c, ks_buf_t *b, const char *ns, json_t *isvc)
{
    static const char *const head[] = {"Name", "Revision", "PID", "Port", "State", "Restarts", "Reason"};
    json_t *reps = ks_cli_json_path(isvc, "status.replicas"), *rep;
    ks_cli_table_t t;
    size_t i;

    if (json_array_size(reps) == 0) {
        ks_buf_puts(b, "Replicas:  <none>\n");
        return;
    }
    ks_buf_puts(b, "Replicas:\n");
    ks_cli_table_init(&t, 7);
    table_with_rule(&t, head);
    json_array_foreach(reps, i, rep)
    {
        char pid[32], port[32], restarts[32], reason[512];
        ks_cli_table_rowv(&t, ks_cli_json_str(rep, "name"), ks_cli_json_str(rep, "revision"),
                          ks_cli_json_text(rep, "pid", pid, sizeof(pid)),
                          ks_cli_json_text(rep, "port", port, sizeof(port)),
                          ks_cli_json_str(rep, "state"), ks_cli_json_text(rep, "restarts", restarts, sizeof(restarts)),
                          one_line(reason, sizeof(reason), ks_cli_json_str(rep, "reason")));
    }
    ks_cli_table_render(&t, b, "  ", 0, 2);
    ks_cli_table_free(&t);

    json_array_foreach(reps, i, rep)
    {
        const char *name = ks_cli_json_str(rep, "name"), *rev = ks_cli_json_str(rep, "revision");
        json_t *lines = json_object_get(rep, "lastLogLines");
        const char *msg = ks_cli_json_str(rep, "message");
        if (!replica_failing(rep) || name == NULL)
            continue;
        ks_buf_printf(b, "  %s (%s)%s%s\n", name, ks_cli_json_str(rep, "state"), msg != NULL ? ": " : "",
                      msg != NULL ? msg : "");
        ks_buf_puts(b, "    Last log lines:\n");
        /* the log file has whole lines; the status carries a short tail */
        if (!ks__cli_path_segment_ok(ns) || !ks__cli_path_segment_ok(rev) || !ks__cli_path_segment_ok(name) ||
            file_tail(b, c->home, ns, rev, name, "      ") != 0)
            text_lines(b, lines, "      ");
    }
}

static int same_event(json_t *a, json_t *b)
{
    const char *ta = ks_cli_json_str(a, "type"), *tb = ks_cli_json_str(b, "type");
    const char *ra = ks_cli_json_str(a, "reason"), *rb = ks_cli_json_str(b, "reason");
    return ta != NULL && tb != NULL && ra != NULL && rb != NULL && strcmp(ta, tb) == 0 && strcmp(ra, rb) == 0;
}

static void events_section(ks__cli_client_t *c, ks_buf_t *b, const ks_cli_kind_t *k, const char *ns, const char *name,
                           time_t now)
{
    static const char *const head[] = {"Type", "Reason", "Age", "Message"};
    char path[1024], err[512];
    json_t *reply = NULL, *ev, *items;
    ks_cli_table_t t;
    long status;
    size_t i;

    if (ks_cli_kind_path(path, sizeof(path), k, ns, name, "events", NULL) != 0 ||
        ks__cli_call(c, "GET", path, NULL, &status, &reply, err, sizeof(err)) != 0 || status != 200 ||
        json_array_size(json_object_get(reply, "items")) == 0) {
        ks_buf_puts(b, "Events:  <none>\n");
        json_decref(reply);
        return;
    }
    ks_buf_puts(b, "Events:\n");
    ks_cli_table_init(&t, 4);
    table_with_rule(&t, head);
    /* a run of events of the same type and reason is one row, as kubectl shows repeats:
     * "2s (x3 over 9s)" and the latest message */
    items = json_object_get(reply, "items");
    for (i = 0; i < json_array_size(items); ++i) {
        char age[32], first_age[32], cell[96], msg[2048];
        size_t j = i;
        ev = json_array_get(items, i);
        while (j + 1 < json_array_size(items) && same_event(ev, json_array_get(items, j + 1)))
            ++j;
        ks_cli_age_since(age, sizeof(age), ks_cli_json_str(json_array_get(items, j), "time"), now);
        if (j > i) {
            ks_cli_age_since(first_age, sizeof(first_age), ks_cli_json_str(ev, "time"), now);
            snprintf(cell, sizeof(cell), "%s (x%zu over %s)", age, j - i + 1, first_age);
        } else {
            snprintf(cell, sizeof(cell), "%s", age);
        }
        ks_cli_table_rowv(&t, ks_cli_json_str(ev, "type"), ks_cli_json_str(ev, "reason"), cell,
                          first_line(msg, sizeof(msg), ks_cli_json_str(json_array_get(items, j), "message")));
        i = j;
    }
    ks_cli_table_render(&t, b, "  ", 0, 2);
    ks_cli_table_free(&t);
    json_decref(reply);
}

static void describe_isvc(ks__cli_client_t *c, ks_buf_t *b, const ks_cli_kind_t *k, const char *ns, json_t *obj)
{
    json_t *status = json_object_get(obj, "status"), *comps = ks_cli_json_path(obj, "status.components"), *comp;
    const char *name = ks_cli_json_str(obj, "metadata.name"), *cname;
    time_t now = time(NULL);
    char text[64];
    kv_t kv;

    header_section(b, obj);
    if (status == NULL) {
        ks_buf_puts(b, "Status:  <none>\n");
    } else {
        ks_buf_puts(b, "Status:\n");
        kv_init(&kv);
        kv_add(&kv, "URL:", ks_cli_json_str(status, "url"));
        kv_add(&kv, "Address URL:", ks_cli_json_str(status, "address.url"));
        if (json_object_get(status, "observedGeneration") != NULL)
            kv_add(&kv, "Observed Generation:", ks_cli_json_text(status, "observedGeneration", text, sizeof(text)));
        kv_flush(&kv, b, "  ");
        conditions_section(b, obj, now);
        json_object_foreach(comps, cname, comp) component_section(b, cname, comp);
        model_status_section(b, json_object_get(status, "modelStatus"));
    }
    revisions_section(c, b, ns, name, obj, now);
    replicas_section(c, b, ns, obj);
    events_section(c, b, k, ns, name, now);
}

static void describe_other(ks_buf_t *b, json_t *obj)
{
    header_section(b, obj);
    if (json_object_get(obj, "status") != NULL) {
        ks_buf_puts(b, "Status:\n");
        yaml_block(b, json_object_get(obj, "status"), "  ");
    }
    ks_buf_puts(b, "Events:  <none>\n");
}

int ks_cli_describe_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ns_flag = NULL, *ns;
    ks__cli_target_t *targets = NULL;
    size_t ntargets = 0;
    ks__cli_client_t client;
    int opt, rc = KS_CLI_OK, printed = 0;
    char err[512];
    ks_buf_t b;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns_flag = optarg; break;
        case 'h': fputs(describe_usage, stdout); return KS_CLI_OK;
        case ':': return ks__cli_usage_error("describe", "flag needs an argument: %s", argv[optind - 1]);
        default: return ks__cli_usage_error("describe", "unknown flag: %s", argv[optind - 1]);
        }
    }
    if (ks__cli_targets("describe", argc - optind, argv + optind, &targets, &ntargets) != 0)
        return KS_CLI_USAGE;
    if (targets[0].name == NULL) {
        free(targets);
        return ks__cli_usage_error("describe", "you must say the name of the object (describe TYPE NAME)");
    }
    ns = ks__cli_namespace(ns_flag);
    if (ks__cli_client_init(&client, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        free(targets);
        return KS_CLI_FAIL;
    }
    ks_buf_init(&b, 0);
    for (size_t i = 0; i < ntargets; ++i) {
        const ks_cli_kind_t *k = targets[i].kind;
        char path[1024];
        json_t *obj = NULL;
        long status;
        int r;

        ks_cli_kind_path(path, sizeof(path), k, ns, targets[i].name, NULL, NULL);
        if ((r = ks__cli_call(&client, "GET", path, NULL, &status, &obj, err, sizeof(err))) != 0) {
            fprintf(stderr, "%s\n", err);
            rc = KS_CLI_FAIL;
            break;
        }
        if (status != 200) {
            ks__cli_print_status(k, targets[i].name, status, obj, NULL);
            json_decref(obj);
            rc = KS_CLI_FAIL;
            continue;
        }
        if (printed++)
            ks_buf_puts(&b, "\n\n");
        if (k->id == KS_CLI_ISVC)
            describe_isvc(&client, &b, k, ns, obj);
        else
            describe_other(&b, obj);
        json_decref(obj);
        ks__cli_flush(&b, stdout);
    }
    ks_buf_free(&b);
    ks__cli_client_free(&client);
    free(targets);
    return rc;
}
