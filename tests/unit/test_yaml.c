/*
 * Resource files -> jansson documents with positions: ks_yaml_load and ks_doc_pos (src/api/yaml.c,
 * src/api/posmap.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/resource.h"

static ks_doc_list_t L;
static char E[1024];

static int setup(void **state)
{
    (void)state;
    memset(&L, 0, sizeof(L));
    memset(E, 0, sizeof(E));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_doc_list_free(&L);
    return 0;
}

static int load(const char *text)
{
    ks_doc_list_free(&L);
    return ks_yaml_load(text, strlen(text), "t.yaml", &L, E, sizeof(E));
}

/* Reads tests/data/resources/<name> (from the repository root or from build/tests). */
static char *read_fixture(const char *name, size_t *len)
{
    static const char *const dirs[] = {"tests/data/resources/", "../../tests/data/resources/"};
    for (size_t i = 0; i < 2; ++i) {
        char path[512];
        FILE *f;
        snprintf(path, sizeof(path), "%s%s", dirs[i], name);
        if ((f = fopen(path, "rb")) != NULL) {
            char *buf = malloc(1 << 20);
            assert_non_null(buf);
            *len = fread(buf, 1, (1 << 20) - 1, f);
            buf[*len] = '\0';
            fclose(f);
            return buf;
        }
    }
    fail_msg("fixture %s not found (run from the repository root)", name);
    return NULL;
}

static void assert_pos(const ks_doc_t *d, const char *path, int line, int col)
{
    int l = -1, c = -1;
    assert_int_equal(ks_doc_pos(d, path, &l, &c), 1);
    if (l != line || c != col)
        fail_msg("%s: expected %d:%d, got %d:%d", path, line, col, l, c);
}

static json_t *get(const char *path)
{
    return json_object_get(L.docs[0].obj, path);
}

/* ---- scalars ------------------------------------------------------------------------------ */

static void core_schema_scalars(void **state)
{
    (void)state;
    assert_int_equal(load("i: 12\nneg: -3\nhex: 0x1F\noct: 0o17\nf: 1.5\ne: 1e3\ndot: .5\n"
                          "t: true\nT: True\nf2: FALSE\nn: null\ntilde: ~\nempty:\n"
                          "yes: yes\non: on\ns: hello world\nq: \"12\"\nsq: 'true'\nplus: +7\nver: 1.0\n"),
                     0);
    assert_int_equal(L.n, 1);
    assert_int_equal(json_integer_value(get("i")), 12);
    assert_int_equal(json_integer_value(get("neg")), -3);
    assert_int_equal(json_integer_value(get("hex")), 31);
    assert_int_equal(json_integer_value(get("oct")), 15);
    assert_true(json_is_real(get("f")) && json_real_value(get("f")) == 1.5);
    assert_true(json_is_real(get("e")) && json_real_value(get("e")) == 1000.0);
    assert_true(json_real_value(get("dot")) == 0.5);
    assert_true(json_is_true(get("t")) && json_is_true(get("T")) && json_is_false(get("f2")));
    assert_true(json_is_null(get("n")) && json_is_null(get("tilde")) && json_is_null(get("empty")));
    /* YAML 1.2: yes and on are strings, not booleans (1.1) */
    assert_string_equal(json_string_value(get("yes")), "yes");
    assert_string_equal(json_string_value(get("on")), "on");
    assert_string_equal(json_string_value(get("s")), "hello world");
    /* quoted scalars are always strings */
    assert_string_equal(json_string_value(get("q")), "12");
    assert_string_equal(json_string_value(get("sq")), "true");
    assert_int_equal(json_integer_value(get("plus")), 7);
    assert_true(json_is_real(get("ver")));
}

static void strings_that_look_like_numbers(void **state)
{
    (void)state;
    assert_int_equal(load("a: 1_000\nb: 0x\nc: 1e\nd: 12abc\ne: 1.2.3\nf: \"-\"\ng: 0o\nh: 100m\ni: 1Gi\n"), 0);
    assert_string_equal(json_string_value(get("a")), "1_000");
    assert_string_equal(json_string_value(get("b")), "0x");
    assert_string_equal(json_string_value(get("c")), "1e");
    assert_string_equal(json_string_value(get("d")), "12abc");
    assert_string_equal(json_string_value(get("e")), "1.2.3");
    assert_string_equal(json_string_value(get("g")), "0o");
    assert_string_equal(json_string_value(get("h")), "100m");
    assert_string_equal(json_string_value(get("i")), "1Gi");
}

