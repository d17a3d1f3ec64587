/* test_policy.c — the policy engine (src/policy/): decisions, the request view, the sandbox
 * and the time budget, each limit tried by a policy that tries to break it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/sy_policy.h"
#include "sy_test.h"

static char g_dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* A config with models small/large and one route "r" running the given policy body. */
static sy_policy_vm *vm_for(const char *policy, sy_buf *diag)
{
    char path[512];
    write_file("policy.lua", policy);
    write_file("cfg.lua", "provider { id = 'sim', kind = 'sim' }\n"
                          "model { id = 'small', provider = 'sim' }\n"
                          "model { id = 'large', provider = 'sim' }\n"
                          "route { name = 'r', policy = 'policy.lua', default = 'large' }\n");
    snprintf(path, sizeof path, "%s/cfg.lua", g_dir);
    sy_config *cfg = NULL;
    if (sy_config_load(&cfg, path, diag) != SY_OK) return NULL;
    sy_policy_vm *vm = NULL;
    sy_policy_vm_new(&vm, cfg, diag);
    sy_config_unref(cfg);
    return vm;
}

/* A VM for the config file `name` in the test dir; NULL (problems printed) on failure. */
static sy_policy_vm *vm_from(const char *name)
{
    char path[512];
    sy_buf diag;
    sy_config *cfg = NULL;
    sy_policy_vm *vm = NULL;
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    sy_buf_init(&diag);
    if (sy_config_load(&cfg, path, &diag) == SY_OK) sy_policy_vm_new(&vm, cfg, &diag);
    sy_config_unref(cfg);
    if (!vm) fprintf(stderr, "%s", diag.data ? diag.data : "");
    sy_buf_free(&diag);
    return vm;
}

/* Routes a request (JSON text) through route "r". */
static int route(sy_policy_vm *vm, const char *json, sy_decision *dec)
{
    sy_chat chat;
    sy_chat_error err;
    if (sy_chat_parse(&chat, json, strlen(json), &err) != 0) {
        fprintf(stderr, "bad test request: %s\n", err.message);
        return -100;
    }
    const char *meta[] = {"task", "extract"};
    sy_request_view v = {.chat = &chat, .model = "r", .meta_headers = meta, .nmeta = 1};
    int rc = sy_policy_route(vm, sy_config_route(sy_policy_vm_config(vm), "r"), &v, dec);
    sy_chat_free(&chat);
    return rc;
}

static const char *REQ =
    "{\"model\":\"r\",\"max_tokens\":50,\"metadata\":{\"tier\":\"gold\",\"task\":\"body\"},"
    "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
    "{\"role\":\"user\",\"content\":\"first\"},{\"role\":\"assistant\",\"content\":\"ok\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"last question\"}]}]}";

TEST(decisions_and_request_view)
{
    sy_buf diag;
    sy_buf_init(&diag);
    sy_policy_vm *vm = vm_for(
        "local sy = require 'switchyard'\n"
        "return { name = 'view', route = function(req, ctx)\n"
        "  assert(req.model == 'r')\n"
        "  assert(req.text == 'last question', req.text)\n"
        "  assert(req.system == 'be brief')\n"
        "  assert(req.meta.tier == 'gold')\n"
        "  assert(req.meta.task == 'extract', 'headers win over metadata')\n"
        "  assert(req.max_tokens == 50 and req.stream == false and req.tools == nil)\n"
        "  assert(#req.messages == 4 and req.messages[2].content == 'first')\n"
        "  assert(req.tokens > 5)\n"
        "  local text = require 'switchyard.text'\n"
        "  assert(text.classify('hi') == 'small' and require('switchyard.text') == text)\n"
        "  assert(require('switchyard.fit').wants_json({ response_format = { type = 'json_object' } }))\n"
        "  return sy.chain{ 'small', sy.model('large'), reason = 'because' }\n"
        "end }\n",
        &diag);
    CHECK(vm != NULL);
    if (!vm) {
        fprintf(stderr, "%s", diag.data);
        return;
    }
    sy_decision d;
    CHECK(route(vm, REQ, &d) == SY_OK);
    CHECK(d.kind == SY_DEC_CHAIN && d.n == 2 && !d.policy_failed);
    CHECK_STR(d.models[0]->id, "small");
    CHECK_STR(d.models[1]->id, "large");
    CHECK_STR(d.reason, "because");
    CHECK_CONTAINS(sy_policy_id(vm, sy_config_route(sy_policy_vm_config(vm), "r")), "view@");
    sy_policy_vm_free(vm);
    sy_buf_free(&diag);
}

