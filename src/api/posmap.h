/*
 * Field paths and the map from a path to where it was written (internal to src/api/).
 *
 * A path is built one component at a time: ks__path_key() appends ".key" (no dot at the start)
 * when the key is a plain word ([A-Za-z0-9_-]+) and ["key"] otherwise (with \" \\ and \xNN
 * escapes), ks__path_index() appends "[i]".  The loader and the validator build paths with the
 * same functions, so the validator finds what the loader recorded.
 */
#ifndef KS_API_POSMAP_H
#define KS_API_POSMAP_H

#include "ks/buf.h"
#include "ks/resource.h"

/* Caps the bytes of paths one map holds (a file cannot make it grow quadratically). */
#define KS_POSMAP_MAX_BYTES (32u << 20)

int ks__path_key(ks_buf_t *b, const char *key, size_t klen);
int ks__path_index(ks_buf_t *b, size_t i);
/* Length of path's parent (the path without its last component); -1 for the empty path. */
long ks__path_parent(const char *path, size_t len);

/* An empty map (NULL on allocation failure); ks__posmap_free frees it. */
struct ks_posmap *ks__posmap_new(void);
void ks__posmap_free(struct ks_posmap *m);
/* Records path -> line/col; an existing entry is kept.  KS_ENOMEM, KS_ETOOBIG over the cap. */
int ks__posmap_put(struct ks_posmap *m, const char *path, size_t len, int line, int col);
/* 1 and the position when path itself is recorded, else 0. */
int ks__posmap_get(const struct ks_posmap *m, const char *path, size_t len, int *line, int *col);
/*
 * Records every entry under "from" (from itself, from.x, from[i], ...) again under "to" with the
 * same position: used when the validator moves a subtree (predictor.sklearn -> predictor.model).
 */
int ks__posmap_copy_prefix(struct ks_posmap *m, const char *from, const char *to);

#endif
