/*
 * `kserve get TYPE [NAME...] [-n NS | -A] [-o yaml|json|wide|name]`: kubectl get.
 */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static const char get_usage[] =
    "usage: kserve get TYPE [NAME...] [-n NS | -A] [-o yaml|json|wide|name] [--no-headers]\n"
    "       kserve get TYPE/NAME...\n"
    "Lists resources as tables like kubectl's, or prints them as YAML or JSON.\n"
    "types: isvc (inferenceservice), revision (rev), servingruntime, clusterservingruntime\n"
    "  -n, --namespace NS      the namespace (default \"default\")\n"
    "  -A, --all-namespaces    every namespace (adds a NAMESPACE column)\n"
    "  -o, --output FORMAT     yaml, json, wide or name\n"
    "      --no-headers        tables without their header line\n";

typedef enum { OUT_TABLE, OUT_WIDE, OUT_YAML, OUT_JSON, OUT_NAME } out_t;

/* Cells of one row; the text lives in the row's own buffers. */
typedef struct row {
    const char *cells[16];
    size_t n;
    char buf[16][256];
} row_t;

static void put(row_t *r, const char *text)
{
    snprintf(r->buf[r->n], sizeof(r->buf[r->n]), "%s", text != NULL ? text : "");
    r->cells[r->n] = r->buf[r->n];
    r->n++;
}

static void put_age(row_t *r, json_t *obj, time_t now)
{
    char age[32];
    ks_cli_age_since(age, sizeof(age), ks_cli_json_str(obj, "metadata.creationTimestamp"), now);
    put(r, age);
}

static void put_condition(row_t *r, json_t *obj, const char *type, const char *field)
{
    put(r, json_string_value(json_object_get(ks_cli_condition(obj, type), field)));
}

/* "ready/total" of the replicas the daemon lists in an InferenceService's status. */
static void replica_counts(json_t *obj, const char *revision, char *buf, size_t len)
{
    json_t *replicas = ks_cli_json_path(obj, "status.replicas"), *rep;
    size_t i, ready = 0, total = 0;

    if (!json_is_array(replicas)) {
        buf[0] = '\0';
        return;
    }
    json_array_foreach(replicas, i, rep)
    {
        const char *rev = json_string_value(json_object_get(rep, "revision"));
        const char *state = json_string_value(json_object_get(rep, "state"));
        if (revision != NULL && (rev == NULL || strcmp(rev, revision) != 0))
            continue;
        total++;
        if (state != NULL && strcmp(state, "Ready") == 0)
            ready++;
    }
    snprintf(buf, len, "%zu/%zu", ready, total);
}

static void header(const ks_cli_kind_t *k, out_t out, int with_ns, row_t *r)
{
    memset(r, 0, sizeof(*r));
    if (with_ns && k->namespaced)
        put(r, "NAMESPACE");
    put(r, "NAME");
    switch (k->id) {
    case KS_CLI_ISVC:
        put(r, "URL");
        put(r, "READY");
        put(r, "PREV");
        put(r, "LATEST");
        put(r, "PREVROLLEDOUTREVISION");
        put(r, "LATESTREADYREVISION");
        if (out == OUT_WIDE) {
            put(r, "LATESTCREATEDREVISION");
            put(r, "REPLICAS");
        }
        break;
    case KS_CLI_REVISION:
        put(r, "ISVC");
        put(r, "GENERATION");
        put(r, "READY");
        put(r, "REASON");
        put(r, "ACTUAL-REPLICAS");
        put(r, "DESIRED-REPLICAS");
        break;
    case KS_CLI_SERVINGRUNTIME:
    case KS_CLI_CLUSTERSERVINGRUNTIME:
        put(r, "DISABLED");
        put(r, "MODELTYPE");
        put(r, "CONTAINERS");
        if (out == OUT_WIDE) {
            put(r, "MODELTYPES");
            put(r, "PROTOCOLS");
        }
        break;
    }
    put(r, "AGE");
}

/* names of an array of objects (or strings), comma-separated; only the first when first_only */
static void join_names(json_t *arr, const char *field, int first_only, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(arr, i, e)
    {
        const char *s = field != NULL ? json_string_value(json_object_get(e, field)) : json_string_value(e);
        if (s == NULL)
            continue;
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s", used > 0 ? "," : "", s);
        if (first_only || used >= len)
            break;
    }
}

