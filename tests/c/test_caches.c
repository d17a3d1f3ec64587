/* test_caches.c — the caches of src/engine/sy_cache.c: the normalised-request key (what changes
 * it and what does not, tenants kept apart), the response store (hits, TTL, LRU by bytes per
 * route, generations), the decision store, stream replay and assembly; and the route.cache /
 * route.decision_cache config keys (src/registry/sy_config.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/sy_cache.h"
#include "policy/sy_policy.h"
#include "registry/sy_config.h"
#include "sy_test.h"

static sy_model g_m1 = {.id = "small"}, g_m2 = {.id = "large"};

static sy_decision pick(const sy_model *m)
{
    sy_decision d;
    memset(&d, 0, sizeof d);
    d.kind = SY_DEC_PICK;
    d.n = 1;
    d.models[0] = m;
    return d;
}

/* The key of body for tenant on route "r" with a pick of small. */
static void key_of(const char *body, const char *tenant, unsigned char *k)
{
    sy_decision d = pick(&g_m1);
    CHECK(sy_cache_request_key(body, strlen(body), tenant, "r", &d, k) == 0);
}

static int same(const char *a, const char *b)
{
    unsigned char ka[32], kb[32];
    key_of(a, "", ka);
    key_of(b, "", kb);
    return memcmp(ka, kb, 32) == 0;
}

#define BASE "{\"model\":\"r\",\"temperature\":0.5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

