/*
 * Loading plugins.  See include/ks/plugin.h.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ks/common.h"
#include "ks/plugin.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *ks_plugin_sym(const char *plugin, const char *sym, char *err, size_t errlen)
{
    char exe[PATH_MAX], path[PATH_MAX + 64], *slash;
    void *h, *p;
    ssize_t n;

    /* linked in already (the unit tests, or a second lookup) */
    if ((p = dlsym(RTLD_DEFAULT, sym)) != NULL)
        return p;
    pthread_mutex_lock(&lock);
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0) {
        pthread_mutex_unlock(&lock);
        ks_errorf(err, errlen, "cannot find this executable to load kserve-%s.so", plugin);
        return NULL;
    }
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL)
        *slash = '\0';
    snprintf(path, sizeof(path), "%s/kserve-%s.so", exe, plugin);
    /* global: the plugin's symbols serve later lookups and each other */
    h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    pthread_mutex_unlock(&lock);
    if (h == NULL) {
        ks_errorf(err, errlen, "cannot load %s: %s", path, dlerror());
        return NULL;
    }
    if ((p = dlsym(h, sym)) == NULL)
        ks_errorf(err, errlen, "%s has no %s", path, sym);
    return p;
}
