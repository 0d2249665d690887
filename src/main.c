/*
 * kserve: one executable, one subcommand per role.  The model server is in
 * the executable; the platform's commands and the zygote come from plugins
 * loaded by the command that needs them (include/ks/plugin.h).
 */
#include <stdio.h>
#include <string.h>

#include "ks/plugin.h"
#include "ks/queue.h"
#include "ks/server.h"

typedef int (*main_fn)(int argc, char **argv);

static int version_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("kserve-c 0.1.0");
    return 0;
}

static const struct {
    const char *name;
    main_fn main;          /* in the executable, or */
    const char *plugin;    /* in this plugin, as */
    const char *symbol;
    const char *help;
} commands[] = {
    {"up", NULL, "platform", "ks_up_main", "run the platform: API, reconciler, replicas and ingress, on one machine"},
    {"model-server", ks_model_server_main, NULL, NULL, "serve one model over the V1 and V2 REST protocols"},
    {"queue-proxy", ks_queue_proxy_main, NULL, NULL,
     "a replica's queue layer: concurrency limit, queue, timeout, drain and stats in front of a model server"},
    {"storage-initializer", NULL, "platform", "ks_storage_main", "fetch a storageUri into the model cache: URI CACHE_DIR"},
    /* the kubectl-like commands (src/cli/) */
    {"apply", NULL, "platform", "ks_cli_apply_main", "create or update resources from YAML/JSON files: -f FILE"},
    {"get", NULL, "platform", "ks_cli_get_main",
     "list resources: get isvc|revision|servingruntime|clusterservingruntime [NAME]"},
    {"describe", NULL, "platform", "ks_cli_describe_main", "show a resource in detail: describe isvc NAME"},
    {"delete", NULL, "platform", "ks_cli_delete_main", "delete resources: delete isvc NAME, delete -f FILE"},
    {"wait", NULL, "platform", "ks_cli_wait_main", "wait for a condition: wait isvc NAME --for=condition=Ready"},
    {"logs", NULL, "platform", "ks_cli_logs_main", "print the replicas' logs: logs isvc NAME [-f] [--tail N]"},
    {"autoscaler", NULL, "platform", "ks_autoscaler_main", "autoscaler tools: replay FILE|- runs the KPA decider on a trace; record isvc NAME prints a live trace"},
    {"zygote", NULL, "sklearn", "ks_zygote_main", "(internal) fork server for scikit-learn replicas, started by kserve up"},
    {"version", version_main, NULL, NULL, "print the version"},
};

static void usage(FILE *f)
{
    fputs("usage: kserve <command> [options]     (kserve <command> --help for its options)\ncommands:\n", f);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); ++i)
        fprintf(f, "  %-20s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return version_main(argc, argv);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); ++i) {
        main_fn fn;
        char err[512];
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if ((fn = commands[i].main) == NULL &&
            (fn = (main_fn)ks_plugin_sym(commands[i].plugin, commands[i].symbol, err, sizeof(err))) == NULL) {
            fprintf(stderr, "kserve %s: %s\n", argv[1], err);
            return 1;
        }
        return fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "kserve: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
