/* test_schema.c — the JSON Schema validator (src/schema/): the official JSON-Schema-Test-Suite
 * for draft-07 and draft 2020-12 (tests/data/json-schema-test-suite, required and optional/
 * counted apart, remote refs to http://localhost:1234/ skipped) checked against the committed
 * tests/data/json-schema-known-failures.txt in both directions; then error paths and
 * messages, compile errors, the `switchyard validate` exit codes, threads and depth limits. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "schema/sy_schema.h"
#include "sy_test.h"

#define SUITE SY_SOURCE_DIR "/tests/data/json-schema-test-suite/tests"
#define KNOWN SY_SOURCE_DIR "/tests/data/json-schema-known-failures.txt"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

/* ================================================================ known failures */

typedef struct {
    char *draft, *file, *group, *test, *reason;
    int seen; /* 1: the test ran and failed as listed; 2: it ran and passed */
} known;

static known *g_known;
static size_t g_nknown;

static void load_known(void)
{
    char *txt = read_file(KNOWN, NULL);
    CHECK(txt != NULL);
    if (!txt) return;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0') continue;
        char *f[5] = {0};
        int k = 0;
        for (char *p = line; k < 5 && p; k++) {
            f[k] = p;
            p = strchr(p, '\t');
            if (p) *p++ = '\0';
        }
        if (k < 5) {
            fprintf(stderr, "known-failures: malformed line (need 5 tab-separated fields): %s\n",
                    line);
            CHECK(0);
            continue;
        }
        g_known = realloc(g_known, (g_nknown + 1) * sizeof *g_known);
        g_known[g_nknown++] =
            (known){strdup(f[0]), strdup(f[1]), strdup(f[2]), strdup(f[3]), strdup(f[4]), 0};
    }
    free(txt);
}

static known *find_known(const char *draft, const char *file, const char *group, const char *test)
{
    for (size_t i = 0; i < g_nknown; i++)
        if (strcmp(g_known[i].draft, draft) == 0 && strcmp(g_known[i].file, file) == 0 &&
            strcmp(g_known[i].group, group) == 0 && strcmp(g_known[i].test, test) == 0)
            return &g_known[i];
    return NULL;
}

/* ==================================================================== the suite */

typedef struct {
    int pass, fail, skip;
} counts;

static int g_unlisted; /* required failures not in the known list */

static void run_file(const char *draft, const char *dir, const char *rel, counts *req, counts *opt)
{
    char path[2 * PATH_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    size_t len;
    char *txt = read_file(path, &len);
    cJSON *doc = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    free(txt);
    if (!doc) {
        fprintf(stderr, "cannot read or parse %s\n", path);
        CHECK(0);
        return;
    }
    int optional = strncmp(rel, "optional/", 9) == 0;
    counts *cnt = optional ? opt : req;
    sy_schema_opts o = {strcmp(draft, "draft7") == 0 ? SY_DRAFT_07 : SY_DRAFT_2020_12,
                        strncmp(rel, "optional/format/", 16) == 0};
    const cJSON *group;
    cJSON_ArrayForEach(group, doc)
    {
        const char *gdesc = cJSON_GetObjectItem(group, "description")->valuestring;
        const cJSON *tests = cJSON_GetObjectItem(group, "tests"), *t;
        char err[512];
        sy_schema *s = sy_schema_compile(cJSON_GetObjectItem(group, "schema"), &o, err, sizeof err);
        int remote = !s && strstr(err, "http://localhost:1234/") != NULL;
        cJSON_ArrayForEach(t, tests)
        {
            const char *tdesc = cJSON_GetObjectItem(t, "description")->valuestring;
            int expect = cJSON_IsTrue(cJSON_GetObjectItem(t, "valid"));
            if (remote) {
                cnt->skip++;
                continue;
            }
            const cJSON *data = cJSON_GetObjectItem(t, "data");
            int got = -1;
            char why[600] = "";
            if (s) {
                sy_schema_error errs[8];
                int n1 = 0, n8 = 0;
                int v0 = sy_schema_validate(s, data, NULL, 0, NULL);
                int v1 = sy_schema_validate(s, data, errs, 1, &n1);
                int v8 = sy_schema_validate(s, data, errs, 8, &n8);
                got = v1;
                /* the three modes agree, and "invalid" always comes with an error */
                if (v0 != v1 || v1 != v8 || (!v1 && (n1 != 1 || n8 < 1)) || (v1 && (n1 || n8))) {
                    fprintf(stderr, "%s/%s: %s / %s: modes disagree (%d %d %d, %d %d errors)\n",
                            draft, rel, gdesc, tdesc, v0, v1, v8, n1, n8);
                    CHECK(0);
                }
                if (!v1) snprintf(why, sizeof why, "%s (%s)", errs[0].message, errs[0].schema_path);
            } else {
                snprintf(why, sizeof why, "compile error: %s", err);
            }
            int passed = got == expect;
            known *k = optional ? NULL : find_known(draft, rel, gdesc, tdesc);
            if (passed) {
                cnt->pass++;
                if (k) k->seen = 2;
            } else {
                cnt->fail++;
                if (k) {
                    k->seen = 1;
                } else if (!optional) {
                    g_unlisted++;
                    fprintf(stderr, "FAIL %s\t%s\t%s\t%s\t(expected %s) %s\n", draft, rel, gdesc,
                            tdesc, expect ? "valid" : "invalid", why);
                } else if (getenv("SY_SCHEMA_VERBOSE")) {
                    fprintf(stderr, "optional fail %s\t%s\t%s\t%s\t(expected %s) %s\n", draft, rel,
                            gdesc, tdesc, expect ? "valid" : "invalid", why);
                }
            }
        }
        sy_schema_free(s);
    }
    cJSON_Delete(doc);
}

static int json_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static void run_dir(const char *draft, const char *root, const char *sub, counts *req, counts *opt)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", root, sub[0] ? "/" : "", sub);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        char rel[PATH_MAX + 300], full[2 * PATH_MAX + 600];
        snprintf(rel, sizeof rel, "%s%s%s", sub, sub[0] ? "/" : "", names[i]->d_name);
        snprintf(full, sizeof full, "%s/%s", root, rel);
        struct stat st;
        if (names[i]->d_name[0] != '.' && stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                run_dir(draft, root, rel, req, opt);
            else if (json_file(names[i]))
                run_file(draft, root, rel, req, opt);
        }
        free(names[i]);
    }
    free(names);
}

