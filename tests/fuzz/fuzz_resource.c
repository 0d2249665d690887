/*
 * fuzz_resource: the YAML/JSON loader and the InferenceService /
 * ServingRuntime validator (what `kserve apply -f` and the API server read).
 */
#include <stdint.h>
#include <string.h>
#include "ks/resource.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ks_doc_list_t l;
    char err[512];
    if (ks_yaml_load((const char *)data, size, "f.yaml", &l, err, sizeof(err)) != 0)
        return 0;
    for (size_t i = 0; i < l.n; ++i) {
        ks_kind_t k;
        int line, col;
        ks_validate(&l.docs[i], &k, err, sizeof(err));
        ks_doc_pos(&l.docs[i], "spec.predictor.model.storageUri", &line, &col);
        ks_doc_pos(&l.docs[i], "a[\"b\\\"c\"][3].d", &line, &col);
        json_t *c = json_deep_copy(l.docs[i].obj);
        ks_validate_json(c, &k, err, 40);
        json_decref(c);
    }
    ks_doc_list_free(&l);
    return 0;
}