/* Each of these must fail at run time and fall back to the route default with the error. */
TEST(failures_use_the_default_model)
{
    static const struct {
        const char *body;
        const char *error;
    } cases[] = {
        {"error('boom')", "policy.lua:3: boom"},
        {"return sy.pick('nope')",
         "policy.lua:2: (in a tail call from route()) sy.pick: unknown model 'nope'"},
        {"local d = sy.pick('nope2') return d", "policy.lua:3: sy.pick: unknown model 'nope2'"},
        {"return sy.chain{}", "sy.chain: needs at least one model"},
        {"return 42", "route() must return a model id or a decision (got number)"},
        {"return { 'small', 'ghost' }", "unknown model 'ghost' at position 2"},
        {"x = 1", "policies may not set globals (tried to set 'x')"},
        {"return undefined_thing", "undefined global 'undefined_thing'"},
        {"req.model = 'x'", "req is read-only"},
        {"while true do end", "exceeded its time budget"},
        {"local t = {} for i = 1, 1e9 do t[i] = i end", "exceeded its time budget"},
        {"return require('ffi')", "module 'ffi' is not available to policies"},
        {"return require('switchyard.testing')", "module 'switchyard.testing' is not available"},
        {"return require('switchyard.nope')", "module 'switchyard.nope' is not available"},
        {"sy.pick = function() return 'large' end", "the switchyard module is read-only"},
        {"sy.json.encode = nil", "the switchyard module is read-only"},
        {"return io.open('/etc/passwd')", "undefined global 'io'"},
        {"return os.execute('true')", "attempt to call field 'execute'"},
        {"return string.dump(function() end)", "attempt to call field 'dump'"},
        {"return loadstring('return 1')", "undefined global 'loadstring'"},
        {"return load('return 1')", "undefined global 'load'"},
        {"return getmetatable('').__index", "undefined global 'getmetatable'"},
        {"return debug.getinfo(1)", "undefined global 'debug'"},
        {"return collectgarbage('count')", "undefined global 'collectgarbage'"},
        {"return jit.off()", "undefined global 'jit'"},
        {"return setfenv(1, {})", "undefined global 'setfenv'"},
    };
    for (size_t i = 0; i < SY_ARRAY_LEN(cases); i++) {
        char src[1024];
        snprintf(src, sizeof src,
                 "local sy = require 'switchyard'\n"
                 "return { name = 'bad', route = function(req, ctx)\n"
                 "do %s end\n"
                 "return 'small' end }\n",
                 cases[i].body);
        sy_buf diag;
        sy_buf_init(&diag);
        sy_policy_vm *vm = vm_for(src, &diag);
        CHECK(vm != NULL);
        if (!vm) {
            fprintf(stderr, "%s", diag.data);
            sy_buf_free(&diag);
            continue;
        }
        sy_decision d;
        int rc = route(vm, REQ, &d);
        CHECK(rc == SY_EPOLICY);
        CHECK(d.policy_failed && d.n == 1 && strcmp(d.models[0]->id, "large") == 0);
        CHECK_CONTAINS(d.error, cases[i].error);
        /* the VM stays usable after any failure */
        CHECK(route(vm, REQ, &d) == SY_EPOLICY);
        sy_policy_vm_free(vm);
        sy_buf_free(&diag);
    }
}