TEST(key_ignores_order_whitespace_and_number_spelling)
{
    CHECK(same(BASE, "{ \"messages\" : [ { \"content\":\"hi\", \"role\":\"user\" } ],\n"
                     "  \"temperature\": 0.50, \"model\": \"r\" }"));
    CHECK(same("{\"model\":\"r\",\"seed\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
               "{\"model\":\"r\",\"seed\":1.0,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
}

TEST(key_ignores_fields_that_do_not_change_the_answer)
{
    CHECK(same(BASE, "{\"model\":\"other\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                     "\"user\":\"u1\",\"metadata\":{\"task\":\"x\"},\"store\":false,"
                     "\"temperature\":0.5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
}

TEST(key_changes_with_everything_that_changes_the_answer)
{
    const char *differ[] = {
        "{\"model\":\"r\",\"temperature\":0.6,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"messages\":[{\"role\":\"user\",\"content\":\"hi!\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"top_p\":0.9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"stop\":[\"x\"],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"seed\":3,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"response_format\":{\"type\":\"json_object\"},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"tools\":[],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"r\",\"temperature\":0.5,\"some_future_param\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        /* strings and nesting cannot be confused with each other */
        "{\"model\":\"r\",\"temperature\":0.5,\"messages\":[{\"role\":\"user\",\"content\":[\"hi\"]}]}",
        NULL};
    for (int i = 0; differ[i]; i++) {
        if (same(BASE, differ[i])) fprintf(stderr, "  same key for: %s\n", differ[i]);
        CHECK(!same(BASE, differ[i]));
    }
}

TEST(key_keeps_tenants_routes_and_decisions_apart)
{
    unsigned char a[32], b[32], c[32];
    key_of(BASE, "team-a", a);
    key_of(BASE, "team-b", b);
    CHECK(memcmp(a, b, 32) != 0);
    key_of(BASE, "team-a", c);
    CHECK(memcmp(a, c, 32) == 0);
    /* "" and a tenant are different too */
    key_of(BASE, "", c);
    CHECK(memcmp(a, c, 32) != 0);
    sy_decision d1 = pick(&g_m1), d2 = pick(&g_m2);
    CHECK(sy_cache_request_key(BASE, strlen(BASE), "", "r", &d2, b) == 0);
    CHECK(memcmp(b, c, 32) != 0);
    CHECK(sy_cache_request_key(BASE, strlen(BASE), "", "r2", &d1, b) == 0);
    CHECK(memcmp(b, c, 32) != 0);
    /* a body that does not parse has no key */
    CHECK(sy_cache_request_key("{nope", 5, "", "r", &d1, b) == -1);
}

static void mkkey(unsigned char *k, int i)
{
    memset(k, 0, 32);
    k[0] = (unsigned char)i;
    k[9] = (unsigned char)(i * 7);
}

TEST(store_hits_and_isolates_tenant_keys)
{
    sy_cache *c = sy_cache_new();
    unsigned char ka[32], kb[32];
    key_of(BASE, "team-a", ka);
    key_of(BASE, "team-b", kb);
    CHECK(sy_cache_put(c, 1, ka, "r", 1 << 20, 0, "small", "{\"a\":1}", 7) == 0);
    sy_cache_hit h;
    CHECK(sy_cache_get(c, 1, kb, &h) == 0); /* the other tenant misses */
    CHECK(h.body == NULL);
    sy_cache_count(c, SY_CACHE_MISS); /* the gateway counts once it knows (served or not) */
    CHECK(sy_cache_get(c, 1, ka, &h) == 1);
    sy_cache_count(c, SY_CACHE_HIT);
    CHECK_STR(h.body, "{\"a\":1}");
    CHECK(h.len == 7);
    CHECK_STR(h.model, "small");
    free(h.body);
    sy_buf m;
    sy_buf_init(&m);
    sy_cache_metrics(c, &m);
    CHECK_CONTAINS(m.data, "switchyard_cache_requests_total{result=\"hit\"} 1\n");
    CHECK_CONTAINS(m.data, "switchyard_cache_requests_total{result=\"miss\"} 1\n");
    CHECK_CONTAINS(m.data, "switchyard_cache_stores_total 1\n");
    CHECK_CONTAINS(m.data, "switchyard_cache_entries 1\n");
    sy_buf_free(&m);
    sy_cache_free(c);
}

TEST(store_evicts_the_least_recently_used_of_the_route_by_bytes)
{
    sy_cache *c = sy_cache_new();
    char body[200];
    memset(body, 'x', sizeof body);
    unsigned char k[8][32];
    for (int i = 0; i < 8; i++) mkkey(k[i], i + 1);
    CHECK(sy_cache_put(c, 1, k[0], "r", 1000, 0, "m", body, sizeof body) == 0);
    CHECK(sy_cache_put(c, 1, k[1], "r", 1000, 0, "m", body, sizeof body) == 0);
    CHECK(sy_cache_put(c, 1, k[2], "r", 1000, 0, "m", body, sizeof body) == 0);
    sy_cache_hit h;
    CHECK(sy_cache_get(c, 1, k[0], &h) == 1); /* k0 is now the most recent */
    free(h.body);
    /* another route has its own bound: its entries evict nothing of "r" */
    CHECK(sy_cache_put(c, 1, k[6], "other", 1000, 0, "m", body, sizeof body) == 0);
    CHECK(sy_cache_put(c, 1, k[3], "r", 1000, 0, "m", body, sizeof body) == 0);
    CHECK(sy_cache_put(c, 1, k[4], "r", 1000, 0, "m", body, sizeof body) == 0);
    /* each entry is about 310 bytes (the answer and the entry's own header): three fit */
    int alive[8];
    for (int i = 0; i < 8; i++) {
        alive[i] = sy_cache_get(c, 1, k[i], &h);
        free(h.body);
    }
    CHECK(alive[6]);
    CHECK(alive[0] && alive[3] && alive[4]);
    CHECK(!alive[1] && !alive[2]); /* the least recently used went first, not k0 */
    /* an answer larger than the bound is not stored at all */
    char big[2000];
    memset(big, 'y', sizeof big);
    CHECK(sy_cache_put(c, 1, k[7], "r", 1000, 0, "m", big, sizeof big) == -1);
    sy_buf m;
    sy_buf_init(&m);
    sy_cache_metrics(c, &m);
    CHECK_CONTAINS(m.data, "switchyard_cache_evictions_total 2\n");
    sy_buf_free(&m);
    sy_cache_free(c);
}

TEST(store_expires_entries)
{
    sy_cache *c = sy_cache_new();
    unsigned char k[32];
    mkkey(k, 1);
    CHECK(sy_cache_put(c, 1, k, "r", 1 << 20, 50, "m", "{}", 2) == 0);
    sy_cache_hit h;
    CHECK(sy_cache_get(c, 1, k, &h) == 1);
    free(h.body);
    usleep(80 * 1000);
    CHECK(sy_cache_get(c, 1, k, &h) == 0);
    sy_buf m;
    sy_buf_init(&m);
    sy_cache_metrics(c, &m);
    CHECK_CONTAINS(m.data, "switchyard_cache_expired_total 1\n");
    CHECK_CONTAINS(m.data, "switchyard_cache_bytes 0\n");
    sy_buf_free(&m);
    sy_cache_free(c);
}

TEST(store_belongs_to_one_generation)
{
    sy_cache *c = sy_cache_new();
    unsigned char k[32];
    mkkey(k, 1);
    sy_cache_hit h;
    CHECK(sy_cache_put(c, 1, k, "r", 1 << 20, 0, "m", "{}", 2) == 0);
    sy_cache_flush(c, 2); /* a reload */
    CHECK(sy_cache_get(c, 2, k, &h) == 0);
    /* a request still running on generation 1 neither finds nor stores anything */
    CHECK(sy_cache_put(c, 1, k, "r", 1 << 20, 0, "m", "{}", 2) == -1);
    CHECK(sy_cache_get(c, 1, k, &h) == 0);
    CHECK(sy_cache_put(c, 2, k, "r", 1 << 20, 0, "m", "{}", 2) == 0);
    /* a generation newer than the last flush empties the store by itself */
    CHECK(sy_cache_get(c, 3, k, &h) == 0);
    CHECK(sy_cache_get(c, 2, k, &h) == 0);
    sy_cache_free(c);
}

TEST(decision_store)
{
    sy_cache *counters = sy_cache_new();
    sy_dcache *d = sy_dcache_new(counters);
    sy_decision dec = pick(&g_m2), out;
    snprintf(dec.reason, sizeof dec.reason, "big one");
    CHECK(sy_dcache_get(d, 1, "r", "", "k1", &out) == 0);
    sy_dcache_put(d, 1, "r", "", "k1", 2, 0, &dec);
    CHECK(sy_dcache_get(d, 1, "r", "", "k1", &out) == 1);
    CHECK(out.models[0] == &g_m2);
    CHECK_STR(out.reason, "big one");
    CHECK(sy_dcache_get(d, 1, "r", "t2", "k1", &out) == 0);  /* another tenant */
    CHECK(sy_dcache_get(d, 1, "r2", "", "k1", &out) == 0);   /* another route */
    sy_dcache_put(d, 1, "r", "", "k2", 2, 0, &dec);
    sy_dcache_put(d, 1, "r", "", "k3", 2, 0, &dec);          /* max 2: k1 goes */
    CHECK(sy_dcache_get(d, 1, "r", "", "k1", &out) == 0);
    CHECK(sy_dcache_get(d, 1, "r", "", "k3", &out) == 1);
    CHECK(sy_dcache_get(d, 2, "r", "", "k3", &out) == 0);    /* a new snapshot: empty */
    sy_dcache_put(d, 2, "r", "", "k4", 10, 30, &dec);
    CHECK(sy_dcache_get(d, 2, "r", "", "k4", &out) == 1);
    usleep(50 * 1000);
    CHECK(sy_dcache_get(d, 2, "r", "", "k4", &out) == 0);    /* ttl_ms */
    sy_buf m;
    sy_buf_init(&m);
    sy_cache_metrics(counters, &m);
    CHECK_CONTAINS(m.data, "switchyard_decision_cache_requests_total{result=\"hit\"} 3\n");
    CHECK_CONTAINS(m.data, "switchyard_decision_cache_evictions_total 1\n");
    sy_buf_free(&m);
    sy_dcache_free(d);
    sy_cache_free(counters);
}

TEST(replay_and_assemble_round_trip)
{
    const char *done =
        "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":5,\"model\":\"small\",\"choices\":"
        "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Ünïcödé text that is longer "
        "than one piece of sixty-four bytes, so it is cut in two or more\"},\"finish_reason\":"
        "\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}";
    cJSON *chunks = sy_cache_replay_chunks(done, strlen(done), 1);
    CHECK(chunks != NULL);
    int n = cJSON_GetArraySize(chunks);
    CHECK(n >= 5); /* role, >= 2 pieces, finish, usage */
    cJSON *first = cJSON_GetArrayItem(chunks, 0), *last = cJSON_GetArrayItem(chunks, n - 1);
    CHECK_STR(cJSON_GetObjectItem(first, "object")->valuestring, "chat.completion.chunk");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(last, "choices")) == 0);
    CHECK(cJSON_GetObjectItem(last, "usage") != NULL);
    size_t len = 0;
    char *back = sy_cache_assemble(chunks, 0, 0, &len);
    cJSON *a = cJSON_Parse(done), *b = back ? cJSON_Parse(back) : NULL;
    CHECK(b != NULL);
    CHECK(len == (back ? strlen(back) : 0));
    CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "choices"), cJSON_GetObjectItem(b, "choices"), 1));
    CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "usage"), cJSON_GetObjectItem(b, "usage"), 1));
    CHECK_STR(cJSON_GetObjectItem(b, "id")->valuestring, "c1");
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(back);
    cJSON_Delete(chunks);
    /* without include_usage: no usage chunk; tool calls replay with their index */
    const char *tools = "{\"id\":\"c2\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":null,\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\","
                        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":"
                        "\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1}}";
    chunks = sy_cache_replay_chunks(tools, strlen(tools), 0);
    n = cJSON_GetArraySize(chunks);
    CHECK(n == 3);
    char *s = cJSON_PrintUnformatted(cJSON_GetArrayItem(chunks, 1));
    CHECK_CONTAINS(s, "\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                      "\"arguments\":\"{}\"},\"index\":0}]");
    free(s);
    back = sy_cache_assemble(chunks, 4, 6, &len);
    CHECK_CONTAINS(back, "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":10}");
    CHECK_CONTAINS(back, "\"finish_reason\":\"tool_calls\"");
    free(back);
    cJSON_Delete(chunks);
    CHECK(sy_cache_replay_chunks("[1]", 3, 0) == NULL);
    /* a choice index beyond what is kept: not stored, rather than stored without it */
    cJSON *many = cJSON_Parse("[{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]},"
                              "{\"id\":\"x\",\"choices\":[{\"index\":16,\"delta\":{\"content\":\"b\"}}]}]");
    CHECK(sy_cache_assemble(many, 0, 0, &len) == NULL);
    cJSON_Delete(many);
}