TEST(official_suite)
{
    load_known();
    static const char *const drafts[] = {"draft7", "draft2020-12"};
    for (size_t d = 0; d < 2; d++) {
        char root[PATH_MAX];
        snprintf(root, sizeof root, "%s/%s", SUITE, drafts[d]);
        counts req = {0, 0, 0}, opt = {0, 0, 0};
        run_dir(drafts[d], root, "", &req, &opt);
        int rtot = req.pass + req.fail, otot = opt.pass + opt.fail;
        double rate = rtot ? 100.0 * req.pass / rtot : 0;
        printf("%-13s required: %4d passed, %3d failed, %3d skipped (remote)  %.2f%%\n", drafts[d],
               req.pass, req.fail, req.skip, rate);
        printf("%-13s optional: %4d passed, %3d failed, %3d skipped (remote)  %.2f%%\n", drafts[d],
               opt.pass, opt.fail, opt.skip, otot ? 100.0 * opt.pass / otot : 0);
        CHECK(rtot > 800);
        CHECK(rate >= 98.0);
    }
    CHECK(g_unlisted == 0);
    for (size_t i = 0; i < g_nknown; i++) {
        known *k = &g_known[i];
        if (k->seen == 2)
            fprintf(stderr, "known failure now passes (remove it from the list): %s\t%s\t%s\t%s\n",
                    k->draft, k->file, k->group, k->test);
        else if (k->seen == 0)
            fprintf(stderr, "known failure not found in the suite: %s\t%s\t%s\t%s\n", k->draft,
                    k->file, k->group, k->test);
        CHECK(k->seen == 1);
        free(k->draft);
        free(k->file);
        free(k->group);
        free(k->test);
        free(k->reason);
    }
    free(g_known);
}

/* ============================================================ errors and messages */

static sy_schema *compile_ok(const char *json, int draft)
{
    char err[512];
    sy_schema_opts o = {draft, 0};
    sy_schema *s = sy_schema_compile_text(json, strlen(json), &o, err, sizeof err);
    if (!s) fprintf(stderr, "  compile failed: %s\n  schema: %s\n", err, json);
    CHECK(s != NULL);
    return s;
}

/* Validates; returns the verdict, errors in e (up to max). */
static int check(const sy_schema *s, const char *inst, sy_schema_error *e, int max, int *n)
{
    cJSON *x = cJSON_Parse(inst);
    CHECK(x != NULL);
    int v = sy_schema_validate(s, x, e, max, n);
    cJSON_Delete(x);
    return v;
}

static const char *PERSON =
    "{\"type\":\"object\",\"required\":[\"name\",\"age\"],"
    "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0},"
    "\"email\":{\"$ref\":\"#/$defs/email\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"uniqueItems\":true},"
    "\"a/b~c\":{\"const\":1}},"
    "\"additionalProperties\":false,"
    "\"$defs\":{\"email\":{\"type\":\"string\",\"pattern\":\"^[^@]+@[^@]+$\"}}}";