TEST(budget_interrupts_an_endless_loop_quickly)
{
    sy_buf diag;
    sy_buf_init(&diag);
    sy_policy_vm *vm = vm_for("return { route = function(req) local n = 0\n"
                              "  while true do n = n + 1 end end }\n",
                              &diag);
    CHECK(vm != NULL);
    if (!vm) return;
    sy_decision d;
    uint64_t t0 = sy_now_ns();
    for (int i = 0; i < 5; i++) route(vm, REQ, &d);
    double ms = (double)(sy_now_ns() - t0) / 1e6;
    /* five calls of a 2 ms budget: far below a second even on a loaded machine */
    CHECK(ms < 1000);
    CHECK(d.policy_failed);
    sy_policy_vm_free(vm);
    sy_buf_free(&diag);
}

TEST(load_errors_name_file_line_and_key)
{
    sy_buf diag;
    sy_buf_init(&diag);
    CHECK(vm_for("return { route = function(req) return 'small' end\n", &diag) == NULL);
    CHECK_CONTAINS(diag.data, "policy.lua:2: route[r].policy:");
    sy_buf_reset(&diag);
    CHECK(vm_for("return 7\n", &diag) == NULL);
    CHECK_CONTAINS(diag.data, "policy.lua:1: route[r].policy: the policy must return a table");
    sy_buf_reset(&diag);
    CHECK(vm_for("return { name = 'x' }\n", &diag) == NULL);
    CHECK_CONTAINS(diag.data, "has no route function");
    sy_buf_reset(&diag);
    CHECK(vm_for("local x = nil\nx.y = 1\n", &diag) == NULL);
    CHECK_CONTAINS(diag.data, "policy.lua:2: route[r].policy: attempt to index local 'x'");
    sy_buf_reset(&diag);
    CHECK(vm_for("\033LJ\002garbage", &diag) == NULL);
    CHECK_CONTAINS(diag.data, "bytecode policies are not allowed");
    sy_buf_free(&diag);
}

TEST(a_kept_request_view_cannot_be_used_later)
{
    sy_buf diag;
    sy_buf_init(&diag);
    sy_policy_vm *vm = vm_for("local saved\n"
                              "return { route = function(req)\n"
                              "  if saved then return saved.text end\n"
                              "  saved = req\n"
                              "  return 'small' end }\n",
                              &diag);
    CHECK(vm != NULL);
    if (!vm) return;
    sy_decision d;
    CHECK(route(vm, REQ, &d) == SY_OK);
    CHECK(route(vm, REQ, &d) == SY_EPOLICY);
    CHECK_CONTAINS(d.error, "req used after route() returned");
    sy_policy_vm_free(vm);
    sy_buf_free(&diag);
}