TEST(redis_values_round_trip)
{
    unsigned char k[32];
    for (int i = 0; i < 32; i++) k[i] = (unsigned char)(i * 9);
    char rk[SY_CACHE_RKEY_LEN];
    sy_cache_redis_key(k, rk);
    CHECK(strlen(rk) == 6 + 64);
    CHECK(strncmp(rk, "sy:rc:0009121b", 14) == 0);
    sy_buf v;
    sy_buf_init(&v);
    const char body[] = "{\"a\":\"line\nbreak\"}";
    sy_cache_encode("small", body, sizeof body - 1, 1000, &v);
    sy_cache_hit h;
    CHECK(sy_cache_decode(v.data, v.len, 4500, &h) == 0);
    CHECK_STR(h.model, "small");
    CHECK_STR(h.body, body);
    CHECK(h.len == sizeof body - 1);
    CHECK(h.age_ms == 3500);
    free(h.body);
    CHECK(sy_cache_decode("sy2\n1\nm\n{}", 11, 0, &h) == -1);
    CHECK(sy_cache_decode("sy1\n1\nno-body-line", 19, 0, &h) == -1);
    CHECK(h.body == NULL);
    sy_buf_free(&v);
}

/* ---- config */

static char g_dir[256];

static const char *g_policy = "return { route = function() return 'm' end }\n";

