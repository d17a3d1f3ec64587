/* sy_engine.c — the public API of switchyard.h: open an engine from a config (validating it
 * and every policy), route a request without calling upstreams, serve the gateway. */
#include "engine/sy_engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/sy_limits.h"
#include "tokens/sy_tokens.h"

int sy_engine_open(sy_engine **out, const char *config_path)
{
    sy_engine *eng = calloc(1, sizeof *eng);
    *out = eng;
    if (!eng) return SY_ENOMEM;
    sy_buf_init(&eng->err);
    sy_buf_init(&eng->decision);
    pthread_mutex_init(&eng->snap_lock, NULL);
    pthread_mutex_init(&eng->reload_lock, NULL);
    atomic_init(&eng->gen, 1);
    eng->stop_fd[0] = eng->stop_fd[1] = -1; /* before any return: sy_engine_free closes them */
    if (!(eng->cache = sy_cache_new())) return SY_ENOMEM;
    if (!(eng->limiter = sy_limiter_new())) return SY_ENOMEM;
    if (pipe2(eng->stop_fd, O_CLOEXEC) < 0) {
        sy_buf_printf(&eng->err, "cannot create a pipe: %s\n", strerror(errno));
        return SY_EIO;
    }
    /* the write end never blocks: sy_engine_stop runs in signal handlers */
    fcntl(eng->stop_fd[1], F_SETFL, fcntl(eng->stop_fd[1], F_GETFL) | O_NONBLOCK);
    if (!config_path) {
        sy_buf_puts(&eng->err, "no config file given\n");
        return SY_EINVAL;
    }
    int rc = sy_config_load(&eng->cfg, config_path, &eng->err);
    if (rc != SY_OK) return rc;
    /* compiling every policy once here is what makes `check` and a refused start agree */
    rc = sy_engine_bind_live(eng, eng->cfg);
    if (rc != SY_OK) return rc;
    rc = sy_policy_vm_new(&eng->vm, eng->cfg, &eng->err);
    if (rc != SY_OK) return rc;
    rc = sy_policy_vm_selftest(eng->vm, &eng->err);
    if (rc != SY_OK) return rc;
    if (eng->cfg->log_level) {
        static const char *const names[] = {"debug", "info", "warn", "error"};
        for (int i = 0; i < 4; i++)
            if (strcmp(eng->cfg->log_level, names[i]) == 0) sy_log_set_level(i);
    }
    return SY_OK;
}

void sy_engine_free(sy_engine *eng)
{
    if (!eng) return;
    sy_policy_vm_free(eng->vm);
    sy_config_unref(eng->cfg);
    if (eng->stop_fd[0] >= 0) close(eng->stop_fd[0]);
    if (eng->stop_fd[1] >= 0) close(eng->stop_fd[1]);
    sy_buf_free(&eng->err);
    sy_buf_free(&eng->decision);
    free(eng->live);
    sy_cache_free(eng->cache);
    sy_limiter_free(eng->limiter);
    pthread_mutex_destroy(&eng->snap_lock);
    pthread_mutex_destroy(&eng->reload_lock);
    free(eng);
}

const char *sy_engine_errmsg(const sy_engine *eng)
{
    if (!eng) return "out of memory";
    return eng->err.data ? eng->err.data : "";
}

/* ============================================================ decisions */

static const char *kind_name(int kind)
{
    switch (kind) {
    case SY_DEC_PICK: return "pick";
    case SY_DEC_CHAIN: return "chain";
    case SY_DEC_CASCADE: return "cascade";
    case SY_DEC_HEDGE: return "hedge";
    default: return "?";
    }
}

