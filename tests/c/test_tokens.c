/* test_tokens.c — chat request token counting (src/tokens/sy_tokens.c) through the public API:
 * OpenAI's rule for messages, names, images, tool calls and tool definitions, the estimate for
 * unknown tokenizers, the model-name guess, and the cheap upper bound the executor relies on.
 * The expected numbers come from tests/tokens/chat_counts.mjs (js-tiktoken and the rule
 * written out independently in JavaScript). The BPE itself is tested in test_bpe.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchyard.h"
#include "sy_test.h"
#include "tokens/sy_tokens.h"

typedef struct chat_case {
    const char *name, *json;
    long cl100k, o200k, estimate;
} chat_case;

static const chat_case CASES[] = {
    {"escapes", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"line one\\nline two \u00e9t\u00e9 \\\"quoted\\\" tab\\there\"}]}", 19, 19, 24},
    {"named", "{\"model\":\"x\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"name\":\"alice\",\"content\":\"Hi there\"}]}", 18, 18, 23},
    {"images", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in these images?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a.png\",\"detail\":\"low\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/b.png\"}}]}]}", 863, 863, 1079},
    {"tool_calls", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C and sunny\"}]}", 36, 36, 45},
    {"tools", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"What's the weather like in San Francisco?\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\",\"description\":\"Get the current weather in a given location.\",\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"description\":\"The city and state, e.g. San Francisco, CA\"},\"unit\":{\"type\":\"string\",\"description\":\"The unit of temperature.\",\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"location\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"noop\",\"description\":\"Does nothing\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]}", 99, 92, 115},
};

/* OpenAI cookbook "How to count tokens with tiktoken": 129 (gpt-4, cl100k), 124 (gpt-4o). */
static const char *COOKBOOK =
    "{\"model\":\"x\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a helpful, pattern-following assistant that "
    "translates corporate jargon into plain English.\"},"
    "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"New synergies will help drive "
    "top-line growth.\"},"
    "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Things working well "
    "together will increase revenue.\"},"
    "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"Let's circle back when we have "
    "more bandwidth to touch base on opportunities for increased leverage.\"},"
    "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Let's talk later when "
    "we're less busy about how to do better.\"},"
    "{\"role\":\"user\",\"content\":\"This late pivot means we don't have time to boil the "
    "ocean for the client deliverable.\"}]}";

static long chat_count(const char *enc, const char *json)
{
    long n = -1;
    char err[512];
    if (sy_tokens_count_chat(enc, json, strlen(json), &n, err, sizeof err) != SY_OK) {
        fprintf(stderr, "  %s: %s\n", enc, err);
        return -1;
    }
    return n;
}

TEST(cookbook_example)
{
    CHECK(chat_count("cl100k_base", COOKBOOK) == 129);
    CHECK(chat_count("o200k_base", COOKBOOK) == 124);
    CHECK(chat_count("estimate", COOKBOOK) == 155);
}

TEST(every_part_of_the_rule)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const chat_case *c = &CASES[i];
        long a = chat_count("cl100k_base", c->json), b = chat_count("o200k_base", c->json),
             e = chat_count("estimate", c->json);
        if (a != c->cl100k || b != c->o200k || e != c->estimate)
            fprintf(stderr, "  %s: got %ld/%ld/%ld, want %ld/%ld/%ld\n", c->name, a, b, e,
                    c->cl100k, c->o200k, c->estimate);
        CHECK(a == c->cl100k && b == c->o200k && e == c->estimate);
    }
}

