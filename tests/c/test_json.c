/* test_json.c — the one-pass JSON scanner (src/core/sy_json.c): it accepts exactly what a
 * strict parser accepts and records the spans of top-level members. */
#include <stdlib.h>
#include <string.h>

#include "core/sy_core.h"
#include "core/sy_chat.h"
#include "core/sy_json.h"
#include "sy_test.h"

static int valid(const char *s)
{
    sy_json_top top;
    return sy_json_scan(s, strlen(s), NULL, 0, &top, NULL) == 0;
}

TEST(accepts_and_rejects)
{
    static const char *const good[] = {
        "{}", "[]", "0", "-0", "1.5e-3", "-12E+4", "\"a\\u00e9\\n\"", "true", "false", "null",
        " {\"a\" : [1, {\"b\": null}, \"x\"] } ", "[[[[[]]]]]", "{\"\":\"\"}", "\"\xc3\xa9\"",
    };
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "01", "1.", ".5", "-",
        "1e", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"a\nb\"", "[1 2]", "{} {}",
        "{\"a\":1 \"b\":2}", "[\"a\":1]", "'a'", "NaN", "[1]]", "{\"a\":[}",
    };
    for (size_t i = 0; i < SY_ARRAY_LEN(good); i++) {
        if (!valid(good[i])) fprintf(stderr, "  rejected valid: %s\n", good[i]);
        CHECK(valid(good[i]));
    }
    for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
        if (valid(bad[i])) fprintf(stderr, "  accepted invalid: %s\n", bad[i]);
        CHECK(!valid(bad[i]));
    }
}

TEST(deep_nesting_is_bounded_not_a_crash)
{
    size_t n = 100000;
    char *s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    CHECK(!valid(s));
    memset(s, '[', 200);
    memset(s + 200, ']', 200);
    s[400] = '\0';
    CHECK(valid(s));
    free(s);
}

static void span(const char *text, const sy_json_member *m, char *key, char *val)
{
    memcpy(key, text + m->key_off, m->key_len);
    key[m->key_len] = '\0';
    memcpy(val, text + m->val_off, m->val_len);
    val[m->val_len] = '\0';
}

TEST(records_top_level_members)
{
    const char *t = " {\"id\":\"x\", \"model\" : \"gpt\\\"4\", \"choices\":[{\"a\":{\"model\":1}}],"
                    "\"n\":-1.5,\"e\":{},\"z\":null,\"o\":{\"k\":[1,2]}} ";
    sy_json_member m[8];
    sy_json_top top;
    char key[64], val[128];
    CHECK(sy_json_scan(t, strlen(t), m, 8, &top, NULL) == 0);
    CHECK(top.type == 'o' && top.n == 7 && top.total == 7);
    CHECK(top.start == 1 && top.end == strlen(t) - 1);
    span(t, &m[1], key, val);
    CHECK_STR(key, "model");
    CHECK_STR(val, "\"gpt\\\"4\"");
    CHECK(m[1].type == 's');
    span(t, &m[2], key, val);
    CHECK_STR(val, "[{\"a\":{\"model\":1}}]");
    CHECK(m[2].type == 'a');
    span(t, &m[3], key, val);
    CHECK_STR(val, "-1.5");
    span(t, &m[4], key, val);
    CHECK_STR(val, "{}");
    span(t, &m[5], key, val);
    CHECK_STR(val, "null");
    span(t, &m[6], key, val);
    CHECK_STR(val, "{\"k\":[1,2]}");
    sy_json_member got;
    CHECK(sy_json_get(t, top.start, top.end - top.start, "choices", &got) == 1 &&
          got.val_off == m[2].val_off && got.val_len == m[2].val_len);
    CHECK(sy_json_get(t, top.start, top.end - top.start, "nope", &got) == 0);
    /* more members than slots: the first ones are recorded, all are counted */
    CHECK(sy_json_scan(t, strlen(t), m, 2, &top, NULL) == 0);
    CHECK(top.n == 2 && top.total == 7);
    span(t, &m[1], key, val);
    CHECK_STR(val, "\"gpt\\\"4\"");
}

TEST(reports_the_error_offset)
{
    sy_json_top top;
    size_t at = 0;
    CHECK(sy_json_scan("{\"a\":tru}", 9, NULL, 0, &top, &at) == -1);
    CHECK(at == 5);
}

