/* sy_worker.c — N worker threads, each with its own event loop, SO_REUSEPORT listener,
 * HTTP server, curl multi handle and Lua VM: nothing on the request path is shared or
 * locked. Workers are built on the calling thread, then each thread only runs its loop.
 * Stopping: the main thread writes to each worker's wake pipe; the worker stops accepting,
 * lets requests in flight finish (up to a grace period) and leaves its loop. */
#include "engine/sy_engine_int.h"
#include "engine/sy_admit.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#define DRAIN_GRACE_S 10

static int make_listener(const char *host, int port, sy_buf *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    char service[16];
    int fd = -1, one = 1;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        sy_buf_printf(err, "cannot listen on %s:%d: %s\n", host, port, gai_strerror(gai));
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        sy_buf_printf(err, "cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* ============================================================ stop and drain */

static void check_drained(evutil_socket_t fd, short what, void *arg)
{
    sy_worker *w = arg;
    (void)fd;
    (void)what;
    if (sy_http_server_inflight(w->srv) == 0 || ++w->draining > DRAIN_GRACE_S * 20) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(w->grace_ev, &tv);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    sy_worker *w = arg;
    char buf[16];
    (void)what;
    while (read(fd, buf, sizeof buf) > 0) {
    }
    if (w->draining) return;
    w->draining = 1;
    sy_http_server_drain(w->srv);
    check_drained(-1, 0, w);
}

void sy_worker_refresh(sy_worker *w)
{
    sy_engine *eng = w->eng;
    if (atomic_load_explicit(&eng->gen, memory_order_acquire) == w->gen) return;
    unsigned gen;
    sy_config *cfg = sy_engine_snapshot(eng, &gen);
    sy_policy_vm *vm = NULL;
    sy_buf diag;
    sy_buf_init(&diag);
    size_t mlen = 0;
    char *models = NULL;
    /* the snapshot was checked before it was published; this only fails out of memory */
    if (sy_policy_vm_new(&vm, cfg, &diag) != SY_OK ||
        !(models = sy_gateway_models_json(cfg, &mlen))) {
        sy_log(SY_LOG_ERROR, "reload", "worker %d stays on generation %u: %s", w->index, w->gen,
               diag.data ? diag.data : "out of memory");
        sy_policy_vm_free(vm);
        sy_config_unref(cfg);
        sy_buf_free(&diag);
        w->gen = gen; /* do not retry on every request */
        return;
    }
    sy_buf_free(&diag);
    /* requests in flight hold their own refs to the old snapshot */
    sy_policy_vm_free(w->vm);
    sy_config_unref(w->cfg);
    free(w->models_json);
    w->vm = vm;
    w->cfg = cfg;
    w->models_json = models;
    w->models_len = mlen;
    w->gen = gen;
}

static void *worker_main(void *arg)
{
    sy_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

/* ============================================================ the control thread */

/* Watches the directories of the config and of every policy (editors replace files by
 * renaming, so a watch on the file itself would be lost). Returns the inotify fd or -1. */
static int watch_files(const sy_config *cfg, char names[][256], int *nnames, int max)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    *nnames = 0;
    if (fd < 0) return -1;
    for (int i = -1; i < cfg->nroutes && *nnames < max; i++) {
        const char *path = i < 0 ? cfg->path : cfg->routes[i].policy_path;
        if (!path) continue;
        char dir[4096];
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
        snprintf(names[(*nnames)++], 256, "%s", slash ? slash + 1 : path);
        inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
    }
    return fd;
}

/* Reads inotify events; 1 if one names a watched file. */
static int files_changed(int fd, char names[][256], int nnames)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            for (int i = 0; ev->len && i < nnames; i++)
                if (strcmp(ev->name, names[i]) == 0) hit = 1;
            p += sizeof *ev + ev->len;
        }
    }
    return hit;
}

/* The serving thread's loop: stop and reload requests (sy_engine_stop / SIGHUP) and file
 * changes, which reload after 100 ms of quiet (an editor's save is several events). */