void sy_decision_json(sy_buf *out, const sy_route *route, const char *policy_id,
                      const sy_decision *dec, const sy_chat *chat)
{
    /* tokens as req.tokens sees them: the tokenizer of the route's default model */
    const sy_model *tm = route && route->default_model ? route->default_model : dec->models[0];
    long tokens = sy_tokens_request(chat, tm->tok_kind);
    sy_buf_reset(out);
    sy_buf_puts(out, "{\"route\":");
    if (route)
        sy_buf_json_str(out, route->name);
    else
        sy_buf_puts(out, "null");
    sy_buf_puts(out, ",\"policy\":");
    if (policy_id)
        sy_buf_json_str(out, policy_id);
    else
        sy_buf_puts(out, "null");
    sy_buf_printf(out, ",\"kind\":\"%s\",\"model\":", kind_name(dec->kind));
    sy_buf_json_str(out, dec->models[0]->id);
    sy_buf_puts(out, ",\"chain\":[");
    for (int i = 0; i < dec->n; i++) {
        if (i) sy_buf_puts(out, ",");
        sy_buf_json_str(out, dec->models[i]->id);
    }
    sy_buf_puts(out, "],\"reason\":");
    sy_buf_json_str(out, dec->reason);
    if (dec->cached) sy_buf_puts(out, ",\"decision_cache\":\"hit\"");
    sy_buf_printf(out, ",\"tokens\":%ld,\"tokenizer\":\"%s\",\"tokens_estimated\":%s", tokens,
                  sy_tok_kind_name(tm->tok_kind), tm->tok_kind == SY_TOK_ESTIMATE ? "true" : "false");
    /* what the executor will do about context windows */
    int fit = 0;
    const sy_fit *largest = NULL;
    sy_fit fits[SY_MAX_CHAIN];
    for (int i = 0; i < dec->n; i++) {
        sy_fit_check(chat, dec->models[i], 0, &fits[i]);
        fits[i].model = dec->models[i];
        if (fits[i].fits)
            fit++;
        else if (!largest || dec->models[i]->context_window > largest->model->context_window)
            largest = &fits[i];
    }
    if (fit < dec->n) {
        sy_buf_puts(out, ",\"skipped\":[");
        int k = 0;
        for (int i = 0; i < dec->n; i++) {
            if (fits[i].fits) continue;
            sy_buf_puts(out, k++ ? ",{\"model\":" : "{\"model\":");
            sy_buf_json_str(out, dec->models[i]->id);
            sy_buf_printf(out, ",\"reason\":\"context_window\",\"needs\":%ld,\"context_window\":%lld}",
                          fits[i].need, (long long)dec->models[i]->context_window);
        }
        sy_buf_puts(out, "]");
        if (!fit)
            sy_buf_printf(out, ",\"context_length_exceeded\":true,\"truncate\":\"%s\"",
                          !route || !route->truncate                 ? "none"
                          : route->truncate == SY_TRUNC_DROP_OLDEST ? "drop_oldest"
                                                                     : "middle_out");
    }
    sy_buf_printf(out, ",\"fallback_used\":%s", dec->policy_failed ? "true" : "false");
    if (dec->policy_failed) {
        sy_buf_puts(out, ",\"policy_error\":");
        sy_buf_json_str(out, dec->error);
    }
    if (dec->deadline_ms) sy_buf_printf(out, ",\"deadline_ms\":%d", dec->deadline_ms);
    if (dec->has_priority) sy_buf_printf(out, ",\"priority\":%d", dec->priority);
    if (dec->max_cost > 0) sy_buf_printf(out, ",\"max_cost\":%.10g", dec->max_cost);
    if (dec->dropped[0]) {
        sy_buf_puts(out, ",\"dropped\":");
        sy_buf_json_str(out, dec->dropped);
    }
    sy_buf_printf(out, ",\"eval_us\":%.1f}", dec->eval_us);
}