static void block_scalars(void **state)
{
    (void)state;
    assert_int_equal(load("lit: |\n  line one\n  line two\nfold: >-\n  folded\n  text\nmulti: plain\n  continued\n"), 0);
    assert_string_equal(json_string_value(get("lit")), "line one\nline two\n");
    assert_string_equal(json_string_value(get("fold")), "folded text");
    assert_string_equal(json_string_value(get("multi")), "plain continued");
}

/* libfyaml 0.7.12 garbles runs of '' and leaks: the loader decodes single-quoted scalars itself */
static void single_quoted_scalars(void **state)
{
    (void)state;
    assert_int_equal(load("a: 'x''''''''x'\nb: ''''''''''''\nc: ''\nd: ''''\n"
                          "e: 'multi\n  line''s  \n\n  end'\nf: 'x\n\n\n  y  \n  z'\ng: '  keep  '\n"
                          "'k''ey': 'v''al'\nh: 'tab\there'\n"),
                     0);
    assert_string_equal(json_string_value(get("a")), "x''''x");
    assert_string_equal(json_string_value(get("b")), "'''''");
    assert_string_equal(json_string_value(get("c")), "");
    assert_string_equal(json_string_value(get("d")), "'");
    assert_string_equal(json_string_value(get("e")), "multi line's\nend");
    assert_string_equal(json_string_value(get("f")), "x\n\ny z");
    assert_string_equal(json_string_value(get("g")), "  keep  ");
    assert_string_equal(json_string_value(get("k'ey")), "v'al");
    assert_string_equal(json_string_value(get("h")), "tab\there");
    assert_int_equal(load("- 'one\r\n  two'\r\n- '\xc3\xa9''\xe2\x9c\x93'\n"), 0);
    assert_string_equal(json_string_value(json_array_get(L.docs[0].obj, 0)), "one two");
    assert_string_equal(json_string_value(json_array_get(L.docs[0].obj, 1)), "\xc3\xa9'\xe2\x9c\x93");
}

static void core_tags(void **state)
{
    (void)state;
    assert_int_equal(load("a: !!str 12\nb: !!int \"12\"\nc: !!float 3\nd: !!bool \"true\"\ne: !!null \"\"\n"
                          "f: !!map {x: 1}\ng: !!seq [1]\nh: ! 12\n"),
                     0);
    assert_string_equal(json_string_value(get("a")), "12");
    assert_int_equal(json_integer_value(get("b")), 12);
    assert_true(json_is_real(get("c")) && json_real_value(get("c")) == 3.0);
    assert_true(json_is_true(get("d")));
    assert_true(json_is_null(get("e")));
    assert_true(json_is_object(get("f")));
    assert_true(json_is_array(get("g")));
    assert_string_equal(json_string_value(get("h")), "12");
}