TEST(registry_queries_filter_and_sort)
{
    write_file("q.lua", "local sy = require 'switchyard'\n"
                        "return { route = function(req)\n"
                        "  local all = sy.models()\n"
                        "  assert(#all == 3, 'all')\n"
                        "  local j = sy.models{ cap = 'json', sort = 'price' }\n"
                        "  assert(#j == 2 and j[1].id == 'b' and j[2].id == 'c', 'json by price')\n"
                        "  assert(j:cheapest().id == 'b' and j:fastest().id == 'c', 'cheapest/fastest')\n"
                        "  local big = sy.models{ min_context = 50000, sort = 'context' }\n"
                        "  assert(#big == 2 and big[1].id == 'c', 'context')\n"
                        "  local t = sy.models{ tag = 'cheap', exclude = { 'a' } }\n"
                        "  assert(#t == 1 and t[1].id == 'b', 'tag+exclude')\n"
                        "  local none = sy.models{ cap = { 'json', 'vision' }, max_price_in = 0.001 }\n"
                        "  assert(#none == 0 and none:cheapest() == nil, 'none')\n"
                        "  local lat = sy.models{ max_latency_p95 = 500, sort = 'latency' }\n"
                        "  assert(#lat == 2 and lat[1].id == 'c', 'latency')\n"
                        "  local cost = sy.cost('a', { tokens = 1000, max_tokens = 100 })\n"
                        "  assert(math.abs(cost - (1000 * 0.001 + 100 * 0.002) / 1000) < 1e-12, 'cost')\n"
                        "  local m = sy.model('c')\n"
                        "  assert(m.capabilities.vision and m.context_window == 200000 and m.tags[1] == 'x')\n"
                        "  return sy.chain(j:ids())\n"
                        "end }\n");
    write_file("qcfg.lua",
               "provider { id = 'sim', kind = 'sim' }\n"
               "model { id = 'a', provider = 'sim', price = { input = 0.001, output = 0.002 },\n"
               "        context_window = 8000, latency = { p50 = 400, p95 = 900 }, tags = { 'cheap' } }\n"
               "model { id = 'b', provider = 'sim', price = { input = 0.0001, output = 0.0002 },\n"
               "        context_window = 64000, capabilities = { 'json' }, tags = { 'cheap' },\n"
               "        latency = { p50 = 300, p95 = 450 } }\n"
               "model { id = 'c', provider = 'sim', price = { input = 0.01, output = 0.03 },\n"
               "        context_window = 200000, capabilities = { 'json', 'vision' }, tags = { 'x' },\n"
               "        latency = { p50 = 100, p95 = 200 } }\n"
               "route { name = 'r', policy = 'q.lua', default = 'a' }\n");
    sy_policy_vm *vm = vm_from("qcfg.lua");
    CHECK(vm != NULL);
    if (!vm) return;
    sy_decision d;
    int rc = route(vm, REQ, &d);
    if (rc != SY_OK) fprintf(stderr, "  %s\n", d.error);
    CHECK(rc == SY_OK);
    CHECK(d.n == 2 && strcmp(d.models[0]->id, "b") == 0 && strcmp(d.models[1]->id, "c") == 0);
    sy_policy_vm_free(vm);
}

TEST(memory_is_capped_per_vm)
{
    write_file("mem.lua", "return { route = function(req)\n"
                          "  local t = {}\n"
                          "  for i = 1, 1e8 do t[i] = { i, i } end\n"
                          "  return 'a' end }\n");
    write_file("memcfg.lua", "provider { id = 'sim', kind = 'sim' }\n"
                             "model { id = 'a', provider = 'sim' }\n"
                             "route { name = 'r', policy = 'mem.lua', default = 'a', budget_ms = 10000 }\n");
    sy_policy_vm *vm = vm_from("memcfg.lua");
    CHECK(vm != NULL);
    if (!vm) return;
    sy_decision d;
    CHECK(route(vm, REQ, &d) == SY_EPOLICY);
    CHECK_CONTAINS(d.error, "exceeded the VM memory limit");
    /* the garbage is collectable: the VM answers the next call */
    CHECK(route(vm, REQ, &d) == SY_EPOLICY);
    sy_policy_vm_free(vm);
}

TEST(json_helpers)
{
    sy_buf diag;
    sy_buf_init(&diag);
    sy_policy_vm *vm = vm_for(
        "local sy = require 'switchyard'\n"
        "return { route = function(req)\n"
        "  local v = sy.json.decode('{\"a\":[1,2,{\"b\":\"x\\\\u00e9\"}],\"t\":true}')\n"
        "  assert(v.a[2] == 2 and v.a[3].b == 'x\\195\\169' and v.t == true, 'decode')\n"
        "  local bad, err = sy.json.decode('{nope')\n"
        "  assert(bad == nil and err:find('invalid JSON near byte 1'), err)\n"
        "  assert(sy.json.encode({ k = 'v' }) == '{\"k\":\"v\"}', 'encode')\n"
        "  assert(sy.json.encode({ 1, 2 }) == '[1,2]', 'encode list')\n"
        "  assert(not pcall(sy.json.encode, { f = sy.now }), 'functions')\n"
        "  return 'small' end }\n",
        &diag);
    CHECK(vm != NULL);
    if (!vm) {
        fprintf(stderr, "%s", diag.data);
        return;
    }
    sy_decision d;
    int rc = route(vm, REQ, &d);
    if (rc != SY_OK) fprintf(stderr, "  %s\n", d.error);
    CHECK(rc == SY_OK);
    sy_policy_vm_free(vm);
    sy_buf_free(&diag);
}

