/*
 * ks_model_find (src/runtimes/model.c) on temporary directories.  No model is
 * loaded here: the end-to-end tests do that.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/runtime.h"

static char D[256];
static char E[KS_ERRLEN];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(D, sizeof(D), "%s/ks-unit-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(D) == NULL)
        return -1;
    memset(E, 0, sizeof(E));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(D, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void touch(const char *name)
{
    char p[512];
    FILE *f;
    snprintf(p, sizeof(p), "%s/%s", D, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("not a real model", f);
    fclose(f);
}

static void subdir(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", D, name);
    assert_int_equal(mkdir(p, 0755), 0);
}

static int find(const ks_runtime_t **rt, char **path)
{
    *rt = NULL;
    *path = NULL;
    return ks_model_find(D, rt, path, E, sizeof(E));
}

static void expect_found(const char *file, const ks_runtime_t *want)
{
    const ks_runtime_t *rt;
    char *path, full[512];
    assert_int_equal(find(&rt, &path), 0);
    assert_ptr_equal(rt, want);
    snprintf(full, sizeof(full), "%s/%s", D, file);
    assert_non_null(path);
    assert_string_equal(path, full);
    free(path);
}

static void expect_error(int code, const char *want)
{
    const ks_runtime_t *rt;
    char *path;
    assert_int_equal(find(&rt, &path), code);
    assert_null(path);
    if (strstr(E, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", E, want);
}

static void find_empty_dir(void **state)
{
    (void)state;
    expect_error(KS_ENOENT, "no model file in");
    assert_non_null(strstr(E, D));
}

static void find_only_unrelated_files(void **state)
{
    (void)state;
    touch("README.md");
    touch("model.txt");
    touch("model.bst.bak");
    touch(".bst");    /* an extension alone is not a model file */
    touch("modelbst");
    expect_error(KS_ENOENT, "no model file in");
}

static void find_bst_is_xgboost(void **state)
{
    (void)state;
    touch("model.bst");
    touch("README.md");
    expect_found("model.bst", &ks_runtime_xgboost);
    assert_string_equal(ks_runtime_xgboost.name, "xgboost");
}

static void find_xgboost_json_and_ubj(void **state)
{
    (void)state;
    touch("model.json");
    expect_found("model.json", &ks_runtime_xgboost);
    teardown(NULL);
    setup(NULL);
    touch("booster.ubj");
    expect_found("booster.ubj", &ks_runtime_xgboost);
}

static void find_joblib_is_sklearn(void **state)
{
    (void)state;
    touch("model.joblib");
    expect_found("model.joblib", &ks_runtime_sklearn);
    assert_string_equal(ks_runtime_sklearn.name, "sklearn");
}

static void find_pickle_extensions_are_sklearn(void **state)
{
    (void)state;
    touch("model.pkl");
    expect_found("model.pkl", &ks_runtime_sklearn);
    teardown(NULL);
    setup(NULL);
    touch("clf.pickle");
    expect_found("clf.pickle", &ks_runtime_sklearn);
}

static void find_two_files_names_both(void **state)
{
    (void)state;
    touch("model.bst");
    touch("model.joblib");
    expect_error(KS_EINVAL, "more than one model file");
    assert_non_null(strstr(E, "model.bst"));
    assert_non_null(strstr(E, "model.joblib"));
    assert_null(strstr(E, ", ..."));
}

static void find_two_files_same_runtime(void **state)
{
    (void)state;
    touch("a.bst");
    touch("b.json");
    expect_error(KS_EINVAL, "more than one model file");
    assert_non_null(strstr(E, "a.bst"));
    assert_non_null(strstr(E, "b.json"));
}

static void find_three_files(void **state)
{
    (void)state;
    touch("a.pkl");
    touch("b.pkl");
    touch("c.pkl");
    expect_error(KS_EINVAL, "more than one model file");
    assert_non_null(strstr(E, ", ..."));
}

static void find_directory_named_like_model_ignored(void **state)
{
    (void)state;
    subdir("model.bst");
    expect_error(KS_ENOENT, "no model file in");
    touch("model.joblib");
    expect_found("model.joblib", &ks_runtime_sklearn);
}

static void find_symlink_to_file_counts(void **state)
{
    char target[512], link[512];
    (void)state;
    touch("real-model-data");
    snprintf(target, sizeof(target), "%s/real-model-data", D);
    snprintf(link, sizeof(link), "%s/model.bst", D);
    assert_int_equal(symlink(target, link), 0);
    expect_found("model.bst", &ks_runtime_xgboost);
}

static void find_dangling_symlink_ignored(void **state)
{
    char link[512];
    (void)state;
    snprintf(link, sizeof(link), "%s/model.bst", D);
    assert_int_equal(symlink("/nonexistent/ks-unit/model.bst", link), 0);
    expect_error(KS_ENOENT, "no model file in");
}

static void find_missing_dir(void **state)
{
    const ks_runtime_t *rt = NULL;
    char *path = NULL, missing[512];
    (void)state;
    snprintf(missing, sizeof(missing), "%s/does-not-exist", D);
    assert_int_equal(ks_model_find(missing, &rt, &path, E, sizeof(E)), KS_ENOENT);
    assert_null(path);
    assert_non_null(strstr(E, missing));
    assert_non_null(strstr(E, "No such file or directory"));
}

static void find_dir_is_a_file(void **state)
{
    const ks_runtime_t *rt = NULL;
    char *path = NULL, file[512];
    (void)state;
    touch("model.bst");
    snprintf(file, sizeof(file), "%s/model.bst", D);
    assert_int_equal(ks_model_find(file, &rt, &path, E, sizeof(E)), KS_ENOENT);
    assert_null(path);
    assert_non_null(strstr(E, "is not a directory"));
}

static void find_nested_model_not_searched(void **state)
{
    (void)state;
    subdir("1");
    touch("1/model.bst");
    expect_error(KS_ENOENT, "no model file in");
}

static void runtimes_declare_extensions(void **state)
{
    int n = 0;
    (void)state;
    for (const char *const *e = ks_runtime_xgboost.extensions; *e != NULL; ++e, ++n)
        assert_int_equal((*e)[0], '.');
    assert_int_equal(n, 3);
    n = 0;
    for (const char *const *e = ks_runtime_sklearn.extensions; *e != NULL; ++e, ++n)
        assert_int_equal((*e)[0], '.');
    assert_int_equal(n, 3);
    assert_non_null(ks_runtime_xgboost.load);
    assert_non_null(ks_runtime_xgboost.infer);
    assert_non_null(ks_runtime_sklearn.load);
    assert_non_null(ks_runtime_sklearn.infer);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(find_empty_dir),
        T(find_only_unrelated_files),
        T(find_bst_is_xgboost),
        T(find_xgboost_json_and_ubj),
        T(find_joblib_is_sklearn),
        T(find_pickle_extensions_are_sklearn),
        T(find_two_files_names_both),
        T(find_two_files_same_runtime),
        T(find_three_files),
        T(find_directory_named_like_model_ignored),
        T(find_symlink_to_file_counts),
        T(find_dangling_symlink_ignored),
        T(find_missing_dir),
        T(find_dir_is_a_file),
        T(find_nested_model_not_searched),
        cmocka_unit_test(runtimes_declare_extensions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