static void row_of(const ks_cli_kind_t *k, json_t *o, out_t out, int with_ns, time_t now, row_t *r)
{
    char text[512];

    memset(r, 0, sizeof(*r));
    if (with_ns && k->namespaced)
        put(r, ks_cli_json_str(o, "metadata.namespace"));
    put(r, ks_cli_json_str(o, "metadata.name"));
    switch (k->id) {
    case KS_CLI_ISVC: {
        ks_cli_traffic_t t;
        ks_cli_traffic(o, &t);
        put(r, ks_cli_json_str(o, "status.url"));
        put_condition(r, o, "Ready", "status");
        put(r, t.prev);
        put(r, t.latest);
        put(r, t.prev_revision);
        put(r, t.latest_revision);
        if (out == OUT_WIDE) {
            const char *created = ks_cli_json_str(o, "status.components.predictor.latestCreatedRevision");
            put(r, created);
            replica_counts(o, NULL, text, sizeof(text));
            put(r, text);
        }
        break;
    }
    case KS_CLI_REVISION: {
        json_t *labels = ks_cli_json_path(o, "metadata.labels");
        const char *gen = json_string_value(json_object_get(labels, "serving.knative.dev/configurationGeneration"));
        put(r, json_string_value(json_object_get(labels, "serving.kserve.io/inferenceservice")));
        put(r, gen != NULL ? gen : ks_cli_json_text(o, "metadata.generation", text, sizeof(text)));
        put_condition(r, o, "Ready", "status");
        put_condition(r, o, "Ready", "reason");
        put(r, ks_cli_json_text(o, "status.actualReplicas", text, sizeof(text)));
        put(r, ks_cli_json_text(o, "status.desiredReplicas", text, sizeof(text)));
        break;
    }
    case KS_CLI_SERVINGRUNTIME:
    case KS_CLI_CLUSTERSERVINGRUNTIME:
        put(r, ks_cli_json_text(o, "spec.disabled", text, sizeof(text)));
        join_names(ks_cli_json_path(o, "spec.supportedModelFormats"), "name", 1, text, sizeof(text));
        put(r, text);
        join_names(ks_cli_json_path(o, "spec.containers"), "name", 1, text, sizeof(text));
        put(r, text);
        if (out == OUT_WIDE) {
            join_names(ks_cli_json_path(o, "spec.supportedModelFormats"), "name", 0, text, sizeof(text));
            put(r, text);
            join_names(ks_cli_json_path(o, "spec.protocolVersions"), NULL, 0, text, sizeof(text));
            put(r, text);
        }
        break;
    }
    put_age(r, o, now);
}

/* Prints objects (all of kind k) as a table into b. */
static int print_table(const ks_cli_kind_t *k, json_t *objs, out_t out, int with_ns, int headers, ks_buf_t *b)
{
    ks_cli_table_t t;
    row_t *row = malloc(sizeof(*row));
    time_t now = time(NULL);
    size_t i;
    json_t *o;
    int r = 0;

    if (row == NULL)
        return KS_ENOMEM;
    header(k, out, with_ns, row);
    ks_cli_table_init(&t, row->n);
    if (headers)
        r = ks_cli_table_row(&t, row->cells);
    json_array_foreach(objs, i, o)
    {
        if (r != 0)
            break;
        row_of(k, o, out, with_ns, now, row);
        r = ks_cli_table_row(&t, row->cells);
    }
    if (r == 0)
        r = ks_cli_table_render(&t, b, NULL, 6, 3);
    ks_cli_table_free(&t);
    free(row);
    return r;
}

static int print_names(const ks_cli_kind_t *k, json_t *objs, ks_buf_t *b)
{
    char full[128];
    size_t i;
    json_t *o;
    int r = 0;

    ks_cli_kind_fullname(full, sizeof(full), k);
    json_array_foreach(objs, i, o)
    {
        const char *name = ks_cli_json_str(o, "metadata.name");
        if (r == 0)
            r = ks_buf_printf(b, "%s/%s\n", full, name != NULL ? name : "");
    }
    return r;
}

/* Fetches what one target names: a list (name NULL) or one object, appended to objs. */
static int fetch(ks__cli_client_t *c, const ks__cli_target_t *t, const char *ns, json_t *objs)
{
    char path[1024], err[512];
    json_t *reply = NULL;
    long status;
    int r;

    if (ks_cli_kind_path(path, sizeof(path), t->kind, ns, t->name, NULL, NULL) != 0) {
        fprintf(stderr, "error: the name \"%s\" is too long\n", t->name != NULL ? t->name : "");
        return KS_EINVAL;
    }
    r = ks__cli_call(c, "GET", path, NULL, &status, &reply, err, sizeof(err));
    if (r != 0) {
        fprintf(stderr, "%s\n", err);
        return r;
    }
    if (status != 200) {
        ks__cli_print_status(t->kind, t->name, status, reply, NULL);
        json_decref(reply);
        return status == 404 ? KS_ENOENT : KS_EINTERNAL;
    }
    if (t->name != NULL) {
        json_array_append(objs, reply);
    } else {
        json_t *items = json_object_get(reply, "items");
        if (!json_is_array(items)) {
            fprintf(stderr, "error: GET %s: the daemon's answer has no items\n", path);
            json_decref(reply);
            return KS_EINTERNAL;
        }
        json_array_extend(objs, items);
    }
    json_decref(reply);
    return 0;
}

