/*
 * `kserve delete TYPE NAME... [-n NS]`, `kserve delete TYPE --all`,
 * `kserve delete -f FILE`: kubectl delete.
 */
#include <getopt.h>
#include <string.h>

#include "internal.h"
#include "ks/resource.h"

static const char delete_usage[] =
    "usage: kserve delete TYPE NAME... [-n NS]\n"
    "       kserve delete TYPE/NAME... [-n NS]\n"
    "       kserve delete TYPE --all [-n NS]\n"
    "       kserve delete -f FILE|DIR|- [-f ...] [-n NS]\n"
    "Deletes InferenceServices (their revisions and replicas go with them), ServingRuntimes and\n"
    "ClusterServingRuntimes.\n"
    "  -n, --namespace NS      the namespace (default \"default\")\n"
    "  -f, --filename PATH     delete what these files describe\n"
    "      --all               every object of the type in the namespace\n"
    "      --ignore-not-found  a missing object is not an error\n";

/* Deletes one object; prints kubectl's line.  context names the file for -f. */
static int delete_one(ks__cli_client_t *c, const ks_cli_kind_t *k, const char *ns, const char *name, int ignore_missing,
                      const char *file)
{
    char path[1024], full[128], err[512], context[PATH_MAX + 32];
    json_t *reply = NULL;
    long status;
    int r;

    if (k->readonly) {
        fprintf(stderr, "error: %s are made by the daemon and go with their InferenceService; delete that instead\n",
                k->plural);
        return KS_EINVAL;
    }
    if (ks_cli_kind_path(path, sizeof(path), k, ns, name, NULL, NULL) != 0) {
        fprintf(stderr, "error: the name \"%s\" is too long\n", name);
        return KS_EINVAL;
    }
    if ((r = ks__cli_call(c, "DELETE", path, NULL, &status, &reply, err, sizeof(err))) != 0) {
        fprintf(stderr, "%s\n", err);
        return r;
    }
    ks_cli_kind_fullname(full, sizeof(full), k);
    if (status >= 200 && status < 300) {
        printf("%s \"%s\" deleted\n", full, name);
        fflush(stdout);
    } else if (status == 404 && ignore_missing) {
        r = 0;
    } else {
        if (file != NULL)
            snprintf(context, sizeof(context), "error when deleting \"%s\"", file);
        ks__cli_print_status(k, name, status, reply, file != NULL ? context : NULL);
        r = status == 404 ? KS_ENOENT : KS_EINTERNAL;
    }
    json_decref(reply);
    return r;
}

static int delete_all(ks__cli_client_t *c, const ks_cli_kind_t *k, const char *ns, int *deleted)
{
    char path[1024], err[512];
    json_t *reply = NULL, *o;
    long status;
    size_t i;
    int r, rc = 0;

    ks_cli_kind_path(path, sizeof(path), k, ns, NULL, NULL, NULL);
    if ((r = ks__cli_call(c, "GET", path, NULL, &status, &reply, err, sizeof(err))) != 0) {
        fprintf(stderr, "%s\n", err);
        return r;
    }
    if (status != 200) {
        ks__cli_print_status(k, NULL, status, reply, NULL);
        json_decref(reply);
        return KS_EINTERNAL;
    }
    json_array_foreach(json_object_get(reply, "items"), i, o)
    {
        const char *name = ks_cli_json_str(o, "metadata.name");
        if (name == NULL)
            continue;
        r = delete_one(c, k, ns, name, 1, NULL);
        if (r == KS_EUNAVAIL) {
            rc = r;
            break;
        }
        if (r != 0)
            rc = r;
        else
            (*deleted)++;
    }
    json_decref(reply);
    return rc;
}