TEST(walks_and_decodes_validated_text)
{
    const char *t = "{\"a\" : [1, \"x\\\"y\", {\"k\":[]}], \"s\":\"\\u00e9\\ud83d\\ude00\\n\\/\\ud800\"}";
    sy_json_top top;
    sy_json_member m, a;
    CHECK(sy_json_scan(t, strlen(t), NULL, 0, &top, NULL) == 0);
    CHECK(sy_json_get(t, top.start, top.end - top.start, "a", &a) == 1 && a.type == 'a');
    sy_json_iter it;
    sy_json_iter_init(&it, t, a.val_off, a.val_len);
    int n = 0;
    char types[8] = {0};
    while (sy_json_iter_next(&it, &m) && n < 7) types[n++] = m.type;
    CHECK_STR(types, "nso");
    CHECK(sy_json_get(t, top.start, top.end - top.start, "s", &m) == 1);
    sy_buf b;
    sy_buf_init(&b);
    sy_json_string(t, m.val_off, m.val_len, &b);
    CHECK_STR(b.data, "\xc3\xa9\xf0\x9f\x98\x80\n/\xef\xbf\xbd"); /* é 😀 \n / U+FFFD */
    sy_buf_free(&b);
    CHECK(sy_json_get(t, top.start, top.end - top.start, "nope", &m) == 0);
    CHECK(sy_json_number("[-1.5e2]", 1, 6) == -150.0);
}

static const char *chat_error(const char *body)
{
    static sy_chat_error err;
    sy_chat c;
    int rc = sy_chat_parse(&c, body, strlen(body), &err);
    sy_chat_free(&c);
    return rc == 0 ? "ok" : err.message;
}

TEST(chat_requests_are_validated)
{
    CHECK_STR(chat_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"), "ok");
    CHECK_CONTAINS(chat_error("{\"model\":"), "could not parse the JSON body");
    CHECK_STR(chat_error("[1]"), "the request body must be a JSON object");
    CHECK_STR(chat_error("{\"messages\":[]}"), "you must provide a model parameter");
    CHECK_STR(chat_error("{\"model\":\"\",\"messages\":[]}"), "'model' must be a non-empty string");
    CHECK_STR(chat_error("{\"model\":\"m\"}"), "'messages' is required and must be a non-empty array");
    CHECK_STR(chat_error("{\"model\":\"m\",\"messages\":[ ]}"), "'messages' is required and must be a non-empty array");
    CHECK_STR(chat_error("{\"model\":\"m\",\"messages\":{}}"), "'messages' must be an array");
    CHECK_STR(chat_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},{\"content\":1}]}"),
              "messages[1] must be an object with a string 'role'");
    CHECK_STR(chat_error("{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\"}]}"),
              "'stream' must be a boolean");
    sy_chat c;
    sy_chat_error err;
    const char *body = "{\"model\":\"a\\u0062\",\"max_tokens\":7,\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"p1\"},"
                       "{\"type\":\"image_url\"},{\"type\":\"text\",\"text\":\"p2\"}]}]}";
    CHECK(sy_chat_parse(&c, body, strlen(body), &err) == 0);
    CHECK_STR(c.model_name, "ab");
    CHECK(c.streaming == 1 && c.nmessages == 1 && sy_chat_max_tokens(&c) == 7);
    sy_json_iter it;
    sy_json_member m;
    sy_json_iter_init(&it, c.text, c.messages.val_off, c.messages.val_len);
    CHECK(sy_json_iter_next(&it, &m) == 1);
    CHECK(sy_chat_role_is(&c, &m, "user") && !sy_chat_role_is(&c, &m, "system"));
    sy_buf b;
    sy_buf_init(&b);
    sy_chat_content(&c, &m, &b);
    CHECK_STR(b.data, "p1\np2");
    sy_buf_free(&b);
    sy_chat_free(&c);
}

int main(void)
{
    RUN(walks_and_decodes_validated_text);
    RUN(chat_requests_are_validated);
    RUN(accepts_and_rejects);
    RUN(deep_nesting_is_bounded_not_a_crash);
    RUN(records_top_level_members);
    RUN(reports_the_error_offset);
    return sy_test_summary();
}
