/*
 * fuzz_replay: the autoscaler's trace parser and the KPA decider behind it
 * (kserve autoscaler replay).
 */
#include <stdint.h>
#include <stdio.h>

#include "ks/autoscaler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    FILE *in, *out;
    if (size == 0)
        return 0;
    if ((in = fmemopen((void *)data, size, "r")) == NULL)
        return 0;
    if ((out = fopen("/dev/null", "w")) == NULL) {
        fclose(in);
        return 0;
    }
    ks_kpa_replay(in, out, err, sizeof(err));
    fclose(in);
    fclose(out);
    return 0;
}