static int delete_files(ks__cli_client_t *c, char **paths, size_t npaths, const char *ns_flag, int ignore_missing)
{
    char **files = NULL, err[4096];
    size_t nfiles = 0;
    int rc = 0;

    if (ks__cli_expand_files(paths, npaths, &files, &nfiles, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return KS_EINVAL;
    }
    for (size_t i = 0; i < nfiles && rc != KS_EUNAVAIL; ++i) {
        const char *shown = strcmp(files[i], "-") == 0 ? "STDIN" : files[i];
        ks_doc_list_t list = {0};
        char *text = NULL;
        size_t len;

        if (ks__cli_read_file(files[i], &text, &len, err, sizeof(err)) != 0 ||
            ks_yaml_load(text, len, shown, &list, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            free(text);
            rc = KS_EINVAL;
            continue;
        }
        for (size_t j = 0; j < list.n && rc != KS_EUNAVAIL; ++j) {
            ks_doc_t *d = &list.docs[j];
            const char *kind = json_string_value(json_object_get(d->obj, "kind"));
            const char *name = ks_cli_json_str(d->obj, "metadata.name");
            const char *ns = ks_cli_json_str(d->obj, "metadata.namespace");
            const ks_cli_kind_t *k = ks_cli_kind_by_kind(kind);
            int r;
            if (k == NULL || name == NULL) {
                fprintf(stderr, "error: %s:%d:%d: %s\n", shown, d->line, d->col,
                        k == NULL ? "unknown kind (InferenceService, ServingRuntime, ClusterServingRuntime)"
                                  : "metadata.name is required");
                rc = KS_EINVAL;
                continue;
            }
            r = delete_one(c, k, ns != NULL ? ns : ks__cli_namespace(ns_flag), name, ignore_missing, shown);
            if (r != 0)
                rc = r;
        }
        ks_doc_list_free(&list);
        free(text);
    }
    ks__cli_files_free(files, nfiles);
    return rc;
}

int ks_cli_delete_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'}, {"filename", required_argument, NULL, 'f'},
        {"all", no_argument, NULL, 'a'},             {"ignore-not-found", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *ns_flag = NULL;
    char **paths, err[512];
    size_t npaths = 0, ntargets = 0;
    int opt, all = 0, ignore_missing = 0, rc = KS_CLI_OK;
    ks__cli_target_t *targets = NULL;
    ks__cli_client_t client;

    paths = calloc((size_t)argc + 1, sizeof(*paths));
    if (paths == NULL)
        return KS_CLI_FAIL;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":n:f:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns_flag = optarg; break;
        case 'f': paths[npaths++] = optarg; break;
        case 'a': all = 1; break;
        case 'i': ignore_missing = 1; break;
        case 'h': fputs(delete_usage, stdout); free(paths); return KS_CLI_OK;
        case ':': free(paths); return ks__cli_usage_error("delete", "flag needs an argument: %s", argv[optind - 1]);
        default: free(paths); return ks__cli_usage_error("delete", "unknown flag: %s", argv[optind - 1]);
        }
    }
    if (npaths > 0 && optind < argc) {
        free(paths);
        return ks__cli_usage_error("delete", "give either -f FILE or TYPE NAME, not both");
    }
    if (npaths == 0) {
        if (optind >= argc) {
            free(paths);
            return ks__cli_usage_error("delete", "you must say what to delete: TYPE NAME, TYPE/NAME, TYPE --all or "
                                                 "-f FILE");
        }
        if (ks__cli_targets("delete", argc - optind, argv + optind, &targets, &ntargets) != 0) {
            free(paths);
            return KS_CLI_USAGE;
        }
        if (all && (ntargets != 1 || targets[0].name != NULL)) {
            free(targets);
            free(paths);
            return ks__cli_usage_error("delete", "--all takes a type and no names");
        }
        if (!all && targets[0].name == NULL) {
            free(targets);
            free(paths);
            return ks__cli_usage_error("delete", "resource(s) were provided, but no name was specified");
        }
    }
    if (ks__cli_client_init(&client, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        free(targets);
        free(paths);
        return KS_CLI_FAIL;
    }
    if (npaths > 0) {
        if (delete_files(&client, paths, npaths, ns_flag, ignore_missing) != 0)
            rc = KS_CLI_FAIL;
    } else if (all) {
        int deleted = 0;
        const char *ns = ks__cli_namespace(ns_flag);
        if (delete_all(&client, targets[0].kind, ns, &deleted) != 0)
            rc = KS_CLI_FAIL;
        else if (deleted == 0)
            fprintf(stderr, "No resources found%s%s%s\n", targets[0].kind->namespaced ? " in " : "",
                    targets[0].kind->namespaced ? ns : "", targets[0].kind->namespaced ? " namespace." : "");
    } else {
        for (size_t i = 0; i < ntargets; ++i) {
            int r = delete_one(&client, targets[i].kind, ks__cli_namespace(ns_flag), targets[i].name, ignore_missing,
                               NULL);
            if (r != 0)
                rc = KS_CLI_FAIL;
            if (r == KS_EUNAVAIL)
                break;
        }
    }
    ks__cli_client_free(&client);
    free(targets);
    free(paths);
    return rc;
}