TEST(errors_name_the_problem)
{
    long n;
    char err[512];
    CHECK(sy_tokens_count_chat("p50k_base", "{}", 2, &n, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "unknown encoding \"p50k_base\"");
    CHECK(sy_tokens_count_chat("o200k_base", "{\"model\":1}", 11, &n, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "not a Chat Completions request");
    size_t k;
    CHECK(sy_tokens_count_text("estimate", "x", 1, &k, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "unknown encoding \"estimate\"");
    CHECK(sy_tokens_count_text("o200k_base", "hello world", 11, &k, err, sizeof err) == SY_OK);
    CHECK(k == 2);
}

TEST(tokenizer_guessed_from_the_model_name)
{
    CHECK(sy_tok_kind_guess("gpt-4o") == SY_TOK_O200K);
    CHECK(sy_tok_kind_guess("gpt-4o-mini-2024-07-18") == SY_TOK_O200K);
    CHECK(sy_tok_kind_guess("openai/gpt-4.1-nano") == SY_TOK_O200K);
    CHECK(sy_tok_kind_guess("o3-mini") == SY_TOK_O200K);
    CHECK(sy_tok_kind_guess("o1") == SY_TOK_O200K);
    CHECK(sy_tok_kind_guess("gpt-5") == SY_TOK_O200K);
    CHECK(sy_tok_kind_guess("gpt-4") == SY_TOK_CL100K);
    CHECK(sy_tok_kind_guess("gpt-4-turbo") == SY_TOK_CL100K);
    CHECK(sy_tok_kind_guess("gpt-3.5-turbo") == SY_TOK_CL100K);
    CHECK(sy_tok_kind_guess("o1x") == SY_TOK_ESTIMATE);
    CHECK(sy_tok_kind_guess("claude-sonnet-4") == SY_TOK_ESTIMATE);
    CHECK(sy_tok_kind_guess("llama-3.1-8b") == SY_TOK_ESTIMATE);
    CHECK(sy_tok_kind_guess(NULL) == SY_TOK_ESTIMATE);
    CHECK(sy_tok_kind("o200k_base") == SY_TOK_O200K && sy_tok_kind("nope") == -1);
}

/* The executor skips counting when the bound already fits: the bound must never be below the
 * count, whatever the text (CJK and emoji are the densest: fewest bytes per token). */
TEST(the_bound_is_never_below_the_count)
{
    static const char *const pieces[] = {"a", " the", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xf0\x9f\x98\x80",
                                         "\\n", "\\u00e9", "123", "  ", "\\t", "x'", "!!"};
    char err[256];
    CHECK(sy_tokens_init(SY_TOK_CL100K, err, sizeof err) == 0);
    unsigned seed = 7;
    for (int round = 0; round < 300; round++) {
        char body[4096];
        size_t k = (size_t)snprintf(body, sizeof body,
                                    "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"");
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 300;
        for (int i = 0; i < n && k + 16 < sizeof body; i++) {
            const char *p = pieces[((seed = seed * 1103515245u + 12345u) >> 16) % 11];
            k += (size_t)snprintf(body + k, sizeof body - k, "%s", p);
        }
        snprintf(body + k, sizeof body - k, "\"}]}");
        sy_chat c;
        sy_chat_error ce;
        CHECK(sy_chat_parse(&c, body, strlen(body), &ce) == 0);
        long bound = sy_tokens_request_bound(&c);
        for (int kind = 0; kind < SY_TOK_NKINDS; kind++) {
            long t = sy_tokens_request(&c, kind);
            if (t > bound) fprintf(stderr, "  bound %ld < %ld for %s\n", bound, t, body);
            CHECK(t <= bound);
        }
        sy_chat_free(&c);
    }
    sy_chat c;
    sy_chat_error ce;
    const char *img = CASES[2].json;
    CHECK(sy_chat_parse(&c, img, strlen(img), &ce) == 0);
    CHECK(sy_tokens_request_bound(&c) == LONG_MAX); /* images: counted by rule, no bound */
    sy_chat_free(&c);
}

int main(void)
{
    RUN(cookbook_example);
    RUN(every_part_of_the_rule);
    RUN(errors_name_the_problem);
    RUN(tokenizer_guessed_from_the_model_name);
    RUN(the_bound_is_never_below_the_count);
    return sy_test_summary();
}