TEST(error_paths_and_messages)
{
    sy_schema *s = compile_ok(PERSON, 0);
    if (!s) return;
    sy_schema_error e[16];
    int n = -1;
    CHECK(check(s, "{\"name\":\"Ann\",\"age\":3,\"tags\":[\"a\"]}", e, 16, &n) == 1);
    CHECK(n == 0);

    CHECK(check(s, "{\"name\":\"Ann\",\"age\":\"3\"}", e, 16, &n) == 0);
    CHECK(n == 1);
    CHECK_STR(e[0].instance_path, "/age");
    CHECK_STR(e[0].schema_path, "/properties/age/type");
    CHECK_STR(e[0].message, "expected integer, got string");

    CHECK(check(s, "{\"age\":1.5}", e, 16, &n) == 0);
    CHECK(n == 2);
    CHECK_STR(e[0].message, "expected integer, got number");
    CHECK_STR(e[1].instance_path, "");
    CHECK_STR(e[1].schema_path, "/required");
    CHECK_STR(e[1].message, "missing required property \"name\"");

    /* through a $ref the keyword location goes through "$ref" */
    CHECK(check(s, "{\"name\":\"A\",\"age\":1,\"email\":\"nope\"}", e, 16, &n) == 0);
    CHECK_STR(e[0].instance_path, "/email");
    CHECK_STR(e[0].schema_path, "/properties/email/$ref/pattern");
    CHECK_STR(e[0].message, "string does not match pattern \"^[^@]+@[^@]+$\"");

    /* array items, escaped names, additionalProperties, uniqueItems, enum */
    CHECK(check(s, "{\"name\":\"\",\"age\":-1,\"tags\":[\"a\",\"c\",\"a\"],\"a/b~c\":2,\"x\":0}", e,
                16, &n) == 0);
    CHECK(n == 6);
    CHECK_STR(e[0].instance_path, "/name");
    CHECK_STR(e[0].message, "string has 0 characters, fewer than 1");
    CHECK_STR(e[1].message, "-1 is less than the minimum 0");
    CHECK_STR(e[2].instance_path, "/tags/1");
    CHECK_STR(e[2].schema_path, "/properties/tags/items/enum");
    CHECK_STR(e[2].message, "value must be one of: \"a\", \"b\"");
    CHECK_STR(e[3].instance_path, "/tags");
    CHECK_STR(e[3].message, "items 0 and 2 are equal");
    CHECK_STR(e[4].instance_path, "/a~1b~0c");
    CHECK_STR(e[4].schema_path, "/properties/a~1b~0c/const");
    CHECK_STR(e[4].message, "value must be 1");
    CHECK_STR(e[5].instance_path, "");
    CHECK_STR(e[5].schema_path, "/additionalProperties");
    CHECK_STR(e[5].message, "property \"x\" is not allowed");

    /* bounded collection, first-error mode, verdict only */
    CHECK(check(s, "{\"name\":\"\",\"age\":-1,\"tags\":[\"a\",\"c\",\"a\"],\"x\":0}", e, 2, &n) ==
          0);
    CHECK(n == 2);
    CHECK(check(s, "{\"name\":\"\",\"age\":-1}", e, 1, &n) == 0);
    CHECK(n == 1);
    CHECK_STR(e[0].instance_path, "/name");
    CHECK(check(s, "{\"name\":\"\",\"age\":-1}", NULL, 0, &n) == 0);
    CHECK(n == 0);
    CHECK(check(s, "[]", e, 4, &n) == 0);
    CHECK_STR(e[0].message, "expected object, got array");
    CHECK_STR(e[0].instance_path, "");
    CHECK_STR(e[0].schema_path, "/type");
    sy_schema_free(s);

    /* applicators say what failed in words */
    s = compile_ok("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],"
                   "\"oneOf\":[{\"maxLength\":3},{\"minLength\":2}],\"not\":{\"const\":\"ab\"}}",
                   0);
    CHECK(check(s, "5", e, 4, &n) == 0);
    CHECK_STR(e[0].schema_path, "/anyOf");
    CHECK_STR(e[0].message, "value does not match any of the 2 \"anyOf\" schemas");
    CHECK(check(s, "\"abc\"", e, 4, &n) == 0);
    CHECK_STR(e[0].schema_path, "/oneOf");
    CHECK_STR(e[0].message, "value matches \"oneOf\" schemas 0 and 1, expected exactly one");
    CHECK(check(s, "\"ab\"", e, 4, &n) == 0);
    CHECK(n == 2);
    CHECK_STR(e[1].schema_path, "/not");
    sy_schema_free(s);

    s = compile_ok("{\"type\":[\"string\",\"null\"],\"format\":\"email\"}", 0);
    CHECK(check(s, "{}", e, 4, &n) == 0);
    CHECK_STR(e[0].message, "expected string or null, got object");
    CHECK(check(s, "\"not an email\"", e, 4, &n) == 1); /* format is an annotation */
    sy_schema_free(s);
    sy_schema_opts fo = {SY_DRAFT_AUTO, 1};
    char err[256];
    s = sy_schema_compile_text("{\"format\":\"email\"}", 18, &fo, err, sizeof err);
    CHECK(s != NULL);
    CHECK(check(s, "\"not an email\"", e, 4, &n) == 0);
    CHECK_STR(e[0].message, "string is not a valid email");
    CHECK_STR(e[0].schema_path, "/format");
    sy_schema_free(s);

    s = compile_ok("{\"propertyNames\":{\"pattern\":\"^[a-z]+$\"},\"if\":{\"required\":[\"k\"]},"
                   "\"then\":{\"properties\":{\"k\":{\"type\":\"boolean\"}}},"
                   "\"dependentRequired\":{\"a\":[\"b\"]},"
                   "\"unevaluatedProperties\":false,\"properties\":{\"a\":true,\"b\":true}}",
                   0);
    CHECK(check(s, "{\"a\":1,\"Zed\":1,\"k\":1}", e, 8, &n) == 0);
    CHECK(n == 4); /* "k" counts as evaluated: then's properties looked at it */
    CHECK_STR(e[0].message,
              "property name \"Zed\" is invalid: string does not match pattern \"^[a-z]+$\"");
    CHECK_STR(e[0].schema_path, "/propertyNames");
    CHECK_STR(e[1].message, "property \"a\" requires property \"b\"");
    CHECK_STR(e[1].schema_path, "/dependentRequired");
    CHECK_STR(e[2].instance_path, "/k");
    CHECK_STR(e[2].schema_path, "/then/properties/k/type");
    CHECK_STR(e[3].message, "property \"Zed\" is not allowed (unevaluated)");
    CHECK_STR(e[3].schema_path, "/unevaluatedProperties");
    sy_schema_free(s);

    /* draft-07 keyword names in paths */
    s = compile_ok("{\"items\":[{\"type\":\"integer\"}],\"additionalItems\":false,"
                   "\"dependencies\":{\"a\":[\"b\"]}}",
                   SY_DRAFT_07);
    CHECK(check(s, "[1,2]", e, 8, &n) == 0);
    CHECK_STR(e[0].schema_path, "/additionalItems");
    CHECK_STR(e[0].message, "array has more than 1 items");
    CHECK(check(s, "[\"x\"]", e, 8, &n) == 0);
    CHECK_STR(e[0].instance_path, "/0");
    CHECK_STR(e[0].schema_path, "/items/0/type");
    CHECK(check(s, "{\"a\":1}", e, 8, &n) == 0);
    CHECK_STR(e[0].schema_path, "/dependencies");
    sy_schema_free(s);

    /* long paths are cut with "..." and stay NUL-terminated */
    char deep[4096] = "{\"type\":\"object\",\"properties\":{\"";
    for (int i = 0; i < 300; i++)
        strcat(deep, "k");
    strcat(deep, "\":{\"type\":\"string\"}}}");
    s = compile_ok(deep, 0);
    char inst[1024] = "{\"";
    for (int i = 0; i < 300; i++)
        strcat(inst, "k");
    strcat(inst, "\":1}");
    CHECK(check(s, inst, e, 1, &n) == 0);
    CHECK(strlen(e[0].instance_path) == 255);
    CHECK(strcmp(e[0].instance_path + 252, "...") == 0);
    sy_schema_free(s);
}

