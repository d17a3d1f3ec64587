/* test_config.c — the config loader (src/registry/sy_config.c): every field read, and every
 * problem reported as "file:line: key: message" without stopping at the first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/sy_redis.h"
#include "registry/sy_config.h"
#include "tokens/sy_tokens.h"
#include "sy_test.h"

static char g_dir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *GOOD_POLICY =
    "local sy = require 'switchyard'\n"
    "return { name = 'p', route = function(req, ctx) return sy.pick('small') end }\n";

TEST(loads_every_field)
{
    write_file("p.lua", GOOD_POLICY);
    const char *path = write_file(
        "good.lua",
        "server { listen = '127.0.0.1:9999', workers = 3, max_body = '1MiB' }\n"
        "provider { id = 'sim', kind = 'sim', seed = 5, time_scale = 0.5 }\n"
        "provider { id = 'oa', kind = 'openai', base_url = 'http://x/v1/', api_key_env = 'SY_TEST_KEY' }\n"
        "model { id = 'small', provider = 'sim', price = { input = 0.1, output = 0.2 },\n"
        "        context_window = 1000, max_output = 100, capabilities = { 'json', 'tools' },\n"
        "        tokenizer = 'o200k_base', latency = { p50 = 10, p95 = 20 }, tags = { 'a', 'b' },\n"
        "        sim = { failure_rate = 0.25, ttft = { p50 = 1, p95 = 2 } } }\n"
        "model { id = 'big', provider = 'oa', upstream = 'gpt-x', breaker = false }\n"
        "route { name = 'auto', policy = 'p.lua', default = 'big', budget_ms = 5,\n"
        "        truncate = 'middle_out' }\n");
    setenv("SY_TEST_KEY", "sk-test", 1);
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    int rc = sy_config_load(&cfg, path, &diag);
    CHECK(rc == SY_OK);
    if (!cfg) {
        fprintf(stderr, "%s", diag.data);
        return;
    }
    CHECK_STR(cfg->listen_host, "127.0.0.1");
    CHECK(cfg->listen_port == 9999);
    CHECK(cfg->workers == 3);
    CHECK(cfg->max_body == 1024 * 1024);
    CHECK(cfg->nproviders == 2 && cfg->nmodels == 2 && cfg->nroutes == 1);
    const sy_model *s = sy_config_model(cfg, "small");
    CHECK(s && s->price_in == 0.1 && s->price_out == 0.2);
    CHECK(s && s->context_window == 1000 && s->max_output == 100);
    CHECK(s && s->caps == (SY_CAP_JSON | SY_CAP_TOOLS));
    CHECK(s && s->ntags == 2 && strcmp(s->tags[1], "b") == 0);
    CHECK(s && s->sim.failure_rate == 0.25 && s->sim.ttft_p95_ms == 2);
    CHECK(s && s->line == 4);
    CHECK_STR(s ? s->upstream : NULL, "small");
    const sy_model *b = sy_config_model(cfg, "big");
    CHECK_STR(b ? b->upstream : NULL, "gpt-x");
    CHECK_STR(b ? b->provider->base_url : NULL, "http://x/v1");
    CHECK_STR(b ? b->provider->api_key : NULL, "sk-test");
    /* tokenizers: given, or guessed from the upstream name; output reserve defaults */
    CHECK(s && s->tok_kind == SY_TOK_O200K && s->output_reserve == 100);
    CHECK(b && b->tok_kind == SY_TOK_ESTIMATE && strcmp(b->tokenizer, "estimate") == 0);
    CHECK(b && b->output_reserve == 512);
    /* breakers: on by default with their defaults, off when false */
    CHECK(s && s->breaker.enabled && s->breaker.min_requests == 10 && s->breaker.cooldown_ms == 5000);
    CHECK(b && !b->breaker.enabled);
    const sy_route *r = sy_config_route(cfg, "auto");
    CHECK(r && r->truncate == SY_TRUNC_MIDDLE_OUT);
    CHECK(r && r->default_model == b && r->budget_us == 5000);
    CHECK(r && strlen(r->policy_hash) == 12);
    sy_config_unref(cfg);
    sy_buf_free(&diag);
}

