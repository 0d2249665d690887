/*
 * kserve: one executable, one subcommand per role.
 */
#include <stdio.h>
#include <string.h>

#include "ks/server.h"

static const char usage[] = "usage: kserve <command> [options]\n"
                            "commands:\n"
                            "  model-server   serve one model over the V1 and V2 REST protocols (--help for options)\n"
                            "  version        print the version\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "model-server") == 0)
        return ks_model_server_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        puts("kserve-c 0.1.0");
        return 0;
    }
    fprintf(stderr, "kserve: unknown command \"%s\"\n%s", argv[1], usage);
    return 2;
}