/* ================================================================== compile errors */

static void expect_compile_error(const char *schema, int draft, const char *want1,
                                 const char *want2)
{
    char err[512] = "";
    sy_schema_opts o = {draft, 0};
    sy_schema *s = sy_schema_compile_text(schema, strlen(schema), &o, err, sizeof err);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, want1);
    if (want2) CHECK_CONTAINS(err, want2);
    sy_schema_free(s);
}

TEST(compile_errors_name_the_schema_path)
{
    expect_compile_error("{\"properties\":{\"a\":{\"pattern\":\"([a-z\"}}}", 0,
                         "invalid schema at \"/properties/a/pattern\"",
                         "invalid regular expression \"([a-z\"");
    expect_compile_error("{\"patternProperties\":{\"(\":true}}", 0, "at \"/patternProperties/(\"",
                         "invalid regular expression");
    expect_compile_error("{\"pattern\":\"\\\\a\"}", 0, "at \"/pattern\"", "not an ECMA-262 escape");
    expect_compile_error("{\"properties\":{\"a\":{\"minLength\":\"3\"}}}", 0,
                         "at \"/properties/a/minLength\"",
                         "must be a non-negative integer, got string");
    expect_compile_error("{\"minItems\":-1}", 0, "at \"/minItems\"", "non-negative integer");
    expect_compile_error("{\"type\":\"strin\"}", 0, "at \"/type\"", "unknown type \"strin\"");
    expect_compile_error("{\"required\":\"a\"}", 0, "at \"/required\"", "array of strings");
    expect_compile_error("{\"allOf\":[]}", 0, "at \"/allOf\"", "non-empty array");
    expect_compile_error("{\"items\":[{}]}", SY_DRAFT_2020_12, "at \"/items\"", "prefixItems");
    expect_compile_error("{\"not\":3}", 0, "at \"/not\"", "must be a schema");
    expect_compile_error("{\"multipleOf\":0}", 0, "at \"/multipleOf\"", "greater than 0");
    expect_compile_error("{\"exclusiveMaximum\":true}", SY_DRAFT_07, "at \"/exclusiveMaximum\"",
                         "draft-04");
    expect_compile_error("{\"properties\":{\"a\":{\"$ref\":\"#/definitions/nope\"}}}", 0,
                         "at \"/properties/a/$ref\"", "unresolvable reference");
    expect_compile_error("{\"$ref\":\"#nope\"}", 0, "at \"/$ref\"", "no anchor \"nope\"");
    expect_compile_error("{\"$ref\":\"other.json\"}", 0, "at \"/$ref\"",
                         "unresolvable reference \"other.json\"");
    expect_compile_error("{\"items\":{\"$ref\":\"https://example.com/s.json#/x\"}}", 0,
                         "at \"/items/$ref\"", "remote reference");
    expect_compile_error("{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}", SY_DRAFT_07,
                         "at \"/$ref\"", "remote reference");
    expect_compile_error("{\"$schema\":\"http://json-schema.org/draft-04/schema#\"}", 0,
                         "at \"/$schema\"", "unsupported $schema");
    expect_compile_error("{\"type\":", 0, "not valid JSON", NULL);
    expect_compile_error("[1]", 0, "must be an object or a boolean", NULL);
    /* $ref cycles that never consume instance would recurse forever */
    expect_compile_error("{\"$ref\":\"#\"}", 0, "reference cycle", NULL);
    expect_compile_error("{\"$defs\":{\"a\":{\"allOf\":[{\"$ref\":\"#/$defs/b\"}]},"
                         "\"b\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}}}",
                         0, "reference cycle", NULL);
    /* ... but recursion through properties/items is fine */
    sy_schema *s = compile_ok("{\"properties\":{\"next\":{\"$ref\":\"#\"}}}", 0);
    sy_schema_free(s);
    /* draft-07: $ref beside other keywords overrides them, also in error paths */
    s = compile_ok("{\"definitions\":{\"i\":{\"type\":\"integer\"}},"
                   "\"properties\":{\"a\":{\"$ref\":\"#/definitions/i\",\"maximum\":0}}}",
                   SY_DRAFT_07);
    sy_schema_error e[2];
    int n;
    CHECK(check(s, "{\"a\":5}", e, 2, &n) == 1);
    CHECK(check(s, "{\"a\":\"x\"}", e, 2, &n) == 0);
    CHECK_STR(e[0].schema_path, "/properties/a/$ref/type");
    sy_schema_free(s);
    /* the caller's tree may be freed right after compiling */
    cJSON *doc = cJSON_Parse("{\"enum\":[\"x\",{\"a\":[1]}]}");
    s = sy_schema_compile(doc, NULL, NULL, 0);
    cJSON_Delete(doc);
    CHECK(s != NULL);
    CHECK(check(s, "{\"a\":[1.0]}", e, 2, &n) == 1);
    CHECK(check(s, "\"y\"", e, 2, &n) == 0);
    sy_schema_free(s);
    sy_schema_free(NULL);
    CHECK(sy_schema_compile(NULL, NULL, NULL, 0) == NULL);
}

