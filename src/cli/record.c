/*
 * `kserve autoscaler record isvc NAME [-n NS] [-f] [--decisions]`: the live
 * autoscaler's trace of an InferenceService's serving revision, in the
 * format `kserve autoscaler replay` reads (include/ks/scaler.h writes it to
 * $KSERVE_HOME/autoscaler/<ns>/<revision>.trace.jsonl), so that
 *
 *     kserve autoscaler record isvc NAME | kserve autoscaler replay -
 *
 * decides again what the daemon decided.  --decisions prints the daemon's
 * own decisions instead (with ready/actual replicas and the scale applied).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char record_usage[] =
    "usage: kserve autoscaler record isvc NAME [-n NS] [-f] [--decisions]\n"
    "       kserve autoscaler record revision NAME [-n NS] [-f] [--decisions]\n"
    "Prints the autoscaler's trace of the InferenceService's serving revision (else its latest one)\n"
    "in the replay format: a {\"config\": ...} line, then one stat line per second and one tick line\n"
    "per decision.  Pipe it into \"kserve autoscaler replay -\" to decide again.\n"
    "  -f, --follow       keep printing new lines until interrupted\n"
    "      --decisions    the daemon's decisions instead of the trace\n"
    "  -n, --namespace NS the namespace (default \"default\")\n";

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int revision_of(ks__cli_client_t *c, const ks_cli_kind_t *k, const char *ns, const char *name, char *rev,
                       size_t len)
{
    char path[1024], err[512];
    json_t *obj = NULL;
    const char *r;
    long status;

    if (k->id == KS_CLI_REVISION) {
        snprintf(rev, len, "%s", name);
        return 0;
    }
    ks_cli_kind_path(path, sizeof(path), k, ns, name, NULL, NULL);
    if (ks__cli_call(c, "GET", path, NULL, &status, &obj, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return KS_EINTERNAL;
    }
    if (status != 200) {
        ks__cli_print_status(k, name, status, obj, NULL);
        json_decref(obj);
        return KS_ENOENT;
    }
    if ((r = ks_cli_json_str(obj, "status.components.predictor.latestRolledoutRevision")) == NULL)
        r = ks_cli_json_str(obj, "status.components.predictor.latestCreatedRevision");
    if (r == NULL) {
        fprintf(stderr, "error: inferenceservice/%s has no revision yet\n", name);
        json_decref(obj);
        return KS_ENOENT;
    }
    snprintf(rev, len, "%s", r);
    json_decref(obj);
    return 0;
}

int ks_cli_record_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'}, {"follow", no_argument, NULL, 'f'},
        {"decisions", no_argument, NULL, 'd'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ns_flag = NULL, *ns;
    const ks_cli_kind_t *k;
    int opt, follow = 0, decisions = 0, rc = KS_CLI_OK;
    char err[512], rev[256], path[PATH_MAX], buf[65536];
    ks__cli_client_t client;
    FILE *f;
    struct sigaction sa;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":n:fh", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns_flag = optarg; break;
        case 'f': follow = 1; break;
        case 'd': decisions = 1; break;
        case 'h': fputs(record_usage, stdout); return KS_CLI_OK;
        case ':': fprintf(stderr, "error: flag needs an argument: %s\n%s", argv[optind - 1], record_usage); return KS_CLI_USAGE;
        default: fprintf(stderr, "error: unknown flag: %s\n%s", argv[optind - 1], record_usage); return KS_CLI_USAGE;
        }
    }
    if (argc - optind != 2 || (k = ks_cli_kind_lookup(argv[optind])) == NULL ||
        (k->id != KS_CLI_ISVC && k->id != KS_CLI_REVISION)) {
        fputs(record_usage, stderr);
        return KS_CLI_USAGE;
    }
    ns = ks__cli_namespace(ns_flag);
    if (ks__cli_client_init(&client, err, sizeof(err)) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return KS_CLI_FAIL;
    }
    if (revision_of(&client, k, ns, argv[optind + 1], rev, sizeof(rev)) != 0) {
        rc = KS_CLI_FAIL;
        goto out;
    }
    snprintf(path, sizeof(path), "%s/autoscaler/%s/%s.%s.jsonl", client.home, ns, rev,
             decisions ? "decisions" : "trace");
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "error: no autoscaler trace for revision %s (%s: %s): only Serverless revisions have one\n", rev,
                path, strerror(errno));
        rc = KS_CLI_FAIL;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, stdout);
        fflush(stdout);
        if (!follow || stop_requested)
            break;
        clearerr(f);
        ks__cli_sleep_ms(200);
        if (stop_requested)
            break;
    }
    fclose(f);
out:
    ks__cli_client_free(&client);
    return rc;
}