TEST(decision_constraints_drop_models)
{
    write_file("con.lua", "local sy = require 'switchyard'\n"
                          "return { route = function(req)\n"
                          "  if req.meta.task == 'json' then return sy.chain{ 'a', 'b', 'c', require = 'json' } end\n"
                          "  if req.meta.task == 'cost' then return sy.chain{ 'c', 'b', max_cost = 0.001, deadline_ms = 1500 } end\n"
                          "  if req.meta.task == 'none' then return sy.chain{ 'a', require = { 'vision' } } end\n"
                          "  return sy.chain{ 'a', require = { 'teleport' } }\n"
                          "end }\n");
    write_file("concfg.lua",
               "provider { id = 'sim', kind = 'sim' }\n"
               "model { id = 'a', provider = 'sim', price = { input = 0.0001, output = 0.0001 } }\n"
               "model { id = 'b', provider = 'sim', capabilities = { 'json' },\n"
               "        price = { input = 0.0001, output = 0.0001 } }\n"
               "model { id = 'c', provider = 'sim', capabilities = { 'json' },\n"
               "        price = { input = 1, output = 1 } }\n"
               "route { name = 'r', policy = 'con.lua', default = 'a' }\n");
    sy_policy_vm *vm = vm_from("concfg.lua");
    CHECK(vm != NULL);
    if (!vm) return;
    static const char *const tasks[] = {"json", "cost", "none", "bad"};
    sy_decision d;
    for (int t = 0; t < 4; t++) {
        char req[400];
        snprintf(req, sizeof req,
                 "{\"model\":\"r\",\"metadata\":{\"task\":\"%s\"},\"max_tokens\":10,"
                 "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}",
                 tasks[t]);
        sy_chat chat;
        sy_chat_error err;
        CHECK(sy_chat_parse(&chat, req, strlen(req), &err) == 0);
        sy_request_view v = {.chat = &chat, .model = "r"};
        int rc = sy_policy_route(vm, sy_config_route(sy_policy_vm_config(vm), "r"), &v, &d);
        sy_chat_free(&chat);
        if (t == 0) {
            CHECK(rc == SY_OK && d.n == 2 && strcmp(d.models[0]->id, "b") == 0);
            CHECK_STR(d.dropped, "a: lacks a required capability");
        } else if (t == 1) {
            CHECK(rc == SY_OK && d.n == 1 && strcmp(d.models[0]->id, "b") == 0);
            CHECK_STR(d.dropped, "c: over max_cost");
            CHECK(d.deadline_ms == 1500 && d.max_cost == 0.001);
        } else if (t == 2) {
            CHECK(rc == SY_EPOLICY && d.policy_failed && strcmp(d.models[0]->id, "a") == 0);
            CHECK_CONTAINS(d.error, "no model of the decision meets its constraints");
        } else {
            CHECK(rc == SY_EPOLICY);
            CHECK_CONTAINS(d.error, "unknown capability 'teleport'");
        }
    }
    sy_policy_vm_free(vm);
}

/* Routes REQ through the named route of vm. */
static int route_named(sy_policy_vm *vm, const char *name, sy_decision *dec)
{
    sy_chat chat;
    sy_chat_error err;
    if (sy_chat_parse(&chat, REQ, strlen(REQ), &err) != 0) return -100;
    sy_request_view v = {.chat = &chat, .model = name};
    int rc = sy_policy_route(vm, sy_config_route(sy_policy_vm_config(vm), name), &v, dec);
    sy_chat_free(&chat);
    return rc;
}