TEST(reports_every_problem_with_file_line_and_key)
{
    write_file("bad_policy.lua", GOOD_POLICY);
    const char *path = write_file(
        "bad.lua",
        "provider { id = 'sim', kind = 'sim' }\n"                          /* 1 */
        "model { id = 'a', provider = 'nope' }\n"                          /* 2 */
        "model { id = 'a', provider = 'sim' }\n"                           /* 3 */
        "model { id = 'b', provider = 'sim', price = { input = -1 } }\n"   /* 4 */
        "route { name = 'r', policy = 'missing.lua', default = 'b' }\n"    /* 5 */
        "model { id = 'c', provider = 'sim', pirce = 1 }\n"                /* 6 */
        "provider { id = 'x', kind = 'weird' }\n"                          /* 7 */
        "route { name = 'r2', policy = 'bad_policy.lua', default = 'zz' }\n" /* 8 */
        "server { listen = 'nohost', log_content = 'yes' }\n"              /* 9 */
        "model { id = 'd', provider = 'sim', tokenizer = 'p50k_base' }\n"   /* 10 */
        "route { name = 'r3', policy = 'bad_policy.lua', default = 'b',\n"  /* 11 */
        "        truncate = 'oldest' }\n"
        "model { id = 'e', provider = 'sim', breaker = { cooldown = 5 } }\n"  /* 13 */
        "model { id = 'f', provider = 'sim', breaker = { error_rate = 2 } }\n"  /* 14 */
        "route { name = 'r4', policy = 'bad_policy.lua', default = 'b', retries = 11,\n" /* 15 */
        "        backoff = { base = 5 }, stream_buffer = 'yes' }\n"
        "route { name = 'r5', policy = 'bad_policy.lua', default = 'b', reference = 'nope' }\n"); /* 17 */
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    int rc = sy_config_load(&cfg, path, &diag);
    CHECK(rc == SY_ECONFIG);
    CHECK(cfg == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s:2: model[a].provider: unknown provider \"nope\"", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:3: model.id: duplicate id \"a\"", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:4: model[b].price.input: must not be negative (got -1)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:5: route[r].policy: cannot read policy file", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:6: model[c].pirce: unknown key", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:7: provider[x].kind: unknown provider kind \"weird\"", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:8: route[r2].default: unknown model \"zz\"", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:9: server.listen: expected HOST:PORT", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want,
             "%s:10: model[d].tokenizer: unknown tokenizer \"p50k_base\" (known: cl100k_base, "
             "o200k_base, estimate)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want,
             "%s:11: route[r3].truncate: unknown strategy \"oldest\" (known: none, drop_oldest, "
             "middle_out)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:13: model[e].breaker.cooldown: unknown key", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:14: model[f].breaker.error_rate:", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:15: route[r4].retries:", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:15: route[r4].backoff.base: unknown key", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:15: route[r4].stream_buffer: must be true or false", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:9: server.log_content: must be true or false", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:17: route[r5].reference: unknown model \"nope\"", path);
    CHECK_CONTAINS(diag.data, want);
    sy_buf_free(&diag);
}

