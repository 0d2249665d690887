/*
 * `kserve autoscaler replay FILE|-` and `kserve autoscaler record ...`: the
 * command line of the autoscaler's tools (the replay itself is
 * src/autoscaler/replay.c, record is record.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ks/autoscaler.h"
#include "ks/cli.h"

static void usage(FILE *f)
{
    fputs("usage: kserve autoscaler replay FILE|-\n"
          "       kserve autoscaler record isvc NAME [-n NS] [-f] [--decisions]\n"
          "  runs the KPA decider on a recorded trace (JSON lines: a {\"config\": {...}} line, then\n"
          "  stat lines {\"t\": T, \"concurrency\": x, \"rps\": y} and tick lines {\"t\": T, \"tick\": true,\n"
          "  \"ready\": R[, \"reachable\": false]}) and prints one JSON decision per tick\n",
          f);
}

int ks_autoscaler_main(int argc, char **argv)
{
    char err[KS_ERRLEN];
    FILE *in;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "record") == 0)
        return ks_cli_record_main(argc - 1, argv + 1);
    if (argc == 3 && strcmp(argv[1], "replay") == 0 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "replay") != 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[2], "-") == 0) {
        in = stdin;
    } else if ((in = fopen(argv[2], "r")) == NULL) {
        fprintf(stderr, "kserve autoscaler replay: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    rc = ks_kpa_replay(in, stdout, err, sizeof(err));
    if (in != stdin)
        fclose(in);
    fflush(stdout);
    if (rc != 0) {
        fprintf(stderr, "kserve autoscaler replay: %s: %s\n", strcmp(argv[2], "-") == 0 ? "<stdin>" : argv[2], err);
        return 1;
    }
    return 0;
}