static int load(const char *route_extra, sy_buf *diag, sy_config **out)
{
    char path[512], text[2048];
    snprintf(path, sizeof path, "%s/p.lua", g_dir);
    FILE *f = fopen(path, "w");
    fputs(g_policy, f);
    fclose(f);
    snprintf(text, sizeof text,
             "provider { id = 's', kind = 'sim' }\n"
             "model { id = 'm', provider = 's' }\n"
             "route { name = 'r', policy = 'p.lua', default = 'm',\n"
             "        %s }\n",
             route_extra);
    snprintf(path, sizeof path, "%s/c.lua", g_dir);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    sy_buf_reset(diag);
    return sy_config_load(out, path, diag);
}

TEST(config_keys)
{
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    CHECK(load("cache = { ttl_s = 10, max_bytes = '1MiB', stream = 'replay' },"
               " decision_cache = { max = 5, ttl_ms = 100 }", &diag, &cfg) == SY_OK);
    if (cfg) {
        const sy_route *r = &cfg->routes[0];
        CHECK(r->cache.enabled && r->cache.ttl_s == 10 && r->cache.max_bytes == 1 << 20);
        CHECK(r->cache.stream_replay == 1);
        CHECK(r->dcache_max == 5 && r->dcache_ttl_ms == 100);
        sy_config_unref(cfg);
    }
    CHECK(load("cache = true, decision_cache = {}", &diag, &cfg) == SY_OK);
    if (cfg) {
        const sy_route *r = &cfg->routes[0];
        CHECK(r->cache.enabled && r->cache.ttl_s == 300 && r->cache.max_bytes == 64u << 20);
        CHECK(!r->cache.stream_replay && r->dcache_max == 10000 && r->dcache_ttl_ms == 0);
        sy_config_unref(cfg);
    }
    CHECK(load("", &diag, &cfg) == SY_OK);
    if (cfg) {
        CHECK(!cfg->routes[0].cache.enabled && cfg->routes[0].dcache_max == 0);
        sy_config_unref(cfg);
    }
    CHECK(load("cache = { stream = 'yes', ttl_s = -1, max_bytes = 10, backend = 'disk', tll = 1 },"
               " decision_cache = { max = 0, ttl = 5 }", &diag, &cfg) == SY_ECONFIG);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache.tll: unknown key");
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache.stream: must be \"replay\" or false");
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache.ttl_s:");
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache.max_bytes: must be a size of at least 1024 bytes");
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache.backend: unknown backend \"disk\" (known: memory, redis)");
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].decision_cache.max:");
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].decision_cache.ttl: unknown key");
    CHECK(load("cache = 'yes'", &diag, &cfg) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache: must be true, false or a table");
    CHECK(load("cache = { backend = 'redis' }", &diag, &cfg) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].cache.backend: \"redis\" needs server.redis (a redis:// URL)");
    CHECK(load("decision_cache = true", &diag, &cfg) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "c.lua:3: route[r].decision_cache: must be a table");
    sy_buf_free(&diag);
}

