/*
 * `kserve wait TYPE NAME... --for=condition=Ready[=True] | --for=delete [--timeout=30s]`: kubectl wait.
 *
 * Polls the object every 75 ms until the condition holds for each named
 * object, or the timeout (shared by all of them) passes.
 */
#include <getopt.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char wait_usage[] =
    "usage: kserve wait TYPE NAME... --for=condition=COND[=STATUS] [--timeout=30s] [-n NS]\n"
    "       kserve wait TYPE NAME... --for=delete [--timeout=30s] [-n NS]\n"
    "Waits until a condition of each object has the status (default True), or until it is gone.\n"
    "  --for=condition=Ready         e.g. Ready, PredictorReady, IngressReady; =False to wait for False\n"
    "  --for=delete                  until the object no longer exists\n"
    "  --timeout=DURATION            500ms, 30s, 2m, 1h (default 30s; 0 checks once)\n"
    "  -n, --namespace NS            the namespace (default \"default\")\n";

#define POLL_MS 75

typedef struct cond {
    int delete;
    char type[128];
    char status[32];
} cond_t;

static int parse_for(const char *s, cond_t *c)
{
    memset(c, 0, sizeof(*c));
    if (strcasecmp(s, "delete") == 0) {
        c->delete = 1;
        return 0;
    }
    if (strncasecmp(s, "condition=", 10) == 0 && s[10] != '\0') {
        const char *eq = strchr(s + 10, '=');
        size_t n = eq != NULL ? (size_t)(eq - (s + 10)) : strlen(s + 10);
        if (n == 0 || n >= sizeof(c->type))
            return KS_EINVAL;
        memcpy(c->type, s + 10, n);
        snprintf(c->status, sizeof(c->status), "%s", eq != NULL ? eq + 1 : "True");
        return c->status[0] != '\0' ? 0 : KS_EINVAL;
    }
    return KS_EINVAL;
}

/* 1 when met, 0 when not yet, KS_E* after printing the error */
static int check(ks__cli_client_t *c, const ks__cli_target_t *t, const char *ns, const cond_t *cond)
{
    char path[1024], err[512];
    json_t *obj = NULL, *cnd;
    long status;
    int r;

    ks_cli_kind_path(path, sizeof(path), t->kind, ns, t->name, NULL, NULL);
    if ((r = ks__cli_call(c, "GET", path, NULL, &status, &obj, err, sizeof(err))) != 0) {
        fprintf(stderr, "%s\n", err);
        return r;
    }
    if (status == 404) {
        json_decref(obj);
        if (cond->delete)
            return 1;
        ks__cli_print_status(t->kind, t->name, status, NULL, NULL);
        return KS_ENOENT;
    }
    if (status != 200) {
        ks__cli_print_status(t->kind, t->name, status, obj, NULL);
        json_decref(obj);
        return KS_EINTERNAL;
    }
    r = 0;
    if (!cond->delete) {
        /* conditions are matched case-insensitively, as kubectl does */
        json_t *conds = ks_cli_json_path(obj, "status.conditions");
        size_t i;
        json_array_foreach(conds, i, cnd)
        {
            const char *type = json_string_value(json_object_get(cnd, "type"));
            const char *st = json_string_value(json_object_get(cnd, "status"));
            if (type != NULL && st != NULL && strcasecmp(type, cond->type) == 0 && strcasecmp(st, cond->status) == 0)
                r = 1;
        }
    }
    json_decref(obj);
    return r;
}

int ks_cli_wait_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"for", required_argument, NULL, 'F'},    {"timeout", required_argument, NULL, 't'},
        {"namespace", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ns_flag = NULL, *for_flag = NULL, *timeout_flag = "30s", *ns;
    ks__cli_target_t *targets = NULL;
    size_t ntargets = 0;
    int64_t timeout_ms;
    ks__cli_client_t client;
    char err[512], full[128];
    uint64_t deadline;
    int opt, rc = KS_CLI_OK;
    cond_t cond;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'F': for_flag = optarg; break;
        case 't': timeout_flag = optarg; break;
        case 'n': ns_flag = optarg; break;
        case 'h': fputs(wait_usage, stdout); return KS_CLI_OK;
        case ':': return ks__cli_usage_error("wait", "flag needs an argument: %s", argv[optind - 1]);
        default: return ks__cli_usage_error("wait", "unknown flag: %s", argv[optind - 1]);
        }
    }
    if (for_flag == NULL)
        return ks__cli_usage_error("wait", "--for must be set (--for=condition=Ready or --for=delete)");
    if (parse_for(for_flag, &cond) != 0)
        return ks__cli_usage_error("wait", "unrecognized condition: \"%s\" (use condition=NAME[=STATUS] or delete)",
                                   for_flag);
    if (ks_cli_parse_duration(timeout_flag, &timeout_ms, err, sizeof(err)) != 0)
        return ks__cli_usage_error("wait", "--timeout: %s", err);
    if (ks__cli_targets("wait", argc - optind, argv + optind, &targets, &ntargets) != 0)
        return KS_CLI_USAGE;
    if (targets[0].name == NULL) {
        free(targets);
        return ks__cli_usage_error("wait", "resource(s) were provided, but no name was specified");
    }
    ns = ks__cli_namespace(ns_flag);
    if (ks__cli_client_init(&client, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        free(targets);
        return KS_CLI_FAIL;
    }
    deadline = ks_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (size_t i = 0; i < ntargets; ++i) {
        int r;
        ks_cli_kind_fullname(full, sizeof(full), targets[i].kind);
        for (;;) {
            r = check(&client, &targets[i], ns, &cond);
            if (r != 0 || ks_now_ns() >= deadline)
                break;
            ks__cli_sleep_ms(POLL_MS);
        }
        if (r == 1) {
            printf("%s/%s condition met\n", full, targets[i].name);
            fflush(stdout);
            continue;
        }
        rc = KS_CLI_FAIL;
        if (r == 0)
            fprintf(stderr, "error: timed out waiting for the condition on %s/%s\n", targets[i].kind->plural,
                    targets[i].name);
        if (r == KS_EUNAVAIL)
            break;
    }
    ks__cli_client_free(&client);
    free(targets);
    return rc;
}