/* What the request needs of a model: capability bits and output room. */
static unsigned needed_caps(const sy_chat *c)
{
    unsigned caps = 0;
    sy_json_member t;
    if (c->response_format.type == 'o' &&
        sy_json_get(c->text, c->response_format.val_off, c->response_format.val_len, "type", &t) &&
        !sy_json_string_eq(c->text, &t, "text"))
        caps |= SY_CAP_JSON;
    if (c->tools.type == 'a' && c->tools.val_len > 2) caps |= SY_CAP_TOOLS;
    if (c->streaming) caps |= SY_CAP_STREAM;
    if (c->messages.type && memmem(c->text + c->messages.val_off, c->messages.val_len,
                                   "\"image_url\"", 11))
        caps |= SY_CAP_VISION;
    return caps;
}

void sy_decision_explain(sy_buf *out, const sy_config *cfg, const sy_chat *chat,
                         const sy_decision *dec)
{
    static const char *const cap_names[] = {"json", "tools", "vision", "stream"};
    unsigned need = needed_caps(chat);
    if (out->len && out->data[out->len - 1] == '}') out->data[--out->len] = '\0';
    sy_buf_puts(out, ",\"candidates\":[");
    for (int i = 0; i < cfg->nmodels; i++) {
        const sy_model *m = &cfg->models[i];
        sy_fit f;
        sy_fit_check(chat, m, 1, &f);
        long tokens = f.prompt, out_tokens = f.output;
        double cost = ((double)tokens * m->price_in + (double)out_tokens * m->price_out) / 1000.0;
        int pos = -1;
        for (int k = 0; k < dec->n; k++)
            if (dec->models[k] == m) pos = k;
        char why[256];
        unsigned missing = need & ~m->caps;
        if (pos >= 0 && !f.fits)
            snprintf(why, sizeof why,
                     "in the chain but skipped at execution: needs %ld tokens, context window "
                     "is %lld",
                     f.need, (long long)m->context_window);
        else if (pos >= 0 && pos == 0)
            snprintf(why, sizeof why, "chosen first");
        else if (pos > 0)
            snprintf(why, sizeof why, "fallback %d in the chain", pos);
        else if (tokens + out_tokens > m->context_window)
            snprintf(why, sizeof why, "dropped: needs %ld tokens, context window is %lld",
                     tokens + out_tokens, (long long)m->context_window);
        else if (missing) {
            int k = 0;
            while (!((missing >> k) & 1)) k++;
            snprintf(why, sizeof why, "dropped: lacks the %s capability the request needs",
                     cap_names[k]);
        } else
            snprintf(why, sizeof why, "not chosen by the policy");
        sy_buf_puts(out, i ? ",{\"model\":" : "{\"model\":");
        sy_buf_json_str(out, m->id);
        sy_buf_printf(out, ",\"kept\":%s,\"position\":", pos >= 0 ? "true" : "false");
        if (pos >= 0)
            sy_buf_printf(out, "%d", pos);
        else
            sy_buf_puts(out, "null");
        sy_buf_printf(out,
                      ",\"prompt_tokens\":%ld,\"tokenizer\":\"%s\",\"tokens_estimated\":%s,"
                      "\"output_tokens\":%ld,\"estimated_cost_usd\":%.8f,\"fits_context\":%s,\"why\":",
                      tokens, m->tokenizer, f.estimate ? "true" : "false", out_tokens, cost,
                      f.fits ? "true" : "false");
        sy_buf_json_str(out, why);
        sy_buf_puts(out, "}");
    }
    sy_buf_puts(out, "]}");
}