static void control_loop(sy_engine *eng)
{
    char names[64][256];
    int nnames = 0;
    unsigned gen;
    /* a ref, not eng->cfg: an admin reload on a worker may replace it at any moment */
    sy_config *cfg = sy_engine_snapshot(eng, &gen);
    int ifd = watch_files(cfg, names, &nnames, 64);
    sy_config_unref(cfg);
    int pending = 0;
    for (;;) {
        struct pollfd pf[2] = {{eng->stop_fd[0], POLLIN, 0}, {ifd, POLLIN, 0}};
        int rc = poll(pf, ifd >= 0 ? 2 : 1, pending ? 100 : -1);
        if (rc < 0 && errno != EINTR) break;
        int reload = 0;
        if (rc == 0 && pending) {
            pending = 0;
            reload = 1;
        }
        if (rc > 0 && (pf[0].revents & POLLIN)) {
            char cmd[16];
            ssize_t n = read(eng->stop_fd[0], cmd, sizeof cmd);
            for (ssize_t i = 0; i < n; i++) {
                if (cmd[i] == 'x') goto out;
                if (cmd[i] == 'r') reload = 1;
            }
        }
        if (rc > 0 && ifd >= 0 && (pf[1].revents & POLLIN) && files_changed(ifd, names, nnames))
            pending = 1;
        if (reload) {
            sy_buf msg;
            sy_buf_init(&msg);
            if (sy_engine_reload_into(eng, &msg) == SY_OK) { /* the file set may have changed */
                if (ifd >= 0) close(ifd);
                cfg = sy_engine_snapshot(eng, &gen);
                ifd = watch_files(cfg, names, &nnames, 64);
                sy_config_unref(cfg);
            }
            sy_buf_free(&msg);
        }
    }
out:
    if (ifd >= 0) close(ifd);
}

/* ============================================================ setup and teardown */

static void worker_cleanup(sy_worker *w)
{
    sy_http_server_free(w->srv);
    sy_upstream_free(w->up);
    sy_redis_free(w->redis);
    w->redis = NULL;
    sy_hclient_free(w->hc);
    sy_policy_vm_free(w->vm);
    sy_schema_cache_free(w->schemas);
    sy_adm_inbox_free(w->adm_inbox);
    sy_dcache_free(w->dcache);
    /* w->met stays until the engine is freed: GET /metrics of another worker may read it */
    if (w->wake_ev) event_free(w->wake_ev);
    if (w->grace_ev) event_free(w->grace_ev);
    if (w->base) event_base_free(w->base);
    if (w->listen_fd >= 0) close(w->listen_fd);
    if (w->wake_fd[0] >= 0) close(w->wake_fd[0]);
    if (w->wake_fd[1] >= 0) close(w->wake_fd[1]);
    sy_config_unref(w->cfg);
    free(w->models_json);
}

static int worker_setup(sy_engine *eng, sy_worker *w, int index, const char *host, int port)
{
    w->eng = eng;
    w->index = index;
    w->started_ms = sy_wall_ms();
    w->wake_fd[0] = w->wake_fd[1] = -1;
    w->listen_fd = make_listener(host, port, &eng->err);
    if (w->listen_fd < 0) return SY_EIO;
    if (pipe2(w->wake_fd, O_NONBLOCK | O_CLOEXEC) < 0) return SY_EIO;
    w->cfg = sy_engine_snapshot(eng, &w->gen);
    /* The changelist coalesces an epoll_ctl DEL and ADD of the same fd within one loop pass:
     * curl drops a keep-alive socket from its watch list after each response and adds it
     * back for the next request. No lock: each base belongs to one thread. */
    struct event_config *ecfg = event_config_new();
    if (!ecfg) return SY_ENOMEM;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (!w->base) return SY_ENOMEM;
    if (sy_upstream_new(&w->up, w->base) != SY_OK) return SY_ENOMEM;
    if (sy_hclient_new(&w->hc, w->base) != SY_OK) return SY_ENOMEM;
    if (w->cfg->redis_url &&
        !(w->redis = sy_redis_new(w->base, w->cfg->redis_url, w->cfg->redis_timeout_ms,
                                  &eng->redis_stats)))
        return SY_ENOMEM;
    if (!(w->schemas = sy_schema_cache_new())) return SY_ENOMEM;
    if (!(w->adm_inbox = sy_adm_inbox_new(w->base))) return SY_ENOMEM;
    if (!(w->dcache = sy_dcache_new(eng->cache))) return SY_ENOMEM;
    if (!w->met && !(w->met = sy_metrics_new(eng->cap_live))) return SY_ENOMEM;
    int rc = sy_policy_vm_new(&w->vm, w->cfg, &eng->err);
    if (rc != SY_OK) return rc;
    w->penv.base = w->base;
    w->penv.up = w->up;
    w->penv.hc = w->hc;
    w->models_json = sy_gateway_models_json(w->cfg, &w->models_len);
    sy_http_server_opts o = {0};
    o.max_body = w->cfg->max_body;
    o.on_request = sy_gateway_handle;
    o.ud = w;
    rc = sy_http_server_new(&w->srv, w->base, w->listen_fd, &o);
    if (rc != SY_OK) return rc;
    w->wake_ev = event_new(w->base, w->wake_fd[0], EV_READ | EV_PERSIST, on_wake, w);
    w->grace_ev = evtimer_new(w->base, check_drained, w);
    if (!w->wake_ev || !w->grace_ev) return SY_ENOMEM;
    event_add(w->wake_ev, NULL);
    return SY_OK;
}