/* concurrency and queue = { max, timeout_ms }: per model, with server-level queue defaults */
TEST(model_concurrency_and_queues)
{
    const char *path = write_file(
        "adm.lua",
        "server { queue = { max = 32, timeout_ms = 2500 } }\n"
        "provider { id = 'sim', kind = 'sim' }\n"
        "model { id = 'free', provider = 'sim' }\n"
        "model { id = 'lim', provider = 'sim', concurrency = 4 }\n"
        "model { id = 'own', provider = 'sim', concurrency = 1,\n"
        "        queue = { max = 0, timeout_ms = 50 } }\n");
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    CHECK(sy_config_load(&cfg, path, &diag) == SY_OK);
    const sy_model *f = cfg ? sy_config_model(cfg, "free") : NULL;
    const sy_model *l = cfg ? sy_config_model(cfg, "lim") : NULL;
    const sy_model *o = cfg ? sy_config_model(cfg, "own") : NULL;
    CHECK(f && f->concurrency == 0);
    CHECK(l && l->concurrency == 4 && l->queue_max == 32 && l->queue_timeout_ms == 2500);
    CHECK(o && o->concurrency == 1 && o->queue_max == 0 && o->queue_timeout_ms == 50);
    sy_config_unref(cfg);

    /* without server.queue: 256 waiting, 10 s */
    path = write_file("adm2.lua", "provider { id = 'sim', kind = 'sim' }\n"
                                  "model { id = 'lim', provider = 'sim', concurrency = 2 }\n");
    cfg = NULL;
    CHECK(sy_config_load(&cfg, path, &diag) == SY_OK);
    l = cfg ? sy_config_model(cfg, "lim") : NULL;
    CHECK(l && l->queue_max == 256 && l->queue_timeout_ms == 10000);
    sy_config_unref(cfg);

    path = write_file(
        "adm_bad.lua",
        "provider { id = 'sim', kind = 'sim' }\n"                                       /* 1 */
        "model { id = 'a', provider = 'sim', concurrency = -1 }\n"                      /* 2 */
        "model { id = 'b', provider = 'sim', concurrency = 1.5 }\n"                     /* 3 */
        "model { id = 'c', provider = 'sim', concurrency = 2, queue = { size = 3 } }\n" /* 4 */
        "model { id = 'd', provider = 'sim', concurrency = 2, queue = { timeout_ms = 0 } }\n" /* 5 */
        "model { id = 'e', provider = 'sim', queue = { max = 3 } }\n"                   /* 6 */
        "model { id = 'f', provider = 'sim', concurrency = 2, queue = 5 }\n"            /* 7 */
        "server { queue = { max = -2 } }\n"                                             /* 8 */
        "model { id = 'g', provider = 'sim', concurrency = 'two' }\n");                 /* 9 */
    cfg = NULL;
    sy_buf_reset(&diag);
    CHECK(sy_config_load(&cfg, path, &diag) == SY_ECONFIG);
    char want[512];
    snprintf(want, sizeof want, "%s:2: model[a].concurrency: must not be negative (got -1)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:3: model[b].concurrency: must be a whole number (got 1.5)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:4: model[c].queue.size: unknown key", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:5: model[d].queue.timeout_ms: must be between 1 and 600000 (got 0)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want,
             "%s:6: model[e].queue: has no effect without concurrency (the model has no limit)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:7: model[f].queue: must be a table", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:8: server.queue.max: must not be negative (got -2)", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:9: model[g].concurrency: must be a number, got string", path);
    CHECK_CONTAINS(diag.data, want);
    sy_buf_free(&diag);
}

TEST(lua_errors_in_the_config_keep_their_line)
{
    const char *path = write_file("syntax.lua", "provider { id = 'sim', kind = 'sim' }\nmodel { id = }\n");
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    CHECK(sy_config_load(&cfg, path, &diag) == SY_ECONFIG);
    char want[512];
    snprintf(want, sizeof want, "%s:2: config:", path);
    CHECK_CONTAINS(diag.data, want);
    sy_buf_reset(&diag);
    path = write_file("io.lua", "io.open('/etc/passwd')\n");
    CHECK(sy_config_load(&cfg, path, &diag) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "io.lua:1: config:");
    sy_buf_reset(&diag);
    CHECK(sy_config_load(&cfg, "/nonexistent/x.lua", &diag) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "/nonexistent/x.lua:0: config: cannot read: No such file");
    sy_buf_free(&diag);
}

