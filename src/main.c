/*
 * kserve: one executable, one subcommand per role.
 */
#include <stdio.h>
#include <string.h>

#include "ks/apiserver.h"
#include "ks/cli.h"
#include "ks/server.h"
#include "ks/storage.h"
#include "ks/zygote.h"

static int version_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("kserve-c 0.1.0");
    return 0;
}

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"up", ks_up_main, "run the platform: API, reconciler, replicas and ingress, on one machine"},
    {"model-server", ks_model_server_main, "serve one model over the V1 and V2 REST protocols"},
    {"storage-initializer", ks_storage_main, "fetch a storageUri into the model cache: URI CACHE_DIR"},
    /* the kubectl-like commands (src/cli/) */
    {"apply", ks_cli_apply_main, "create or update resources from YAML/JSON files: -f FILE"},
    {"get", ks_cli_get_main, "list resources: get isvc|revision|servingruntime|clusterservingruntime [NAME]"},
    {"describe", ks_cli_describe_main, "show a resource in detail: describe isvc NAME"},
    {"delete", ks_cli_delete_main, "delete resources: delete isvc NAME, delete -f FILE"},
    {"wait", ks_cli_wait_main, "wait for a condition: wait isvc NAME --for=condition=Ready"},
    {"logs", ks_cli_logs_main, "print the replicas' logs: logs isvc NAME [-f] [--tail N]"},
    {"zygote", ks_zygote_main, "(internal) fork server for scikit-learn replicas, started by kserve up"},
    {"version", version_main, "print the version"},
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
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); ++i)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "kserve: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