static json_t *list_of(json_t *items)
{
    return json_pack("{s:s, s:O, s:s, s:{s:s}}", "apiVersion", "v1", "items", items, "kind", "List", "metadata",
                     "resourceVersion", "");
}

int ks_cli_get_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'}, {"all-namespaces", no_argument, NULL, 'A'},
        {"output", required_argument, NULL, 'o'},    {"no-headers", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *ns_flag = NULL, *output = NULL, *ns;
    int all_ns = 0, headers = 1, opt, rc = KS_CLI_OK, failed = 0;
    ks__cli_target_t *targets = NULL;
    size_t ntargets = 0;
    ks__cli_client_t client;
    char err[512];
    json_t *objs = NULL;
    ks_buf_t b;
    out_t out = OUT_TABLE;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":n:Ao:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns_flag = optarg; break;
        case 'A': all_ns = 1; break;
        case 'o': output = optarg; break;
        case 'H': headers = 0; break;
        case 'h': fputs(get_usage, stdout); return KS_CLI_OK;
        case ':': return ks__cli_usage_error("get", "flag needs an argument: %s", argv[optind - 1]);
        default: return ks__cli_usage_error("get", "unknown flag: %s", argv[optind - 1]);
        }
    }
    if (output != NULL) {
        if (strcmp(output, "yaml") == 0)
            out = OUT_YAML;
        else if (strcmp(output, "json") == 0)
            out = OUT_JSON;
        else if (strcmp(output, "wide") == 0)
            out = OUT_WIDE;
        else if (strcmp(output, "name") == 0)
            out = OUT_NAME;
        else
            return ks__cli_usage_error("get", "unable to match a printer suitable for the output format \"%s\", "
                                              "allowed formats are: json, name, wide, yaml",
                                       output);
    }
    if (ks__cli_targets("get", argc - optind, argv + optind, &targets, &ntargets) != 0)
        return KS_CLI_USAGE;
    if (all_ns && targets[0].name != NULL) {
        free(targets);
        return ks__cli_usage_error("get", "a resource cannot be retrieved by name across all namespaces");
    }
    ns = all_ns ? NULL : ks__cli_namespace(ns_flag);

    if (ks__cli_client_init(&client, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        free(targets);
        return KS_CLI_FAIL;
    }
    ks_buf_init(&b, 0);
    objs = json_array();
    for (size_t i = 0; i < ntargets; ++i) {
        int r = fetch(&client, &targets[i], ns, objs);
        if (r == KS_EUNAVAIL) {
            rc = KS_CLI_FAIL;
            goto out;
        }
        if (r != 0)
            failed = 1;
    }

    if (out == OUT_YAML || out == OUT_JSON) {
        json_t *doc = (ntargets == 1 && targets[0].name != NULL) ? json_incref(json_array_get(objs, 0)) : list_of(objs);
        int r = 0;
        if (doc != NULL) {
            if (out == OUT_YAML)
                r = ks_cli_yaml_emit(doc, &b, NULL, err, sizeof(err));
            else
                r = ks_cli_json_emit(doc, &b);
        }
        json_decref(doc);
        if (r != 0) {
            fprintf(stderr, "error: cannot print the objects: %s\n", err);
            rc = KS_CLI_FAIL;
        }
    } else if (json_array_size(objs) == 0) {
        if (!failed) {
            if (ns != NULL && targets[0].kind->namespaced)
                fprintf(stderr, "No resources found in %s namespace.\n", ns);
            else
                fprintf(stderr, "No resources found\n");
        }
    } else {
        /* one table per kind, in the order the kinds first appear */
        int done[8] = {0};
        for (size_t i = 0; i < ntargets; ++i) {
            const ks_cli_kind_t *k = targets[i].kind;
            json_t *same = json_array();
            size_t j;
            json_t *o;
            if (done[k->id]) {
                json_decref(same);
                continue;
            }
            done[k->id] = 1;
            json_array_foreach(objs, j, o)
            {
                const char *kind = json_string_value(json_object_get(o, "kind"));
                if (kind == NULL || ks_cli_kind_by_kind(kind) == k)
                    json_array_append(same, o);
            }
            if (json_array_size(same) > 0) {
                if (b.len > 0 && out != OUT_NAME)
                    ks_buf_putc(&b, '\n');
                if (out == OUT_NAME)
                    print_names(k, same, &b);
                else
                    print_table(k, same, out, all_ns, headers, &b);
            }
            json_decref(same);
        }
    }
    ks__cli_flush(&b, stdout);
    if (failed)
        rc = KS_CLI_FAIL;
out:
    json_decref(objs);
    ks_buf_free(&b);
    ks__cli_client_free(&client);
    free(targets);
    return rc;
}
