/*
 * Plugins: parts of kserve that pull in large libraries live in shared
 * objects next to the executable and are loaded only by the commands that
 * need them, so a model-server replica maps neither the embedded Python (for
 * xgboost) nor the platform's libraries (libcurl, libarchive, SQLite, ...):
 *
 *   kserve-sklearn.so   the scikit-learn runtime and the zygote (libpython)
 *   kserve-platform.so  kserve up and the CLI (store, API, reconciler, ...)
 *
 * Code linked into the same binary as a plugin's objects (the unit tests)
 * finds the symbol in the process itself first.
 */
#ifndef KS_PLUGIN_H
#define KS_PLUGIN_H

#include <stddef.h>

/* The address of sym from plugin "sklearn" or "platform"; NULL with err set. */
void *ks_plugin_sym(const char *plugin, const char *sym, char *err, size_t errlen);

#endif
