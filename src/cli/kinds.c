/*
 * The resource types the command line knows, and the API paths they live at.
 */
#include <string.h>
#include <strings.h>

#include "ks/cli.h"

/* id, Kind, singular, plural, group, version, short name, namespaced, read only */
static const ks_cli_kind_t kinds[] = {
    {KS_CLI_ISVC, "InferenceService", "inferenceservice", "inferenceservices", "serving.kserve.io", "v1beta1",
     "isvc", 1, 0},
    {KS_CLI_SERVINGRUNTIME, "ServingRuntime", "servingruntime", "servingruntimes", "serving.kserve.io", "v1alpha1",
     NULL, 1, 0},
    {KS_CLI_CLUSTERSERVINGRUNTIME, "ClusterServingRuntime", "clusterservingruntime", "clusterservingruntimes",
     "serving.kserve.io", "v1alpha1", NULL, 0, 0},
    {KS_CLI_REVISION, "Revision", "revision", "revisions", "serving.knative.dev", "v1", "rev", 1, 1},
};

const ks_cli_kind_t *ks_cli_kind_lookup(const char *word)
{
    if (word == NULL)
        return NULL;
    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i) {
        const ks_cli_kind_t *k = &kinds[i];
        size_t pl = strlen(k->plural), sl = strlen(k->singular);
        if ((k->shortname != NULL && strcasecmp(word, k->shortname) == 0) || strcasecmp(word, k->singular) == 0 ||
            strcasecmp(word, k->plural) == 0 || strcasecmp(word, k->kind) == 0)
            return k;
        /* "inferenceservices.serving.kserve.io", "inferenceservice.serving.kserve.io" */
        if (strncasecmp(word, k->plural, pl) == 0 && word[pl] == '.' && strcasecmp(word + pl + 1, k->group) == 0)
            return k;
        if (strncasecmp(word, k->singular, sl) == 0 && word[sl] == '.' && strcasecmp(word + sl + 1, k->group) == 0)
            return k;
    }
    return NULL;
}

const ks_cli_kind_t *ks_cli_kind_by_kind(const char *kind)
{
    if (kind == NULL)
        return NULL;
    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i)
        if (strcmp(kind, kinds[i].kind) == 0)
            return &kinds[i];
    return NULL;
}

void ks_cli_kind_fullname(char *buf, size_t len, const ks_cli_kind_t *k)
{
    snprintf(buf, len, "%s.%s", k->singular, k->group);
}

int ks_cli_kind_path(char *buf, size_t len, const ks_cli_kind_t *k, const char *ns, const char *name, const char *sub,
                     const char *query)
{
    ks_buf_t b;
    int r = 0;

    ks_buf_init(&b, 0);
    r |= ks_buf_printf(&b, "/apis/%s/%s", k->group, k->version);
    if (k->namespaced && ns != NULL) {
        r |= ks_buf_puts(&b, "/namespaces/");
        r |= ks_cli_urlencode(&b, ns);
    }
    r |= ks_buf_printf(&b, "/%s", k->plural);
    if (name != NULL) {
        r |= ks_buf_putc(&b, '/');
        r |= ks_cli_urlencode(&b, name);
        if (sub != NULL)
            r |= ks_buf_printf(&b, "/%s", sub);
    }
    if (query != NULL && *query != '\0')
        r |= ks_buf_printf(&b, "?%s", query);
    if (r != 0) {
        ks_buf_free(&b);
        return KS_ENOMEM;
    }
    if (b.len + 1 > len) {
        ks_buf_free(&b);
        return KS_ETOOBIG;
    }
    memcpy(buf, b.base, b.len);
    buf[b.len] = '\0';
    ks_buf_free(&b);
    return 0;
}