int sy_workers_run(sy_engine *eng, const char *host, int port, int nworkers)
{
    int rc = SY_OK;
    eng->workers = calloc((size_t)nworkers, sizeof *eng->workers);
    if (!eng->workers) return SY_ENOMEM;
    eng->nworkers = nworkers;
    if (!eng->adm && !(eng->adm = sy_admit_new(eng->cap_live))) rc = SY_ENOMEM;
    for (int i = 0; i < nworkers; i++) {
        eng->workers[i].listen_fd = -1;
        pthread_mutex_init(&eng->workers[i].log_lock, NULL);
        sy_buf_init(&eng->workers[i].logbuf);
    }
    for (int i = 0; i < nworkers && rc == SY_OK; i++)
        rc = worker_setup(eng, &eng->workers[i], i, host, port);
    if (rc == SY_OK && eng->cfg->request_log &&
        !(eng->reqlog = sy_reqlog_start(eng, eng->cfg->request_log, &eng->err)))
        rc = SY_EIO;
    int nmodels = eng->cfg->nmodels, nroutes = eng->cfg->nroutes; /* before any thread runs */
    for (int i = 0; i < nworkers && rc == SY_OK; i++) {
        if (pthread_create(&eng->workers[i].thread, NULL, worker_main, &eng->workers[i]) != 0) {
            sy_buf_printf(&eng->err, "cannot start worker thread %d\n", i);
            rc = SY_ENOMEM;
            break;
        }
        eng->workers[i].started = 1;
    }
    if (rc == SY_OK) {
        sy_log(SY_LOG_INFO, "serve", "switchyard %s listening on %s:%d with %d worker%s, %d models, %d routes",
               SY_VERSION, host, port, nworkers, nworkers == 1 ? "" : "s", nmodels, nroutes);
        atomic_store(&eng->serving, 1);
        control_loop(eng);
        sy_log(SY_LOG_INFO, "serve", "stopping: draining requests in flight");
    }
    for (int i = 0; i < nworkers; i++) {
        sy_worker *w = &eng->workers[i];
        if (w->started) {
            ssize_t n = write(w->wake_fd[1], "x", 1);
            (void)n;
        }
    }
    for (int i = 0; i < nworkers; i++) {
        if (eng->workers[i].started) pthread_join(eng->workers[i].thread, NULL);
        worker_cleanup(&eng->workers[i]);
    }
    atomic_store(&eng->serving, 0);
    sy_reqlog_stop(eng->reqlog); /* writes what the workers left */
    eng->reqlog = NULL;
    for (int i = 0; i < nworkers; i++) {
        sy_metrics_free(eng->workers[i].met);
        sy_buf_free(&eng->workers[i].logbuf);
        pthread_mutex_destroy(&eng->workers[i].log_lock);
    }
    free(eng->workers);
    eng->workers = NULL;
    eng->nworkers = 0;
    sy_admit_free(eng->adm); /* after every worker: none can post a grant any more */
    eng->adm = NULL;
    return rc;
}