static int route_common(sy_engine *eng, const char *route, const char *request_json, size_t len,
                        const char **decision_json, int explain)
{
    *decision_json = NULL;
    if (!eng->vm) return SY_ESTATE;
    sy_buf_reset(&eng->err);
    sy_chat chat;
    sy_chat_error err;
    if (sy_chat_parse(&chat, request_json, len, &err) != 0) {
        sy_buf_printf(&eng->err, "invalid request: %s", err.message);
        sy_chat_free(&chat);
        return SY_EINVAL;
    }
    const char *name = route ? route : chat.model_name;
    sy_decision dec = {0};
    const sy_route *r = sy_config_route(eng->cfg, name);
    const sy_model *m = r ? NULL : sy_config_model(eng->cfg, name);
    int rc = SY_OK;
    if (r) {
        sy_request_view view = {.chat = &chat, .model = name};
        rc = sy_policy_route(eng->vm, r, &view, &dec);
        if (rc == SY_EPOLICY) sy_buf_puts(&eng->err, dec.error);
    } else if (m) {
        dec.kind = SY_DEC_PICK;
        dec.n = 1;
        dec.models[0] = m;
        snprintf(dec.reason, sizeof dec.reason, "model requested by name");
    } else {
        sy_buf_printf(&eng->err, "unknown model or route '%s'", name);
        sy_chat_free(&chat);
        return SY_ENOTFOUND;
    }
    sy_decision_json(&eng->decision, r, r ? sy_policy_id(eng->vm, r) : NULL, &dec, &chat);
    if (explain) sy_decision_explain(&eng->decision, eng->cfg, &chat, &dec);
    sy_chat_free(&chat);
    *decision_json = eng->decision.data;
    return rc;
}

int sy_engine_route(sy_engine *eng, const char *route, const char *request_json, size_t len,
                    const char **decision_json)
{
    return route_common(eng, route, request_json, len, decision_json, 0);
}

int sy_engine_explain(sy_engine *eng, const char *route, const char *request_json, size_t len,
                      const char **decision_json)
{
    return route_common(eng, route, request_json, len, decision_json, 1);
}

/* ============================================================ snapshots and reload */

int sy_engine_bind_live(sy_engine *eng, sy_config *cfg)
{
    /* the array never moves once serving (it is sized for the first config plus room);
     * a config with more new model ids than the room gets them without live stats */
    if (!eng->live) {
        eng->cap_live = cfg->nmodels + 256;
        eng->live = calloc((size_t)eng->cap_live, sizeof *eng->live);
        if (!eng->live) return SY_ENOMEM;
    }
    for (int i = 0; i < cfg->nmodels; i++) {
        sy_model *m = &cfg->models[i];
        int k;
        for (k = 0; k < eng->nlive; k++)
            if (strcmp(eng->live[k].id, m->id) == 0) break;
        if (k == eng->nlive) {
            if (eng->nlive == eng->cap_live) continue;
            snprintf(eng->live[k].id, sizeof eng->live[k].id, "%s", m->id);
            eng->nlive++;
        }
        m->live = &eng->live[k];
    }
    return SY_OK;
}

sy_config *sy_engine_snapshot(sy_engine *eng, unsigned *gen)
{
    pthread_mutex_lock(&eng->snap_lock);
    sy_config *cfg = sy_config_ref(eng->cfg);
    *gen = atomic_load(&eng->gen);
    pthread_mutex_unlock(&eng->snap_lock);
    return cfg;
}