TEST(route_options_override_the_policy_per_route)
{
    write_file("opt.lua", "local OPTIONS = { threshold = 10, model = 'small' }\n"
                          "return { name = 'opt', options = OPTIONS, route = function(req, ctx, conf)\n"
                          "  assert(conf == OPTIONS, 'conf is the options table')\n"
                          "  if #req.text > conf.threshold then return 'large' end\n"
                          "  return conf.model end }\n");
    write_file("optcfg.lua",
               "provider { id = 'sim', kind = 'sim' }\n"
               "model { id = 'small', provider = 'sim' }\n"
               "model { id = 'large', provider = 'sim' }\n"
               "route { name = 'plain', policy = 'opt.lua', default = 'small' }\n"
               "route { name = 'lax', policy = 'opt.lua', default = 'small',\n"
               "        options = { threshold = 1000 } }\n");
    sy_policy_vm *vm = vm_from("optcfg.lua");
    CHECK(vm != NULL);
    if (!vm) return;
    sy_decision d;
    CHECK(route_named(vm, "plain", &d) == SY_OK && strcmp(d.models[0]->id, "large") == 0);
    CHECK(route_named(vm, "lax", &d) == SY_OK && strcmp(d.models[0]->id, "small") == 0);
    sy_policy_vm_free(vm);

    char path[512];
    write_file("optbad.lua",
               "provider { id = 'sim', kind = 'sim' }\n"
               "model { id = 'small', provider = 'sim' }\n"
               "route { name = 'a', policy = 'opt.lua', default = 'small', options = { nope = 1 } }\n"
               "route { name = 'b', policy = 'opt.lua', default = 'small', options = { threshold = 'x' } }\n"
               "route { name = 'c', policy = 'policy.lua', default = 'small', options = { k = 1 } }\n"
               "route { name = 'd', policy = 'opt.lua', default = 'small', options = 5 }\n");
    write_file("policy.lua", "return { route = function() return 'small' end }\n");
    snprintf(path, sizeof path, "%s/optbad.lua", g_dir);
    sy_buf diag;
    sy_buf_init(&diag);
    sy_config *cfg = NULL;
    CHECK(sy_config_load(&cfg, path, &diag) == SY_ECONFIG);
    CHECK_CONTAINS(diag.data, "optbad.lua:6: route[d].options: must be a table of the policy's options");
    sy_buf_reset(&diag);
    write_file("optbad.lua",
               "provider { id = 'sim', kind = 'sim' }\n"
               "model { id = 'small', provider = 'sim' }\n"
               "route { name = 'a', policy = 'opt.lua', default = 'small', options = { nope = 1 } }\n"
               "route { name = 'b', policy = 'opt.lua', default = 'small', options = { threshold = 'x' } }\n"
               "route { name = 'c', policy = 'policy.lua', default = 'small', options = { k = 1 } }\n");
    CHECK(sy_config_load(&cfg, path, &diag) == SY_OK);
    sy_policy_vm *bad = NULL;
    if (cfg) CHECK(sy_policy_vm_new(&bad, cfg, &diag) == SY_ECONFIG);
    sy_config_unref(cfg);
    CHECK(bad == NULL);
    CHECK_CONTAINS(diag.data, "optbad.lua:3: route[a].options.nope: unknown option (the policy has:");
    CHECK_CONTAINS(diag.data, "optbad.lua:4: route[b].options.threshold: must be a number like the policy's default (got string)");
    CHECK_CONTAINS(diag.data, "optbad.lua:5: route[c].options: the policy declares no options table");
    sy_buf_free(&diag);
}

int main(void)
{
    if (sy_test_tmpdir(g_dir, sizeof g_dir, "policy") != 0) return 2;
    sy_log_set_level(SY_LOG_ERROR);
    RUN(decisions_and_request_view);
    RUN(failures_use_the_default_model);
    RUN(budget_interrupts_an_endless_loop_quickly);
    RUN(load_errors_name_file_line_and_key);
    RUN(a_kept_request_view_cannot_be_used_later);
    RUN(registry_queries_filter_and_sort);
    RUN(memory_is_capped_per_vm);
    RUN(json_helpers);
    RUN(decision_constraints_drop_models);
    RUN(route_options_override_the_policy_per_route);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return sy_test_summary();
}