/* ============================================================================ CLI */

static char g_bin[PATH_MAX + 32];

static void find_binary(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    /* build/tests/c/test_schema -> build/switchyard */
    snprintf(g_bin, sizeof g_bin, "%s/../../switchyard", self);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Runs a shell command line; returns the exit status, output (stdout+stderr) in out. */
static int run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(cli_exit_codes)
{
    find_binary();
    if (access(g_bin, X_OK) != 0) {
        fprintf(stderr, "  %s not built\n", g_bin);
        CHECK(0);
        return;
    }
    char dir[] = "/tmp/sy-schema-cli-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char schema[PATH_MAX], good[PATH_MAX], bad[PATH_MAX], broken[PATH_MAX], badjson[PATH_MAX];
    snprintf(schema, sizeof schema, "%s/schema.json", dir);
    snprintf(good, sizeof good, "%s/good.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    snprintf(broken, sizeof broken, "%s/broken-schema.json", dir);
    snprintf(badjson, sizeof badjson, "%s/notjson.json", dir);
    write_file(schema,
               "{\"type\":\"object\",\"required\":[\"name\"],"
               "\"properties\":{\"name\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"}}}");
    write_file(good, "{\"name\":\"x\",\"n\":2}");
    write_file(bad, "{\"n\":\"2\"}");
    write_file(broken, "{\"properties\":{\"a\":{\"minimum\":\"zero\"}}}");
    write_file(badjson, "{\"name\":");
    char cmd[4 * PATH_MAX], out[4096];

    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>&1", g_bin, schema, good);
    CHECK(run(cmd, out, sizeof out) == 0);
    snprintf(cmd, sizeof cmd, "%s validate %s - < %s 2>&1", g_bin, schema, good);
    CHECK(run(cmd, out, sizeof out) == 0);

    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>/dev/null", g_bin, schema, bad);
    CHECK(run(cmd, out, sizeof out) == 1);
    CHECK_STR(out, "/n: expected integer, got string (/properties/n/type)\n"
                   "(root): missing required property \"name\" (/required)\n");
    snprintf(cmd, sizeof cmd, "%s validate --first %s < %s 2>/dev/null", g_bin, schema, bad);
    CHECK(run(cmd, out, sizeof out) == 1);
    CHECK_STR(out, "/n: expected integer, got string (/properties/n/type)\n");

    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>&1", g_bin, broken, good);
    CHECK(run(cmd, out, sizeof out) == 2);
    CHECK_CONTAINS(out, "broken-schema.json: invalid schema at \"/properties/a/minimum\"");
    snprintf(cmd, sizeof cmd, "%s validate %s/missing.json %s 2>&1", g_bin, dir, good);
    CHECK(run(cmd, out, sizeof out) == 2);
    CHECK_CONTAINS(out, "cannot read");
    CHECK_CONTAINS(out, "missing.json");
    snprintf(cmd, sizeof cmd, "%s validate %s %s/nope.json 2>&1", g_bin, schema, dir);
    CHECK(run(cmd, out, sizeof out) == 2);
    CHECK_CONTAINS(out, "nope.json");
    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>&1", g_bin, schema, badjson);
    CHECK(run(cmd, out, sizeof out) == 2);
    CHECK_CONTAINS(out, "notjson.json: not valid JSON");
    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>&1", g_bin, badjson, good);
    CHECK(run(cmd, out, sizeof out) == 2);
    CHECK_CONTAINS(out, "notjson.json: schema is not valid JSON");
    snprintf(cmd, sizeof cmd, "%s validate --draft 5 %s %s 2>&1", g_bin, schema, good);
    CHECK(run(cmd, out, sizeof out) == 2);
    snprintf(cmd, sizeof cmd, "%s validate 2>&1", g_bin);
    CHECK(run(cmd, out, sizeof out) == 2);
    CHECK_CONTAINS(out, "usage: switchyard validate");

    /* --draft and --format */
    write_file(schema, "{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false,"
                       "\"format\":\"date-time\"}");
    write_file(good, "[\"x\"]");
    write_file(bad, "[\"x\", 1]");
    snprintf(cmd, sizeof cmd, "%s validate --draft 7 %s %s 2>&1", g_bin, schema, good);
    CHECK(run(cmd, out, sizeof out) == 0);
    snprintf(cmd, sizeof cmd, "%s validate --draft 7 %s %s 2>&1", g_bin, schema, bad);
    CHECK(run(cmd, out, sizeof out) == 1);
    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>&1", g_bin, schema, good);
    CHECK(run(cmd, out, sizeof out) == 2); /* array "items" is not 2020-12 */
    write_file(schema, "{\"format\":\"date-time\"}");
    write_file(good, "\"2024-02-29T12:00:00Z\"");
    write_file(bad, "\"2023-02-29T12:00:00Z\"");
    snprintf(cmd, sizeof cmd, "%s validate %s %s 2>&1", g_bin, schema, bad);
    CHECK(run(cmd, out, sizeof out) == 0);
    snprintf(cmd, sizeof cmd, "%s validate --format %s %s 2>&1", g_bin, schema, bad);
    CHECK(run(cmd, out, sizeof out) == 1);
    CHECK_STR(out, "(root): string is not a valid date-time (/format)\n");
    snprintf(cmd, sizeof cmd, "%s validate --format %s %s 2>&1", g_bin, schema, good);
    CHECK(run(cmd, out, sizeof out) == 0);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* ======================================================================== threads */

typedef struct {
    const sy_schema *s;
    cJSON *good, *bad;
    int wrong;
} thread_arg;

static void *hammer(void *p)
{
    thread_arg *a = p;
    sy_schema_error e[4];
    for (int i = 0; i < 20000; i++) {
        int n = 0;
        if (sy_schema_validate(a->s, a->good, e, 4, &n) != 1 || n != 0) a->wrong++;
        if (sy_schema_validate(a->s, a->bad, e, 4, &n) != 0 || n != 2 ||
            strcmp(e[0].instance_path, "/items/1/sku") != 0)
            a->wrong++;
    }
    return NULL;
}

TEST(one_schema_many_threads)
{
    sy_schema *s = compile_ok(
        "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{"
        "\"$ref\":\"#/$defs/item\"}},\"note\":{\"type\":\"string\"}},"
        "\"unevaluatedProperties\":false,"
        "\"$defs\":{\"item\":{\"type\":\"object\",\"required\":[\"sku\"],\"properties\":{"
        "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]+$\"}}}}}",
        0);
    if (!s) return;
    cJSON *good =
        cJSON_Parse("{\"items\":[{\"sku\":\"ABC-1\"},{\"sku\":\"XYZ-22\"}],\"note\":\"n\"}");
    cJSON *bad = cJSON_Parse("{\"items\":[{\"sku\":\"ABC-1\"},{\"sku\":\"x\"}],\"zzz\":1}");
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){s, good, bad, 0};
        CHECK(pthread_create(&th[i], NULL, hammer, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].wrong == 0);
    }
    cJSON_Delete(good);
    cJSON_Delete(bad);
    sy_schema_free(s);
}

