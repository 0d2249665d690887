/*
 * `kserve apply -f FILE|DIR|- [-f ...] [-n NS]`: kubectl apply.
 *
 * Every document of every file is loaded and validated before anything is
 * sent: one bad document applies nothing, and each error names its file,
 * line and column.  Then each object is created (POST) or replaced (PUT
 * without a resourceVersion) and the line kubectl prints says which, or that
 * the stored spec, labels and annotations already equal the new ones.
 */
#include <getopt.h>
#include <string.h>

#include "internal.h"
#include "ks/resource.h"

static const char apply_usage[] =
    "usage: kserve apply -f FILE|DIR|- [-f ...] [-n NS]\n"
    "Creates or updates InferenceServices, ServingRuntimes and ClusterServingRuntimes from YAML or JSON\n"
    "(several documents per file separated by ---).  Every document is validated first; any error\n"
    "applies nothing.\n"
    "  -f, --filename PATH     a file, a directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable\n"
    "  -n, --namespace NS      the namespace of documents that do not name one (default \"default\")\n";

#define ERRLEN 16384

/* What one document says about itself before validation, for the -n rules. */
static int set_namespace(ks_doc_t *d, const char *ns_flag, char *err, size_t errlen)
{
    json_t *meta = json_object_get(d->obj, "metadata");
    const char *kind = json_string_value(json_object_get(d->obj, "kind"));
    json_t *ns = json_object_get(meta, "namespace");
    const ks_cli_kind_t *k = ks_cli_kind_by_kind(kind);

    if (ns_flag == NULL || !json_is_object(meta) || k == NULL || !k->namespaced)
        return 0;
    if (ns == NULL || json_is_null(ns))
        return json_object_set_new(meta, "namespace", json_string(ns_flag)) == 0 ? 0 : KS_ENOMEM;
    if (json_is_string(ns) && strcmp(json_string_value(ns), ns_flag) != 0) {
        int line = d->line, col = d->col;
        ks_doc_pos(d, "metadata.namespace", &line, &col);
        ks_errorf(err, errlen,
                  "%s:%d:%d: metadata.namespace: the namespace from the provided object \"%s\" does not match the "
                  "namespace \"%s\"; pass --namespace=%s to apply it",
                  d->file, line, col, json_string_value(ns), ns_flag, json_string_value(ns));
        return KS_EINVAL;
    }
    return 0;
}

static int same_map(json_t *a, json_t *b)
{
    int ea = a == NULL || json_is_null(a) || (json_is_object(a) && json_object_size(a) == 0);
    int eb = b == NULL || json_is_null(b) || (json_is_object(b) && json_object_size(b) == 0);
    if (ea || eb)
        return ea && eb;
    return json_equal(a, b);
}

/* Is the stored object what this document would make it? */
static int unchanged(json_t *stored, json_t *obj)
{
    json_t *sm = json_object_get(stored, "metadata"), *om = json_object_get(obj, "metadata");
    return same_map(json_object_get(stored, "spec"), json_object_get(obj, "spec")) &&
           same_map(json_object_get(sm, "labels"), json_object_get(om, "labels")) &&
           same_map(json_object_get(sm, "annotations"), json_object_get(om, "annotations"));
}

/* Sends one validated document; prints kubectl's line.  Returns 0, or KS_E* once the error is printed. */
static int apply_one(ks__cli_client_t *c, const ks_doc_t *d)
{
    const char *kind_name = json_string_value(json_object_get(d->obj, "kind"));
    const ks_cli_kind_t *k = ks_cli_kind_by_kind(kind_name);
    const char *name = ks_cli_json_str(d->obj, "metadata.name");
    const char *ns = ks_cli_json_str(d->obj, "metadata.namespace");
    char coll[1024], one[1024], full[128], err[512], context[PATH_MAX + 64];
    json_t *stored = NULL, *reply = NULL, *body;
    const char *verb;
    long status;
    int r;

    if (k == NULL || k->readonly || name == NULL) {
        fprintf(stderr, "error: %s:%d:%d: kind %s cannot be applied\n", d->file, d->line, d->col,
                kind_name != NULL ? kind_name : "(none)");
        return KS_EINVAL;
    }
    if (ns == NULL)
        ns = KS_CLI_DEFAULT_NS;
    ks_cli_kind_fullname(full, sizeof(full), k);
    if (ks_cli_kind_path(coll, sizeof(coll), k, ns, NULL, NULL, NULL) != 0 ||
        ks_cli_kind_path(one, sizeof(one), k, ns, name, NULL, NULL) != 0) {
        fprintf(stderr, "error: %s:%d:%d: the name is too long\n", d->file, d->line, d->col);
        return KS_EINVAL;
    }
    body = json_deep_copy(d->obj);
    if (body == NULL)
        return KS_ENOMEM;
    json_object_del(json_object_get(body, "metadata"), "resourceVersion");

    /* GET first: an equal object is left alone */
    if ((r = ks__cli_call(c, "GET", one, NULL, &status, &stored, err, sizeof(err))) != 0)
        goto fail;
    if (status == 200 && unchanged(stored, body)) {
        printf("%s/%s unchanged\n", full, name);
        goto out;
    }
    if (status != 200 && status != 404) {
        snprintf(context, sizeof(context), "error when retrieving current configuration of \"%s\"", d->file);
        ks__cli_print_status(k, name, status, stored, context);
        r = KS_EINTERNAL;
        goto out;
    }
    verb = "configured";
    if (status == 404) {
        json_decref(reply);
        reply = NULL;
        if ((r = ks__cli_call(c, "POST", coll, body, &status, &reply, err, sizeof(err))) != 0)
            goto fail;
        verb = "created";
    }
    if (status == 409 || strcmp(verb, "configured") == 0) {
        /* it exists (perhaps created since our GET): replace it */
        json_decref(reply);
        reply = NULL;
        if ((r = ks__cli_call(c, "PUT", one, body, &status, &reply, err, sizeof(err))) != 0)
            goto fail;
        verb = "configured";
    }
    if (status < 200 || status >= 300) {
        snprintf(context, sizeof(context), "error when %s \"%s\"",
                 strcmp(verb, "created") == 0 ? "creating" : "replacing", d->file);
        ks__cli_print_status(k, name, status, reply, context);
        r = KS_EINTERNAL;
        goto out;
    }
    printf("%s/%s %s\n", full, name, verb);
    fflush(stdout);
    goto out;
fail:
    fprintf(stderr, "%s\n", err);
out:
    json_decref(stored);
    json_decref(reply);
    json_decref(body);
    return r;
}