static void bad_tags(void **state)
{
    (void)state;
    assert_int_equal(load("a: 1\nb: !foo x\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:4: unsupported tag !foo (only the YAML core tags are accepted)");
    assert_int_equal(L.n, 0);
    assert_int_equal(load("a: !!int twelve\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:1:4: \"twelve\" is not a valid !!int");
    assert_int_equal(load("a:\n  b: !!map [1]\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:6: tag !!map cannot be used on a list");
    assert_int_equal(load("a: !!binary aGVsbG8=\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:1:4: unsupported tag !!binary (only the YAML core tags are accepted)");
    assert_int_equal(load("a: !!str [1]\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:1:4: tag !!str cannot be used on a list");
}

static void numbers_json_cannot_hold(void **state)
{
    (void)state;
    assert_int_equal(load("x: 1\ny: .inf\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:4: .inf: infinite and NaN numbers cannot be represented in JSON");
    assert_int_equal(load("y: -.Inf\n"), KS_EINVAL);
    assert_int_equal(load("y: .nan\n"), KS_EINVAL);
    assert_int_equal(load("y: 1e999\n"), KS_EINVAL);
    assert_non_null(strstr(E, "out-of-range"));
    assert_int_equal(load("big: 99999999999999999999\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:1:6: integer 99999999999999999999 does not fit in 64 bits");
    assert_int_equal(load("max: 9223372036854775807\nmin: -9223372036854775808\n"), 0);
    assert_true(json_integer_value(get("max")) == INT64_MAX);
    assert_true(json_integer_value(get("min")) == INT64_MIN);
}

/* ---- documents ---------------------------------------------------------------------------- */

static void empty_input_and_empty_documents(void **state)
{
    (void)state;
    assert_int_equal(load(""), 0);
    assert_int_equal(L.n, 0);
    assert_int_equal(load("# only a comment\n"), 0);
    assert_int_equal(L.n, 0);
    assert_int_equal(load("---\n---\n# c\n---\nnull\n---\n~\n...\n"), 0);
    assert_int_equal(L.n, 0);
    assert_int_equal(load("---\n---\na: 1\n---\n---\nb: 2\n---\n"), 0);
    assert_int_equal(L.n, 2);
    assert_int_equal(json_integer_value(json_object_get(L.docs[0].obj, "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(L.docs[1].obj, "b")), 2);
    assert_int_equal(L.docs[0].line, 3);
    assert_int_equal(L.docs[1].line, 6);
    assert_string_equal(L.docs[1].file, "t.yaml");
}

static void multi_document_fixture(void **state)
{
    size_t len;
    char *text = read_fixture("multi.yaml", &len);
    (void)state;
    assert_int_equal(ks_yaml_load(text, len, "multi.yaml", &L, E, sizeof(E)), 0);
    assert_int_equal(L.n, 3); /* the empty document is skipped */
    assert_string_equal(json_string_value(json_object_get(L.docs[0].obj, "kind")), "ServingRuntime");
    assert_string_equal(json_string_value(json_object_get(L.docs[1].obj, "kind")), "InferenceService");
    assert_string_equal(json_string_value(json_object_get(L.docs[2].obj, "kind")), "InferenceService");
    assert_int_equal(L.docs[0].line, 3);
    assert_int_equal(L.docs[1].line, 26);
    assert_int_equal(L.docs[2].line, 38);
    /* positions are per document */
    assert_pos(&L.docs[0], "spec.containers[0].ports[0].containerPort", 21, 11);
    assert_pos(&L.docs[0], "spec.supportedModelFormats[0].priority", 10, 55);
    assert_pos(&L.docs[1], "spec.predictor.model.storageUri", 36, 7);
    assert_pos(&L.docs[2], "metadata.name", 40, 12);
    assert_pos(&L.docs[2], "spec.predictor.sklearn.storageUri", 43, 15);
    free(text);
}

static void scalar_and_list_documents(void **state)
{
    (void)state;
    assert_int_equal(load("just a string\n---\n[1, 2]\n"), 0);
    assert_int_equal(L.n, 2);
    assert_string_equal(json_string_value(L.docs[0].obj), "just a string");
    assert_true(json_is_array(L.docs[1].obj));
    assert_pos(&L.docs[1], "[1]", 3, 5);
}

static void json_input(void **state)
{
    size_t len;
    char *text = read_fixture("isvc.json", &len);
    json_t *pred;
    (void)state;
    assert_int_equal(ks_yaml_load(text, len, "isvc.json", &L, E, sizeof(E)), 0);
    assert_int_equal(L.n, 1);
    pred = json_object_get(json_object_get(get("spec"), "predictor"), "minReplicas");
    assert_int_equal(json_integer_value(pred), 2);
    assert_pos(&L.docs[0], "spec.predictor.minReplicas", 7, 7);
    assert_pos(&L.docs[0], "spec.predictor.model.storageUri", 10, 9);
    assert_pos(&L.docs[0], "metadata.annotations[\"serving.kserve.io/deploymentMode\"]", 4, 56);
    assert_int_equal(L.docs[0].line, 1);
    assert_int_equal(L.docs[0].col, 1);
    free(text);
}

static void json_errors_have_positions(void **state)
{
    (void)state;
    assert_int_equal(load("{\"a\": 1, \"a\": 2}"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:1:10: duplicate key \"a\" (first at line 1, column 2)");
    assert_int_equal(load("{\n  \"a\": [1, 2,\n  \"b\": 3\n}\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:4:1: ")); /* the '}' where a ']' was due */
    assert_int_equal(load("{\"a\": \"x}\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:1:"));
    assert_non_null(strstr(E, "quote"));
}

/* ---- positions ---------------------------------------------------------------------------- */

static void positions_of_keys_and_items(void **state)
{
    ks_doc_t *d;
    int line = 0, col = 0;
    (void)state;
    assert_int_equal(load("apiVersion: v1\n"
                          "metadata:\n"
                          "  name: x\n"
                          "  annotations:\n"
                          "    \"serving.kserve.io/deploymentMode\": Serverless\n"
                          "    'a\"b': c\n"
                          "spec:\n"
                          "  containers:\n"
                          "  - name: a\n"
                          "    args:\n"
                          "      - one\n"
                          "      -   two\n"
                          "  - {name: b, args: [x, y]}\n"),
                     0);
    d = &L.docs[0];
    assert_pos(d, "", 1, 1);
    assert_pos(d, "apiVersion", 1, 1);
    assert_pos(d, "metadata.name", 3, 3);
    assert_pos(d, "metadata.annotations[\"serving.kserve.io/deploymentMode\"]", 5, 5);
    assert_pos(d, "metadata.annotations[\"a\\\"b\"]", 6, 5);
    assert_pos(d, "spec.containers", 8, 3);
    assert_pos(d, "spec.containers[0]", 9, 5);
    assert_pos(d, "spec.containers[0].args[1]", 12, 11);
    assert_pos(d, "spec.containers[1].name", 13, 6);
    assert_pos(d, "spec.containers[1].args[1]", 13, 25);
    /* unknown paths fall back to the nearest ancestor that was written */
    assert_pos(d, "spec.containers[0].image", 9, 5);
    assert_pos(d, "spec.containers[1].args[7]", 13, 15);
    assert_pos(d, "metadata.annotations[\"x.y/z\"].deeper", 4, 3);
    assert_pos(d, "nothing.here", 1, 1);
    assert_int_equal(ks_doc_pos(NULL, "a", &line, &col), 0);
}

static void positions_with_crlf_and_bom(void **state)
{
    (void)state;
    assert_int_equal(load("\xEF\xBB\xBF"
                          "a: 1\r\nb:\r\n  c: 2\r\n"),
                     0);
    assert_int_equal(json_integer_value(json_object_get(get("b"), "c")), 2);
    assert_pos(&L.docs[0], "b.c", 3, 3);
}

/* ---- syntax errors ------------------------------------------------------------------------ */

static void tab_indentation(void **state)
{
    (void)state;
    assert_int_equal(load("spec:\n  predictor:\n\tmodel: {}\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:3:1: "));
    assert_non_null(strstr(E, "tab"));
    assert_int_equal(L.n, 0);
}

static void unclosed_quotes(void **state)
{
    (void)state;
    assert_int_equal(load("metadata:\n  name: \"sklearn-iris\nspec: {}\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:2:9: "));
    assert_non_null(strstr(E, "closing quote"));
    assert_int_equal(load("a: 'open\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:1:"));
    assert_non_null(strstr(E, "quote"));
}

static void bad_indentation(void **state)
{
    (void)state;
    assert_int_equal(load("spec:\n  predictor:\n    minReplicas: 1\n   maxReplicas: 2\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:4:4: "));
    assert_non_null(strstr(E, "indentation"));
    assert_int_equal(load("a:\n  - x\n - y\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:3:2: "));
    assert_int_equal(load("a: b: c\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:1:5: "));
}

static void unclosed_flow_collections(void **state)
{
    (void)state;
    assert_int_equal(load("args: [--a, --b\nenv: []\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:"));
    assert_non_null(strstr(E, "bracket"));
    assert_int_equal(load("a: {x: 1\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:2:1: "));
}

static void syntax_error_in_a_later_document_fails_the_file(void **state)
{
    (void)state;
    assert_int_equal(load("a: 1\n---\nb: 2\n---\nc: [\n"), KS_EINVAL);
    assert_int_equal(L.n, 0);
    assert_null(L.docs);
    assert_non_null(strstr(E, "t.yaml:"));
}

static void libfyaml_writes_nothing_to_stderr(void **state)
{
    char tmpl[] = "/tmp/ks-test-yaml-XXXXXX";
    int fd = mkstemp(tmpl), saved = dup(2);
    off_t size;
    (void)state;
    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    assert_int_equal(load("a: \"x\n\tb: [\n"), KS_EINVAL);
    assert_int_equal(load("a:\n\t- 1\n"), KS_EINVAL);
    assert_int_equal(load("a: [1, 2\n"), KS_EINVAL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(tmpl);
    assert_int_equal(size, 0);
    assert_non_null(strstr(E, "t.yaml:"));
}

/* ---- structure ---------------------------------------------------------------------------- */

static void duplicate_keys(void **state)
{
    (void)state;
    assert_int_equal(load("metadata:\n  name: a\nspec:\n  predictor: {}\nmetadata:\n  name: b\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:5:1: duplicate key \"metadata\" (first at line 1, column 1)");
    assert_int_equal(load("spec:\n  predictor:\n    minReplicas: 1\n    \"minReplicas\": 2\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:4:5: duplicate key \"minReplicas\" (first at line 3, column 5)");
    /* the same key in different mappings or documents is fine */
    assert_int_equal(load("a: {x: 1}\nb: {x: 1}\n---\na: 2\n"), 0);
    assert_int_equal(L.n, 2);
}

static char *nested(int depth, int flow)
{
    size_t cap = (size_t)depth * (size_t)(depth + 8) + 64, o = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (int i = 0; i < depth; ++i) {
        if (flow)
            o += (size_t)snprintf(s + o, cap - o, "{k%d: ", i);
        else
            o += (size_t)snprintf(s + o, cap - o, "%*sk%d:\n", 2 * i, "", i);
    }
    o += (size_t)snprintf(s + o, cap - o, flow ? "v" : "%*sleaf: v\n", 2 * depth, "");
    for (int i = 0; flow && i < depth; ++i)
        s[o++] = '}';
    s[o] = '\0';
    return s;
}

static void depth_cap(void **state)
{
    char *ok = nested(KS_RESOURCE_MAX_DEPTH - 1, 0), *deep = nested(KS_RESOURCE_MAX_DEPTH, 0);
    char *flow_ok = nested(KS_RESOURCE_MAX_DEPTH, 1), *flow_deep = nested(KS_RESOURCE_MAX_DEPTH + 1, 1);
    (void)state;
    assert_int_equal(load(ok), 0); /* the root mapping plus 63 below it: 64 levels */
    assert_int_equal(load(deep), KS_EINVAL);
    assert_non_null(strstr(E, "nesting deeper than 64 levels"));
    assert_non_null(strstr(E, "t.yaml:65:")); /* the 65th mapping: the one holding "leaf" */
    assert_int_equal(load(flow_ok), 0);
    assert_int_equal(load(flow_deep), KS_EINVAL);
    assert_non_null(strstr(E, "nesting deeper than 64 levels"));
    free(ok);
    free(deep);
    free(flow_ok);
    free(flow_deep);
}

static void aliases_expand_to_copies(void **state)
{
    json_t *a, *b;
    (void)state;
    assert_int_equal(load("base: &env\n  - {name: A, value: \"1\"}\nfirst: *env\nsecond: *env\nname: &n x\ncopy: *n\n"), 0);
    a = get("first");
    b = get("second");
    assert_true(json_equal(a, get("base")));
    assert_true(json_equal(a, b));
    assert_ptr_not_equal(a, b);
    /* a change to one copy leaves the others alone (the validator edits documents in place) */
    json_object_set_new(json_array_get(a, 0), "value", json_string("2"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "value")), "1");
    assert_string_equal(json_string_value(get("copy")), "x");
    assert_pos(&L.docs[0], "second", 4, 1);
    assert_pos(&L.docs[0], "second[0].name", 4, 1); /* inside an alias: the alias's key */
}

static void alias_errors(void **state)
{
    (void)state;
    assert_int_equal(load("a: 1\nb: *nope\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:4: alias *nope refers to no anchor defined before it");
    assert_int_equal(load("a: *later\nb: &later 1\n"), KS_EINVAL);
    assert_int_equal(load("x: &a 1\n*a : 2\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:1: an alias cannot be a mapping key");
}

static void alias_bomb_is_capped(void **state)
{
    (void)state;
    assert_int_equal(load("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                          "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                          "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                          "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                          "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                          "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"),
                     KS_ETOOBIG);
    assert_non_null(strstr(E, "more than 100000 values"));
    assert_int_equal(L.n, 0);
}

static void alias_depth_is_capped(void **state)
{
    char *deep = nested(40, 1), *text;
    size_t n;
    (void)state;
    n = strlen(deep) + 200;
    text = malloc(n);
    assert_non_null(text);
    /* 41 levels under x, used 30 levels down: 71 > 64 */
    snprintf(text, n, "x: &d %s\ny: {a: {b: {c: {d: {e: {f: {g: {h: {i: {j: {k: {l: {m: {n: {o: {p: {q: {r: {s: {t: "
                      "{u: {v: {w: {x: {y: {z: {a2: {b2: {c2: *d}}}}}}}}}}}}}}}}}}}}}}}}}}}}}\n",
             deep);
    assert_int_equal(load(text), KS_EINVAL);
    assert_non_null(strstr(E, "aliases expanded"));
    free(text);
    free(deep);
}

static void merge_keys(void **state)
{
    json_t *d;
    (void)state;
    assert_int_equal(load("defaults: &d {cpu: 1, memory: 1Gi}\n"
                          "small:\n  <<: *d\n  memory: 512Mi\n"
                          "two:\n  <<: [{a: 1}, {a: 2, b: 2}]\n  c: 3\n"),
                     0);
    d = get("small");
    assert_int_equal(json_integer_value(json_object_get(d, "cpu")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "memory")), "512Mi"); /* written keys win */
    assert_null(json_object_get(d, "<<"));
    d = get("two");
    assert_int_equal(json_integer_value(json_object_get(d, "a")), 1); /* earlier sources win */
    assert_int_equal(json_integer_value(json_object_get(d, "b")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "c")), 3);
    assert_int_equal(load("a:\n  <<: 5\n"), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:2:3: "));
    assert_non_null(strstr(E, "merge"));
    /* a quoted "<<" is an ordinary key */
    assert_int_equal(load("a: {\"<<\": 1}\n"), 0);
    assert_int_equal(json_integer_value(json_object_get(get("a"), "<<")), 1);
}

static void complex_keys_are_rejected(void **state)
{
    (void)state;
    assert_int_equal(load("a: 1\n? [x, y]\n: 2\n"), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:3: a list cannot be a mapping key");
    assert_int_equal(load("? {x: 1}\n: 2\n"), KS_EINVAL);
    assert_non_null(strstr(E, "a mapping cannot be a mapping key"));
    /* scalar keys of any type are strings, as Kubernetes reads them */
    assert_int_equal(load("1: one\ntrue: yes\n"), 0);
    assert_string_equal(json_string_value(get("1")), "one");
    assert_string_equal(json_string_value(get("true")), "yes");
}

static void size_caps(void **state)
{
    size_t n = KS_RESOURCE_MAX_BYTES + 1;
    char *big = malloc(n), *key;
    (void)state;
    assert_non_null(big);
    memset(big, '#', n);
    assert_int_equal(ks_yaml_load(big, n, "big.yaml", &L, E, sizeof(E)), KS_ETOOBIG);
    assert_non_null(strstr(E, "big.yaml: larger than"));
    free(big);

    key = malloc(KS_RESOURCE_MAX_KEY + 16);
    assert_non_null(key);
    memset(key, 'k', KS_RESOURCE_MAX_KEY + 1);
    strcpy(key + KS_RESOURCE_MAX_KEY + 1, ": 1\n");
    assert_int_equal(load(key), KS_EINVAL);
    assert_non_null(strstr(E, "t.yaml:1:1: mapping key longer than"));
    free(key);
}

static void many_values_are_capped(void **state)
{
    size_t n = 3 * (KS_RESOURCE_MAX_NODES + 10) + 8, o = 0;
    char *text = malloc(n);
    (void)state;
    assert_non_null(text);
    text[o++] = '[';
    for (int i = 0; i < KS_RESOURCE_MAX_NODES + 5; ++i) {
        text[o++] = '1';
        text[o++] = ',';
    }
    text[o++] = '1';
    text[o++] = ']';
    text[o] = '\0';
    assert_int_equal(load(text), KS_ETOOBIG);
    assert_non_null(strstr(E, "t.yaml:1:"));
    free(text);
}

static void binary_input(void **state)
{
    static const char nul[] = "a: 1\nb: x\0y\n";
    static const char bad_utf8[] = "a: \"\xff\xfe\"\n";
    (void)state;
    assert_int_equal(ks_yaml_load(nul, sizeof(nul) - 1, "t.yaml", &L, E, sizeof(E)), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:5: NUL character in the input (not a text file?)");
    static const char directive[] = "a: 1\n%  \xa5x\n"; /* made libfyaml loop forever */
    static const char overlong[] = "a: 1\nb: \xc0\xaf\n";
    static const char surrogate[] = "k: \xed\xa0\x80\n";
    static const char ok[] = "name: \xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\n";
    assert_int_equal(ks_yaml_load(bad_utf8, sizeof(bad_utf8) - 1, "t.yaml", &L, E, sizeof(E)), KS_EINVAL);
    assert_string_equal(E, "t.yaml:1:5: the input is not valid UTF-8");
    assert_int_equal(ks_yaml_load(directive, sizeof(directive) - 1, "t.yaml", &L, E, sizeof(E)), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:4: the input is not valid UTF-8");
    assert_int_equal(ks_yaml_load(overlong, sizeof(overlong) - 1, "t.yaml", &L, E, sizeof(E)), KS_EINVAL);
    assert_string_equal(E, "t.yaml:2:4: the input is not valid UTF-8");
    assert_int_equal(ks_yaml_load(surrogate, sizeof(surrogate) - 1, "t.yaml", &L, E, sizeof(E)), KS_EINVAL);
    assert_int_equal(ks_yaml_load(ok, sizeof(ok) - 1, "t.yaml", &L, E, sizeof(E)), 0);
    assert_string_equal(json_string_value(json_object_get(L.docs[0].obj, "name")), "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
    assert_int_equal(load("a: \"\\0\"\n"), 0); /* an escaped NUL inside a string value is data */
    assert_int_equal(json_string_length(get("a")), 1);
    assert_int_equal(load("\"a\\0b\": 1\n"), KS_EINVAL);
    assert_non_null(strstr(E, "NUL"));
}

static void small_error_buffer(void **state)
{
    char small[12];
    (void)state;
    memset(small, 'x', sizeof(small));
    assert_int_equal(ks_yaml_load("a: [\n", 5, "a-long-file-name.yaml", &L, small, sizeof(small)), KS_EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(ks_yaml_load("a: [\n", 5, NULL, &L, E, sizeof(E)), KS_EINVAL);
    assert_non_null(strstr(E, "<input>:"));
    assert_int_equal(ks_yaml_load("a: [\n", 5, "f", &L, NULL, 0), KS_EINVAL);
}

static void free_is_safe(void **state)
{
    ks_doc_list_t empty = {0};
    (void)state;
    ks_doc_list_free(NULL);
    ks_doc_list_free(&empty);
    ks_doc_list_free(&empty);
    ks_doc_free(NULL);
    assert_int_equal(load("a: 1\n---\nb: 2\n"), 0);
    ks_doc_free(&L.docs[0]);
    assert_null(L.docs[0].obj);
    ks_doc_list_free(&L); /* frees the rest, skips the freed one */
    assert_int_equal(L.n, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(core_schema_scalars),
        T(strings_that_look_like_numbers),
        T(block_scalars),
        T(single_quoted_scalars),
        T(core_tags),
        T(bad_tags),
        T(numbers_json_cannot_hold),
        T(empty_input_and_empty_documents),
        T(multi_document_fixture),
        T(scalar_and_list_documents),
        T(json_input),
        T(json_errors_have_positions),
        T(positions_of_keys_and_items),
        T(positions_with_crlf_and_bom),
        T(tab_indentation),
        T(unclosed_quotes),
        T(bad_indentation),
        T(unclosed_flow_collections),
        T(syntax_error_in_a_later_document_fails_the_file),
        T(libfyaml_writes_nothing_to_stderr),
        T(duplicate_keys),
        T(depth_cap),
        T(aliases_expand_to_copies),
        T(alias_errors),
        T(alias_bomb_is_capped),
        T(alias_depth_is_capped),
        T(merge_keys),
        T(complex_keys_are_rejected),
        T(size_caps),
        T(many_values_are_capped),
        T(binary_input),
        T(small_error_buffer),
        T(free_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