/* ==================================================================== depth limits */

/* cJSON_Delete recurses; a 100k-deep chain is taken apart from the top, one level at a time. */
static void delete_deep(cJSON *root)
{
    while (root) {
        cJSON *child = root->child;
        if (child && child->next) { /* not a chain: the rest is shallow */
            cJSON_Delete(root);
            return;
        }
        if (child) cJSON_DetachItemViaPointer(root, child);
        cJSON_Delete(root);
        root = child;
    }
}

static cJSON *deep_array(int depth)
{
    cJSON *root = cJSON_CreateArray(), *cur = root;
    for (int i = 1; i < depth; i++) {
        cJSON *next = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, next);
        cur = next;
    }
    return root;
}

TEST(deep_instances_hit_the_limit_not_the_stack)
{
    cJSON *deep = deep_array(100000);
    sy_schema_error e[4];
    int n = 0;
    sy_schema *s = compile_ok("{\"items\":{\"$ref\":\"#\"}}", 0);
    CHECK(sy_schema_validate(s, deep, e, 4, &n) == 0);
    CHECK(n == 1);
    CHECK_CONTAINS(e[0].message, "validation deeper than 512 levels");
    CHECK(strncmp(e[0].instance_path, "/0/0/0/0", 8) == 0);
    CHECK(sy_schema_validate(s, deep, NULL, 0, NULL) == 0);
    sy_schema_free(s);

    /* ... also when the recursion hides in a branch that would invert it */
    s = compile_ok("{\"not\":{\"items\":{\"not\":{\"$ref\":\"#\"}}}}", 0);
    CHECK(sy_schema_validate(s, deep, e, 4, &n) == 0);
    CHECK_CONTAINS(e[0].message, "deeper than");
    sy_schema_free(s);

    /* equality (uniqueItems, const, enum) on deep values */
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, deep_array(100000));
    cJSON_AddItemToArray(pair, deep_array(100000));
    s = compile_ok("{\"uniqueItems\":true}", 0);
    CHECK(sy_schema_validate(s, pair, e, 4, &n) == 0);
    CHECK_CONTAINS(e[0].message, "deeper than");
    sy_schema_free(s);
    delete_deep(cJSON_DetachItemFromArray(pair, 1));
    delete_deep(cJSON_DetachItemFromArray(pair, 0));
    cJSON_Delete(pair);

    /* a schema that never descends doesn't care how deep the instance is */
    s = compile_ok("{\"type\":\"array\",\"minItems\":1}", 0);
    CHECK(sy_schema_validate(s, deep, e, 4, &n) == 1);
    sy_schema_free(s);
    delete_deep(deep);

    /* a legitimately deep (but bounded) instance validates */
    cJSON *mid = deep_array(200);
    s = compile_ok("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", 0);
    CHECK(sy_schema_validate(s, mid, e, 4, &n) == 1);
    sy_schema_free(s);
    cJSON_Delete(mid);

    /* schemas nested past the limit are refused at compile time */
    cJSON *ds = cJSON_CreateObject(), *cur = ds;
    for (int i = 0; i < 2000; i++) {
        cJSON *next = cJSON_CreateObject();
        cJSON_AddItemToObject(cur, "not", next);
        cur = next;
    }
    char err[256];
    CHECK(sy_schema_compile(ds, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "nested deeper than 512");
    delete_deep(ds);
}