TEST(anthropic_providers)
{
    write_file("p.lua", GOOD_POLICY);
    const char *path = write_file(
        "anth.lua",
        "provider { id = 'a', kind = 'anthropic', api_key_env = 'SY_TEST_ANTH_KEY' }\n"
        "provider { id = 'b', kind = 'anthropic', base_url = 'http://127.0.0.1:9/v1/',\n"
        "           anthropic_version = '2024-01-01' }\n"
        "model { id = 'small', provider = 'a', upstream = 'claude-x' }\n"
        "route { name = 'auto', policy = 'p.lua', default = 'small' }\n");
    setenv("SY_TEST_ANTH_KEY", "sk-ant-test", 1);
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    CHECK(sy_config_load(&cfg, path, &diag) == SY_OK);
    if (!cfg) {
        fprintf(stderr, "%s", diag.data);
        sy_buf_free(&diag);
        return;
    }
    const sy_provider_cfg *a = &cfg->providers[0], *b = &cfg->providers[1];
    CHECK(a->kind == SY_PROV_ANTHROPIC);
    CHECK_STR(a->base_url, "https://api.anthropic.com/v1"); /* the default */
    CHECK_STR(a->anthropic_version, "2023-06-01");
    CHECK_STR(a->api_key, "sk-ant-test");
    CHECK(!a->direct_http);
    CHECK_STR(b->base_url, "http://127.0.0.1:9/v1");
    CHECK_STR(b->anthropic_version, "2024-01-01");
    CHECK(b->direct_http); /* plain http to a numeric host: the built-in client */
    sy_config_unref(cfg);

    path = write_file("anth_bad.lua",
                      "provider { id = 'o', kind = 'openai', base_url = 'http://x/v1',\n"
                      "           anthropic_version = '2023-06-01' }\n"
                      "provider { id = 'c', kind = 'anthropic', anthropic_version = 5 }\n"
                      "provider { id = 'd', kind = 'anthropic', base_url = 'ftp://x' }\n"
                      "model { id = 'small', provider = 'o' }\n"
                      "route { name = 'auto', policy = 'p.lua', default = 'small' }\n");
    sy_buf_reset(&diag);
    cfg = NULL;
    CHECK(sy_config_load(&cfg, path, &diag) == SY_ECONFIG);
    char want[512];
    snprintf(want, sizeof want,
             "%s:1: provider[o].anthropic_version: only applies to an anthropic provider", path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:3: provider[c].anthropic_version: must be a non-empty string",
             path);
    CHECK_CONTAINS(diag.data, want);
    snprintf(want, sizeof want, "%s:4: provider[d].base_url: must start with http:// or https://",
             path);
    CHECK_CONTAINS(diag.data, want);
    sy_buf_free(&diag);
}

TEST(listen_addresses)
{
    char *host = NULL;
    int port = 0;
    CHECK(sy_parse_listen("127.0.0.1:80", &host, &port) == SY_OK && port == 80);
    CHECK_STR(host, "127.0.0.1");
    free(host);
    CHECK(sy_parse_listen("[::1]:8080", &host, &port) == SY_OK && port == 8080);
    CHECK_STR(host, "::1");
    free(host);
    CHECK(sy_parse_listen(":81", &host, &port) == SY_OK && port == 81);
    CHECK_STR(host, "0.0.0.0");
    free(host);
    CHECK(sy_parse_listen("x:99999", &host, &port) == SY_EINVAL);
    CHECK(sy_parse_listen("x", &host, &port) == SY_EINVAL);
    CHECK(sy_parse_listen("x:", &host, &port) == SY_EINVAL);
}

TEST(redis_urls)
{
    char *host, *pw, err[128];
    int port, db;
    CHECK(sy_redis_parse_url("redis://127.0.0.1", &host, &port, &pw, &db, err, sizeof err) == 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK(port == 6379 && db == 0 && pw == NULL);
    free(host);
    CHECK(sy_redis_parse_url("redis://:s3cret@cache.local:6380/4", &host, &port, &pw, &db, err,
                             sizeof err) == 0);
    CHECK_STR(host, "cache.local");
    CHECK_STR(pw, "s3cret");
    CHECK(port == 6380 && db == 4);
    free(host);
    free(pw);
    CHECK(sy_redis_parse_url("redis://user:pw@h:1/", &host, &port, &pw, &db, err, sizeof err) == 0);
    CHECK_STR(pw, "pw");
    CHECK(port == 1 && db == 0);
    free(host);
    free(pw);
    static const struct { const char *url, *why; } bad[] = {
        {"rediss://h", "redis:// URL"}, {"redis://", "no host"},      {"redis://:6379", "no host"},
        {"redis://h:0", "bad port"},   {"redis://h:99999", "bad port"}, {"redis://h:x", "bad port"},
        {"redis://h/x", "database"},   {"redis://h/-1", "database"},  {"http://h", "redis:// URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        host = pw = (char *)"untouched";
        CHECK(sy_redis_parse_url(bad[i].url, &host, &port, &pw, &db, err, sizeof err) == -1);
        CHECK(host == NULL && pw == NULL);
        CHECK_CONTAINS(err, bad[i].why);
    }
}

int main(void)
{
    if (sy_test_tmpdir(g_dir, sizeof g_dir, "config") != 0) return 2;
    RUN(loads_every_field);
    RUN(reports_every_problem_with_file_line_and_key);
    RUN(lua_errors_in_the_config_keep_their_line);
    RUN(listen_addresses);
    RUN(anthropic_providers);
    RUN(model_concurrency_and_queues);
    RUN(redis_urls);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return sy_test_summary();
}