TEST(a_policy_cache_key_must_be_a_function)
{
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    sy_policy_vm *vm = NULL;
    g_policy = "return { cache_key = 'task', route = function() return 'm' end }\n";
    CHECK(load("decision_cache = {}", &diag, &cfg) == SY_OK);
    sy_buf_reset(&diag);
    CHECK(cfg && sy_policy_vm_new(&vm, cfg, &diag) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "p.lua:1: route[r].policy: the policy's cache_key must be a function");
    sy_policy_vm_free(vm);
    sy_config_unref(cfg);
    g_policy = "return { cache_key = function(req) return req.meta.t end,\n"
               "         route = function() return 'm' end }\n";
    cfg = NULL;
    vm = NULL;
    CHECK(load("decision_cache = {}", &diag, &cfg) == SY_OK);
    CHECK(cfg && sy_policy_vm_new(&vm, cfg, &diag) == SY_OK);
    sy_policy_vm_free(vm);
    sy_config_unref(cfg);
    sy_buf_free(&diag);
}

int main(void)
{
    if (sy_test_tmpdir(g_dir, sizeof g_dir, "cache") != 0) return 1;
    RUN(key_ignores_order_whitespace_and_number_spelling);
    RUN(key_ignores_fields_that_do_not_change_the_answer);
    RUN(key_changes_with_everything_that_changes_the_answer);
    RUN(key_keeps_tenants_routes_and_decisions_apart);
    RUN(store_hits_and_isolates_tenant_keys);
    RUN(store_evicts_the_least_recently_used_of_the_route_by_bytes);
    RUN(store_expires_entries);
    RUN(store_belongs_to_one_generation);
    RUN(decision_store);
    RUN(replay_and_assemble_round_trip);
    RUN(redis_values_round_trip);
    RUN(config_keys);
    RUN(a_policy_cache_key_must_be_a_function);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) return 1;
    return sy_test_summary();
}