/* ============================================================== other limits */

TEST(backtracking_and_big_values)
{
    sy_schema_error e[4];
    int n;
    /* catastrophic backtracking stops at PCRE2's match limit: an error, not a hang */
    sy_schema *s = compile_ok("{\"pattern\":\"^(a+)+$\"}", 0);
    char inst[128] = "\"";
    for (int i = 0; i < 40; i++)
        strcat(inst, "a");
    strcat(inst, "b\"");
    CHECK(check(s, inst, e, 4, &n) == 0);
    CHECK_CONTAINS(e[0].message, "could not be matched");
    sy_schema_free(s);

    /* invalid UTF-8 in an instance string: the pattern fails, nothing crashes */
    s = compile_ok("{\"pattern\":\"^.$\",\"maxLength\":1}", 0);
    cJSON *bad = cJSON_CreateString("\xff\xfe");
    CHECK(sy_schema_validate(s, bad, e, 4, &n) == 0);
    cJSON_Delete(bad);
    sy_schema_free(s);

    /* uniqueItems on a long array (hashed, not pairwise), with and without a duplicate */
    s = compile_ok("{\"uniqueItems\":true}", 0);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < 20000; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "i", i);
        cJSON_AddStringToObject(o, "k", i % 2 ? "odd" : "even");
        cJSON_AddItemToArray(arr, o);
    }
    CHECK(sy_schema_validate(s, arr, e, 4, &n) == 1);
    cJSON *dup = cJSON_CreateObject(); /* same members as item 7, other order, 7.0 */
    cJSON_AddStringToObject(dup, "k", "odd");
    cJSON_AddNumberToObject(dup, "i", 7.0);
    cJSON_AddItemToArray(arr, dup);
    CHECK(sy_schema_validate(s, arr, e, 4, &n) == 0);
    CHECK_STR(e[0].message, "items 7 and 20000 are equal");
    sy_schema_free(s);
    cJSON_Delete(arr);

    /* objects with more members and names than the validator keeps on its stack */
    char *big = malloc(64 * 1024);
    strcpy(big, "{\"required\":[");
    for (int i = 0; i < 700; i++)
        sprintf(big + strlen(big), "%s\"p%d\"", i ? "," : "", i);
    strcat(big, "],\"properties\":{\"p0\":{\"type\":\"integer\"}},"
                "\"unevaluatedProperties\":{\"type\":\"integer\",\"maximum\":698}}");
    s = compile_ok(big, 0);
    cJSON *obj = cJSON_CreateObject();
    for (int i = 0; i < 700; i++) {
        char k[16];
        snprintf(k, sizeof k, "p%d", i);
        cJSON_AddNumberToObject(obj, k, i);
    }
    CHECK(sy_schema_validate(s, obj, e, 4, &n) == 0);
    CHECK(n == 1);
    CHECK_STR(e[0].instance_path, "/p699");
    CHECK_STR(e[0].schema_path, "/unevaluatedProperties/maximum");
    cJSON_DeleteItemFromObject(obj, "p699");
    CHECK(sy_schema_validate(s, obj, e, 4, &n) == 0);
    CHECK_STR(e[0].message, "missing required property \"p699\"");
    sy_schema_free(s);
    cJSON_Delete(obj);
    free(big);

    /* numbers: 1.0 is an integer, big integers as doubles, multipleOf with tolerance */
    s = compile_ok("{\"type\":\"integer\",\"multipleOf\":0.01}", 0);
    CHECK(check(s, "1.0", e, 4, &n) == 1);
    CHECK(check(s, "1e300", e, 4, &n) == 1);
    CHECK(check(s, "1.5", e, 4, &n) == 0);
    sy_schema_free(s);
    s = compile_ok("{\"multipleOf\":0.01}", 0);
    CHECK(check(s, "0.07", e, 4, &n) == 1);
    CHECK(check(s, "19.99", e, 4, &n) == 1);
    CHECK(check(s, "0.075", e, 4, &n) == 0);
    CHECK_STR(e[0].message, "0.075 is not a multiple of 0.01");
    sy_schema_free(s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(official_suite);
    RUN(error_paths_and_messages);
    RUN(compile_errors_name_the_schema_path);
    RUN(cli_exit_codes);
    RUN(one_schema_many_threads);
    RUN(deep_instances_hit_the_limit_not_the_stack);
    RUN(backtracking_and_big_values);
    return sy_test_summary();
}