int ks_cli_apply_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"namespace", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **paths = NULL, **files = NULL, **texts = NULL, *err = NULL;
    size_t npaths = 0, nfiles = 0, ndocs = 0;
    ks_doc_list_t *lists = NULL;
    const char *ns_flag = NULL;
    ks__cli_client_t client;
    int opt, rc = KS_CLI_OK, bad = 0, have_client = 0;

    paths = calloc((size_t)argc + 1, sizeof(*paths));
    if (paths == NULL)
        return KS_CLI_FAIL;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":f:n:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f': paths[npaths++] = optarg; break;
        case 'n': ns_flag = optarg; break;
        case 'h': fputs(apply_usage, stdout); free(paths); return KS_CLI_OK;
        case ':': free(paths); return ks__cli_usage_error("apply", "flag needs an argument: %s", argv[optind - 1]);
        default: free(paths); return ks__cli_usage_error("apply", "unknown flag: %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        free(paths);
        return ks__cli_usage_error("apply", "unexpected argument \"%s\": files are given with -f", argv[optind]);
    }
    if (npaths == 0) {
        free(paths);
        return ks__cli_usage_error("apply", "must specify -f FILE (a file, a directory or - for stdin)");
    }
    err = malloc(ERRLEN);
    if (err == NULL) {
        free(paths);
        return KS_CLI_FAIL;
    }
    if (ks__cli_expand_files(paths, npaths, &files, &nfiles, err, ERRLEN) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = KS_CLI_FAIL;
        goto out;
    }
    if (nfiles == 0) {
        fprintf(stderr, "error: no objects passed to apply\n");
        rc = KS_CLI_FAIL;
        goto out;
    }
    lists = calloc(nfiles, sizeof(*lists));
    texts = calloc(nfiles, sizeof(*texts));
    if (lists == NULL || texts == NULL) {
        rc = KS_CLI_FAIL;
        goto out;
    }

    /* load and validate everything first */
    for (size_t i = 0; i < nfiles; ++i) {
        size_t len;
        const char *shown = strcmp(files[i], "-") == 0 ? "STDIN" : files[i];
        if (ks__cli_read_file(files[i], &texts[i], &len, err, ERRLEN) != 0) {
            fprintf(stderr, "%s\n", err);
            bad = 1;
            continue;
        }
        if (ks_yaml_load(texts[i], len, shown, &lists[i], err, ERRLEN) != 0) {
            fprintf(stderr, "%s\n", err);
            bad = 1;
            continue;
        }
        for (size_t j = 0; j < lists[i].n; ++j) {
            ks_doc_t *d = &lists[i].docs[j];
            ks_kind_t kind = KS_KIND_UNKNOWN;
            ndocs++;
            if (set_namespace(d, ns_flag, err, ERRLEN) != 0 || ks_validate(d, &kind, err, ERRLEN) != 0) {
                fprintf(stderr, "%s\n", err);
                bad = 1;
            }
        }
    }
    if (bad) {
        fprintf(stderr, "error: nothing was applied: fix the errors above\n");
        rc = KS_CLI_FAIL;
        goto out;
    }
    if (ndocs == 0) {
        fprintf(stderr, "error: no objects passed to apply\n");
        rc = KS_CLI_FAIL;
        goto out;
    }

    if (ks__cli_client_init(&client, err, ERRLEN) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = KS_CLI_FAIL;
        goto out;
    }
    have_client = 1;
    /* runtimes before the InferenceServices that may name them; otherwise in file order */
    for (int pass = 0; pass < 2; ++pass)
        for (size_t i = 0; i < nfiles; ++i)
            for (size_t j = 0; j < lists[i].n; ++j) {
                const char *kind = json_string_value(json_object_get(lists[i].docs[j].obj, "kind"));
                int is_runtime = kind != NULL && strstr(kind, "ServingRuntime") != NULL;
                int r;
                if (is_runtime != (pass == 0))
                    continue;
                r = apply_one(&client, &lists[i].docs[j]);
                if (r != 0)
                    rc = KS_CLI_FAIL;
                if (r == KS_EUNAVAIL)
                    goto out;
            }
out:
    if (have_client)
        ks__cli_client_free(&client);
    for (size_t i = 0; i < nfiles; ++i) {
        if (lists != NULL)
            ks_doc_list_free(&lists[i]);
        if (texts != NULL)
            free(texts[i]);
    }
    free(lists);
    free(texts);
    ks__cli_files_free(files, nfiles);
    free(paths);
    free(err);
    return rc;
}