static int sy_streq_null(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int sy_engine_reload_into(sy_engine *eng, sy_buf *msg)
{
    sy_config *cfg = NULL;
    sy_policy_vm *vm = NULL;
    int rc;
    pthread_mutex_lock(&eng->reload_lock);
    sy_buf_reset(msg);
    /* everything is built and checked aside; nothing is published unless all of it holds */
    rc = sy_config_load(&cfg, eng->cfg->path, msg);
    if (rc == SY_OK && !sy_streq_null(cfg->redis_url, eng->cfg->redis_url)) {
        /* the workers' connections were made for the old one: limits must not silently move */
        sy_buf_printf(msg, "%s:0: server.redis: changed; a running gateway keeps its Redis "
                           "connection, restart to use another\n", cfg->path);
        rc = SY_ECONFIG;
    }
    if (rc == SY_OK) rc = sy_engine_bind_live(eng, cfg);
    if (rc == SY_OK) rc = sy_policy_vm_new(&vm, cfg, msg);
    if (rc == SY_OK) rc = sy_policy_vm_selftest(vm, msg);
    if (rc != SY_OK) {
        eng->reload_failures++;
        while (msg->len && msg->data[msg->len - 1] == '\n') msg->data[--msg->len] = '\0';
        sy_log(SY_LOG_WARN, "reload", "reload refused, the running config stays: %s",
               msg->data ? msg->data : "");
        sy_policy_vm_free(vm);
        sy_config_unref(cfg);
        pthread_mutex_unlock(&eng->reload_lock);
        return SY_ECONFIG;
    }
    pthread_mutex_lock(&eng->snap_lock);
    sy_config *old = eng->cfg;
    sy_policy_vm *old_vm = eng->vm;
    eng->cfg = cfg;
    eng->vm = vm;
    unsigned gen = atomic_fetch_add(&eng->gen, 1) + 1;
    pthread_mutex_unlock(&eng->snap_lock);
    eng->reloads++;
    sy_cache_flush(eng->cache, gen); /* cached answers belong to the old routes and policies */
    /* workers hold their own refs: the old snapshot lives until the last of them lets go */
    sy_policy_vm_free(old_vm);
    sy_config_unref(old);
    sy_buf_printf(msg, "{\"status\":\"ok\",\"generation\":%u,\"routes\":{", gen);
    for (int i = 0; i < cfg->nroutes; i++) {
        if (i) sy_buf_puts(msg, ",");
        sy_buf_json_str(msg, cfg->routes[i].name);
        sy_buf_puts(msg, ":");
        sy_buf_json_str(msg, sy_policy_id(vm, &cfg->routes[i]));
    }
    sy_buf_puts(msg, "}}");
    sy_log(SY_LOG_INFO, "reload", "generation %u published: %s", gen, msg->data);
    pthread_mutex_unlock(&eng->reload_lock);
    return SY_OK;
}

int sy_engine_reload(sy_engine *eng)
{
    if (!eng->cfg) return SY_ESTATE;
    sy_buf msg;
    sy_buf_init(&msg);
    int rc = sy_engine_reload_into(eng, &msg);
    sy_buf_reset(&eng->err);
    if (rc != SY_OK) sy_buf_puts(&eng->err, msg.data ? msg.data : "");
    sy_buf_free(&msg);
    return rc;
}

void sy_engine_reload_async(sy_engine *eng)
{
    if (!eng || eng->stop_fd[1] < 0) return;
    ssize_t n = write(eng->stop_fd[1], "r", 1);
    (void)n;
}

/* ============================================================ serving */

int sy_engine_serve(sy_engine *eng, const sy_serve_opts *opts)
{
    char *host = NULL;
    int port = 0;
    if (!eng->cfg || !eng->vm) return SY_ESTATE;
    if (atomic_load(&eng->serving)) return SY_ESTATE;
    sy_buf_reset(&eng->err);
    if (opts && opts->listen) {
        if (sy_parse_listen(opts->listen, &host, &port) != SY_OK) {
            sy_buf_printf(&eng->err, "--listen: expected HOST:PORT, got \"%s\"\n", opts->listen);
            return SY_EINVAL;
        }
    } else {
        host = sy_strdup(eng->cfg->listen_host);
        port = eng->cfg->listen_port;
    }
    int workers = opts && opts->workers > 0 ? opts->workers : eng->cfg->workers;
    if (workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (int)n : 1;
    }
    for (int i = 0; i < eng->cfg->nproviders; i++) {
        const sy_provider_cfg *p = &eng->cfg->providers[i];
        if (p->api_key_env && !p->api_key)
            sy_log(SY_LOG_WARN, "serve",
                   "provider %s: environment variable %s is not set; its requests carry no key",
                   p->id, p->api_key_env);
    }
    int rc = sy_workers_run(eng, host, port, workers);
    free(host);
    return rc;
}

void sy_engine_stop(sy_engine *eng)
{
    if (!eng || eng->stop_fd[1] < 0) return;
    ssize_t n = write(eng->stop_fd[1], "x", 1);
    (void)n;
}
