/* sy_itest.c — the integration-test harness declared in sy_itest.h (processes, files, ports,
 * libcurl HTTP and SSE helpers, JSON paths); used by test_mock.c and test_gateway.c. */
#include "sy_itest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ==== time ============================================================================= */

double sy_it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void sy_it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ==== child registry ===================================================================
 * The one piece of global state in the harness: the children still running, so that an
 * exit or a SIGINT/SIGTERM of the test process takes them down too. */

#define MAX_CHILDREN 64
static pid_t g_children[MAX_CHILDREN];
static int g_registry_ready;

static void kill_children(void)
{
    int i;
    for (i = 0; i < MAX_CHILDREN; i++) {
        if (g_children[i] > 0) {
            kill(g_children[i], SIGKILL);
            waitpid(g_children[i], NULL, 0);
            g_children[i] = 0;
        }
    }
}

static void on_fatal_signal(int sig)
{
    int i;
    for (i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] > 0) kill(g_children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void registry_add(pid_t pid)
{
    int i;
    if (!g_registry_ready) {
        g_registry_ready = 1;
        atexit(kill_children);
        signal(SIGINT, on_fatal_signal);
        signal(SIGTERM, on_fatal_signal);
        signal(SIGPIPE, SIG_IGN);
    }
    for (i = 0; i < MAX_CHILDREN; i++) {
        if (g_children[i] == 0) {
            g_children[i] = pid;
            return;
        }
    }
}

static void registry_remove(pid_t pid)
{
    int i;
    for (i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] == pid) g_children[i] = 0;
}

/* ==== processes ======================================================================== */

int sy_proc_spawn(sy_proc *p, char *const argv[], char *const env[], int capture_stdout,
                  const char *stderr_path)
{
    int out[2] = {-1, -1}, errfd = -1, rc = -1;
    pid_t parent = getpid(), pid;

    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    if (capture_stdout && pipe2(out, O_CLOEXEC) < 0) goto fail;
    if (stderr_path) {
        errfd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (errfd < 0) goto fail;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) goto fail;
    if (pid == 0) {
        sigset_t none;
        int devnull = open("/dev/null", O_RDWR);
        size_t i;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (devnull >= 0) dup2(devnull, 0);
        if (capture_stdout)
            dup2(out[1], 1);
        else if (devnull >= 0)
            dup2(devnull, 1);
        if (errfd >= 0) dup2(errfd, 2);
        for (i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    registry_add(pid);
    if (capture_stdout) {
        p->out_fd = out[0];
        out[0] = -1;
    }
    rc = 0;
fail:
    if (rc < 0) fprintf(stderr, "spawn %s: %s\n", argv[0], strerror(errno));
    if (out[0] >= 0) close(out[0]);
    if (out[1] >= 0) close(out[1]);
    if (errfd >= 0) close(errfd);
    return rc;
}

int sy_proc_read_line(sy_proc *p, char *buf, size_t cap, int timeout_ms)
{
    double deadline = sy_it_now_ms() + timeout_ms;
    size_t n = 0;

    if (p->out_fd < 0 || cap == 0) return -1;
    for (;;) {
        struct pollfd pfd = {p->out_fd, POLLIN, 0};
        int left = (int)(deadline - sy_it_now_ms());
        char c;
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, left) <= 0) return -1;
        r = read(p->out_fd, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        if (c == '\n') break;
        if (n + 1 < cap) buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

int sy_proc_wait(sy_proc *p, int timeout_ms)
{
    double deadline = sy_it_now_ms() + timeout_ms;

    if (p->pid <= 0) return 1;
    while (!p->exited) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid || (r < 0 && errno == ECHILD)) {
            p->exited = 1;
            p->status = r == p->pid ? st : 0;
            registry_remove(p->pid);
            break;
        }
        if (sy_it_now_ms() >= deadline) return 0;
        sy_it_sleep_ms(5);
    }
    return 1;
}

int sy_proc_exit_code(const sy_proc *p)
{
    if (p->pid <= 0 || !p->exited) return -1;
    if (WIFEXITED(p->status)) return WEXITSTATUS(p->status);
    if (WIFSIGNALED(p->status)) return 128 + WTERMSIG(p->status);
    return -1;
}

int sy_proc_stop(sy_proc *p, int timeout_ms)
{
    if (p->pid > 0 && !p->exited) {
        kill(p->pid, SIGTERM);
        if (!sy_proc_wait(p, timeout_ms)) {
            fprintf(stderr, "  (pid %d ignored SIGTERM for %d ms: SIGKILL)\n", (int)p->pid,
                    timeout_ms);
            kill(p->pid, SIGKILL);
            sy_proc_wait(p, 10000);
        }
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
        p->out_fd = -1;
    }
    return sy_proc_exit_code(p);
}

/* ==== files and ports ================================================================== */

int sy_it_tmpdir(char *out, size_t cap)
{
    const char *t = getenv("TMPDIR");
    int n = snprintf(out, cap, "%s/sy-itest-XXXXXX", t && *t ? t : "/tmp");

    if (n < 0 || (size_t)n >= cap || !mkdtemp(out)) return -1;
    return 0;
}

int sy_it_write_file(const char *dir, const char *name, const char *text, char *path_out,
                     size_t cap)
{
    char path[1024];
    FILE *f;
    size_t len = strlen(text);
    int n = snprintf(path, sizeof path, "%s/%s", dir, name), rc = -1;

    if (n < 0 || (size_t)n >= sizeof path) return -1;
    f = fopen(path, "w");
    if (!f) return -1;
    if (fwrite(text, 1, len, f) == len) rc = 0;
    if (fclose(f) != 0) rc = -1;
    if (rc == 0 && path_out) snprintf(path_out, cap, "%s", path);
    return rc;
}

char *sy_it_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) return NULL;
    for (;;) {
        size_t r;
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = (cap ? cap * 2 : 8192));
            if (!nb) {
                free(buf);
                buf = NULL;
                goto done;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    buf[n] = '\0';
    if (len) *len = n;
done:
    fclose(f);
    return buf;
}

void sy_it_rmtree(const char *dir)
{
    DIR *d;
    struct dirent *e;

    if (!dir || !*dir) return;
    if (getenv("SY_ITEST_KEEP")) {
        fprintf(stderr, "  (kept %s)\n", dir);
        return;
    }
    d = opendir(dir);
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int sy_it_redis_start(sy_proc *p, const char *bin, int port)
{
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    char *argv[] = {(char *)bin, "--port", portarg, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--protected-mode", "no", NULL};
    memset(p, 0, sizeof *p);
    if (sy_proc_spawn(p, argv, NULL, 0, "/dev/null") != 0) return -1;
    for (int i = 0; i < 100; i++) { /* until it accepts connections */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0) close(fd);
        if (ok) return 0;
        sy_it_sleep_ms(50);
    }
    sy_proc_stop(p, 1000);
    return -1;
}

int sy_it_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* ==== mock and gateway ================================================================= */

int sy_mock_start(sy_mock *m, const char *bin, const char *const extra[])
{
    char *argv[16];
    char line[256];
    size_t n = 0, i;
    const char *p;

    memset(m, 0, sizeof *m);
    m->proc.out_fd = -1;
    argv[n++] = (char *)bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (i = 0; extra && extra[i] && n < 15; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    if (sy_proc_spawn(&m->proc, argv, NULL, 1, NULL) < 0) return -1;
    if (sy_proc_read_line(&m->proc, line, sizeof line, 5000) < 0 ||
        strncmp(line, "listening on 127.0.0.1:", 23) != 0) {
        fprintf(stderr, "mock %s did not say 'listening on'\n", bin);
        sy_proc_stop(&m->proc, 1000);
        return -1;
    }
    p = line + 23;
    m->port = atoi(p);
    if (m->port <= 0) {
        sy_proc_stop(&m->proc, 1000);
        return -1;
    }
    snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", m->port);
    return 0;
}

void sy_mock_stop(sy_mock *m)
{
    sy_proc_stop(&m->proc, 3000);
}

cJSON *sy_mock_stats(const sy_mock *m)
{
    char url[128];
    sy_resp r;
    cJSON *j = NULL;

    snprintf(url, sizeof url, "%s/_mock/stats", m->base);
    if (sy_http_get(&r, url) == 0 && r.status == 200) j = sy_resp_json(&r);
    sy_resp_free(&r);
    return j;
}

int sy_mock_reset(const sy_mock *m)
{
    char url[128];
    sy_resp r;
    sy_req_opts o = {0};
    int rc;

    o.method = "POST";
    snprintf(url, sizeof url, "%s/_mock/reset", m->base);
    rc = sy_http(&r, url, &o) == 0 && r.status == 200 ? 0 : -1;
    sy_resp_free(&r);
    return rc;
}

long sy_mock_stat(const sy_mock *m, const char *key)
{
    cJSON *j = sy_mock_stats(m);
    long v = j ? (long)sy_json_num(j, key, -1) : -1;
    cJSON_Delete(j);
    return v;
}

long sy_mock_model_count(const sy_mock *m, const char *model)
{
    cJSON *j = sy_mock_stats(m);
    const cJSON *bm, *c;
    long v = -1;

    if (!j) return -1;
    bm = cJSON_GetObjectItemCaseSensitive(j, "by_model");
    c = cJSON_GetObjectItemCaseSensitive(bm, model);
    v = cJSON_IsNumber(c) ? (long)c->valuedouble : 0;
    cJSON_Delete(j);
    return v;
}

static void print_tail(const char *path, size_t max)
{
    size_t len = 0;
    char *text = sy_it_read_file(path, &len);

    if (!text) return;
    fprintf(stderr, "---- %s (last %zu bytes) ----\n%s\n----\n", path, len > max ? max : len,
            text + (len > max ? len - max : 0));
    free(text);
}

int sy_gw_start(sy_gw *g, const char *bin, const char *config, int workers, char *const env[],
                const char *stderr_path)
{
    char listen[64], nw[16], url[128];
    char *argv[10];
    size_t n = 0;
    double deadline;

    memset(g, 0, sizeof *g);
    g->proc.out_fd = -1;
    snprintf(g->stderr_path, sizeof g->stderr_path, "%s", stderr_path);
    g->port = sy_it_free_port();
    if (g->port <= 0) return -1;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g->port);
    snprintf(g->base, sizeof g->base, "http://127.0.0.1:%d", g->port);
    argv[n++] = (char *)bin;
    argv[n++] = "serve";
    argv[n++] = "--config";
    argv[n++] = (char *)config;
    argv[n++] = "--listen";
    argv[n++] = listen;
    if (workers > 0) {
        snprintf(nw, sizeof nw, "%d", workers);
        argv[n++] = "--workers";
        argv[n++] = nw;
    }
    argv[n] = NULL;
    if (sy_proc_spawn(&g->proc, argv, env, 0, stderr_path) < 0) return -1;
    snprintf(url, sizeof url, "%s/healthz", g->base);
    deadline = sy_it_now_ms() + 5000;
    while (sy_it_now_ms() < deadline) {
        sy_resp r;
        sy_req_opts o = {0};
        int ok;
        o.timeout_ms = 500;
        ok = sy_http(&r, url, &o) == 0 && r.status == 200;
        sy_resp_free(&r);
        if (ok) return 0;
        if (sy_proc_wait(&g->proc, 0)) {
            fprintf(stderr, "gateway exited during startup (code %d)\n",
                    sy_proc_exit_code(&g->proc));
            goto fail;
        }
        sy_it_sleep_ms(50);
    }
    fprintf(stderr, "gateway: GET /healthz did not answer 200 within 5 s\n");
fail:
    sy_proc_stop(&g->proc, 2000);
    print_tail(stderr_path, 4000);
    return -1;
}

void sy_gw_stop(sy_gw *g)
{
    sy_proc_stop(&g->proc, 5000);
}

/* ==== HTTP ============================================================================= */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t nc;
    void *np;

    if (need <= *cap) return 0;
    nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    sy_resp *r = ud;
    size_t len = size * nmemb;

    if (r->abort_after > 0 && r->body_len >= (size_t)r->abort_after) return 0; /* hang up */
    if (grow((void **)&r->body, &r->body_cap, r->body_len + len + 1, 1) < 0 ||
        grow((void **)&r->pieces, &r->piece_cap, r->n_pieces + 1, sizeof *r->pieces) < 0)
        return 0;
    memcpy(r->body + r->body_len, data, len);
    r->pieces[r->n_pieces].t_ms = sy_it_now_ms() - r->t0;
    r->pieces[r->n_pieces].off = r->body_len;
    r->pieces[r->n_pieces].len = len;
    r->n_pieces++;
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

static void clear_headers(sy_resp *r)
{
    size_t i;
    for (i = 0; i < r->n_hdrs; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_values[i]);
    }
    r->n_hdrs = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    sy_resp *r = ud;
    size_t len = size * nmemb, nl, vs, ve;
    const char *colon;
    size_t cap_names;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        clear_headers(r); /* a new response (after 100 Continue, or the only one) */
        r->t_headers_ms = sy_it_now_ms() - r->t0;
        return len;
    }
    colon = memchr(data, ':', len);
    if (!colon) return len;
    nl = (size_t)(colon - data);
    vs = nl + 1;
    ve = len;
    while (vs < ve && (data[vs] == ' ' || data[vs] == '\t'))
        vs++;
    while (ve > vs && (data[ve - 1] == '\r' || data[ve - 1] == '\n' || data[ve - 1] == ' '))
        ve--;
    cap_names = r->hdr_cap;
    if (grow((void **)&r->hdr_names, &cap_names, r->n_hdrs + 1, sizeof(char *)) < 0 ||
        grow((void **)&r->hdr_values, &r->hdr_cap, r->n_hdrs + 1, sizeof(char *)) < 0)
        return 0;
    r->hdr_names[r->n_hdrs] = strndup(data, nl);
    r->hdr_values[r->n_hdrs] = strndup(data + vs, ve - vs);
    if (!r->hdr_names[r->n_hdrs] || !r->hdr_values[r->n_hdrs]) {
        free(r->hdr_names[r->n_hdrs]);
        free(r->hdr_values[r->n_hdrs]);
        return 0;
    }
    r->n_hdrs++;
    return len;
}

/* A configured easy handle for r (zeroed here); *hl gets the header list to free after. */
static CURL *make_easy(sy_resp *r, const char *url, const sy_req_opts *o, struct curl_slist **hl)
{
    static const sy_req_opts none = {0};
    CURL *c;
    struct curl_slist *l = NULL, *nl;
    size_t i;
    int has_ct = 0;

    memset(r, 0, sizeof *r);
    r->t_headers_ms = -1;
    *hl = NULL;
    if (!o) o = &none;
    r->abort_after = o->abort_after_bytes;
    r->body = calloc(1, 1);
    if (!r->body) return NULL;
    r->body_cap = 1;
    c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(c, CURLOPT_PRIVATE, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 15000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (o->fresh_connect) {
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }
    for (i = 0; o->headers && o->headers[i]; i++) {
        if (strncasecmp(o->headers[i], "content-type:", 13) == 0) has_ct = 1;
        if (!(nl = curl_slist_append(l, o->headers[i]))) goto fail;
        l = nl;
    }
    /* No "Expect: 100-continue" dance: it would add a second of delay to bodies > 1 KiB on
     * a server that does not answer 100, and is not what the tests are about. */
    if (!(nl = curl_slist_append(l, "Expect:"))) goto fail;
    l = nl;
    if (o->body) {
        size_t blen = o->body_len ? o->body_len : strlen(o->body);
        if (!has_ct) {
            if (!(nl = curl_slist_append(l, "Content-Type: application/json"))) goto fail;
            l = nl;
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
    }
    if (o->method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
    if (o->method && strcmp(o->method, "POST") == 0 && !o->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    *hl = l;
    r->t0 = sy_it_now_ms();
    return c;
fail:
    curl_slist_free_all(l);
    curl_easy_cleanup(c);
    return NULL;
}

static void finish_easy(sy_resp *r, CURL *c, CURLcode cc)
{
    r->cc = cc;
    r->t_total_ms = sy_it_now_ms() - r->t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
}

int sy_http(sy_resp *r, const char *url, const sy_req_opts *o)
{
    struct curl_slist *hl = NULL;
    CURL *c = make_easy(r, url, o, &hl);

    if (!c) {
        r->cc = CURLE_OUT_OF_MEMORY;
        return -1;
    }
    finish_easy(r, c, curl_easy_perform(c));
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    return r->status > 0 ? 0 : -1;
}

int sy_http_get(sy_resp *r, const char *url)
{
    return sy_http(r, url, NULL);
}

int sy_http_post(sy_resp *r, const char *url, const char *json, const char *const *headers)
{
    sy_req_opts o = {0};
    o.body = json;
    o.headers = headers;
    return sy_http(r, url, &o);
}

size_t sy_http_many(sy_resp *rs, const char *const *urls, const sy_req_opts *opts, size_t n,
                    long overall_timeout_ms)
{
    CURLM *multi = curl_multi_init();
    CURL **easies = calloc(n ? n : 1, sizeof *easies);
    struct curl_slist **hls = calloc(n ? n : 1, sizeof *hls);
    double deadline = sy_it_now_ms() + (double)overall_timeout_ms;
    size_t i, got = 0;
    int running = 0;
    CURLMsg *msg;
    int left;

    for (i = 0; i < n; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i].cc = CURLE_FAILED_INIT;
    }
    if (!multi || !easies || !hls) goto done;
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    for (i = 0; i < n; i++) {
        easies[i] = make_easy(&rs[i], urls[i], opts ? &opts[i] : NULL, &hls[i]);
        if (!easies[i]) {
            rs[i].cc = CURLE_OUT_OF_MEMORY;
            continue;
        }
        rs[i].cc = CURLE_OPERATION_TIMEDOUT; /* until it finishes */
        curl_multi_add_handle(multi, easies[i]);
    }
    do {
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            sy_resp *r = NULL;
            if (msg->msg != CURLMSG_DONE) continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            if (r) finish_easy(r, msg->easy_handle, msg->data.result);
        }
        if (running && curl_multi_poll(multi, NULL, 0, 100, NULL) != CURLM_OK) break;
    } while (running && sy_it_now_ms() < deadline);
done:
    for (i = 0; i < n; i++) {
        if (easies && easies[i]) {
            if (rs[i].t_total_ms == 0) rs[i].t_total_ms = sy_it_now_ms() - rs[i].t0;
            curl_multi_remove_handle(multi, easies[i]);
            curl_easy_cleanup(easies[i]);
        }
        if (hls) curl_slist_free_all(hls[i]);
        if (rs[i].status > 0 && rs[i].cc == CURLE_OK) got++;
    }
    free(easies);
    free(hls);
    if (multi) curl_multi_cleanup(multi);
    return got;
}

void sy_resp_free(sy_resp *r)
{
    if (!r) return;
    clear_headers(r);
    free(r->hdr_names);
    free(r->hdr_values);
    free(r->body);
    free(r->pieces);
    memset(r, 0, sizeof *r);
}

const char *sy_resp_header(const sy_resp *r, const char *name)
{
    size_t i;
    for (i = 0; i < r->n_hdrs; i++)
        if (strcasecmp(r->hdr_names[i], name) == 0) return r->hdr_values[i];
    return NULL;
}

cJSON *sy_resp_json(const sy_resp *r)
{
    if (!r->body || r->body_len == 0) return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

long sy_tcp_raw(int port, const void *data, size_t len, char *reply, size_t cap, int timeout_ms)
{
    struct sockaddr_in sa;
    double deadline = sy_it_now_ms() + timeout_ms;
    const char *p = data;
    size_t sent = 0, got = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || cap == 0) goto fail;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) goto fail;
    while (sent < len) {
        ssize_t w = send(fd, p + sent, len - sent, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may hang up on garbage: fine, read what it said */
        sent += (size_t)w;
    }
    while (got + 1 < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(deadline - sy_it_now_ms());
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, left) <= 0) break;
        r = recv(fd, reply + got, cap - got - 1, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    reply[got] = '\0';
    close(fd);
    return (long)got;
fail:
    if (fd >= 0) close(fd);
    return -1;
}

/* ==== SSE ============================================================================== */

static double time_at(const sy_resp *r, size_t off)
{
    size_t i;
    for (i = 0; i < r->n_pieces; i++)
        if (off >= r->pieces[i].off && off < r->pieces[i].off + r->pieces[i].len)
            return r->pieces[i].t_ms;
    return r->n_pieces ? r->pieces[r->n_pieces - 1].t_ms : 0;
}

int sy_sse_parse(const sy_resp *r, sy_sse *out)
{
    const char *b = r->body ? r->body : "";
    size_t len = r->body_len, pos = 0, last_end = 0, cap = 0;
    char *data = NULL;
    size_t dlen = 0, dcap = 0;
    int have = 0, rc = -1;

    memset(out, 0, sizeof *out);
    while (pos < len) {
        const char *nlp = memchr(b + pos, '\n', len - pos);
        size_t end, ll;
        if (!nlp) break; /* unterminated line */
        end = (size_t)(nlp - b);
        ll = end - pos;
        if (ll > 0 && b[pos + ll - 1] == '\r') ll--;
        if (ll == 0) {
            if (have) {
                if (grow((void **)&out->ev, &cap, out->n + 1, sizeof *out->ev) < 0) goto fail;
                out->ev[out->n].data = data ? data : strdup("");
                out->ev[out->n].t_ms = time_at(r, end);
                if (!out->ev[out->n].data) goto fail;
                out->n++;
                data = NULL;
                dlen = dcap = 0;
                have = 0;
            }
            last_end = end + 1;
        } else if (ll >= 5 && strncmp(b + pos, "data:", 5) == 0) {
            size_t vs = pos + 5, vl;
            if (vs < pos + ll && b[vs] == ' ') vs++;
            vl = pos + ll - vs;
            if (grow((void **)&data, &dcap, dlen + vl + 2, 1) < 0) goto fail;
            if (have) data[dlen++] = '\n';
            memcpy(data + dlen, b + vs, vl);
            dlen += vl;
            data[dlen] = '\0';
            have = 1;
        }
        pos = end + 1;
    }
    for (; last_end < len; last_end++)
        if (b[last_end] != '\r' && b[last_end] != '\n') out->trailing++;
    {
        size_t i;
        for (i = 0; i < out->n; i++) {
            if (strcmp(out->ev[i].data, "[DONE]") == 0) {
                out->done = 1;
                out->done_last = i + 1 == out->n;
            }
        }
    }
    rc = 0;
fail:
    free(data);
    if (rc < 0) sy_sse_free(out);
    return rc;
}

void sy_sse_free(sy_sse *s)
{
    size_t i;
    if (!s) return;
    for (i = 0; i < s->n; i++)
        free(s->ev[i].data);
    free(s->ev);
    memset(s, 0, sizeof *s);
}

char *sy_sse_content(const sy_sse *s)
{
    size_t i, len = 0, cap = 0;
    char *out = NULL;

    if (grow((void **)&out, &cap, 1, 1) < 0) return NULL;
    out[0] = '\0';
    for (i = 0; i < s->n; i++) {
        cJSON *j = cJSON_Parse(s->ev[i].data);
        const char *c = sy_json_str(j, "choices.0.delta.content");
        if (c) {
            size_t cl = strlen(c);
            if (grow((void **)&out, &cap, len + cl + 1, 1) == 0) {
                memcpy(out + len, c, cl + 1);
                len += cl;
            }
        }
        cJSON_Delete(j);
    }
    return out;
}

/* ==== JSON ============================================================================= */

const cJSON *sy_json_at(const cJSON *root, const char *path)
{
    const cJSON *cur = root;
    char seg[128];

    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof seg) return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        if (cJSON_IsArray(cur) && n > 0 && strspn(seg, "0123456789") == n)
            cur = cJSON_GetArrayItem(cur, atoi(seg));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        path += n;
        if (*path == '.') path++;
    }
    return cur;
}

const char *sy_json_str(const cJSON *root, const char *path)
{
    const cJSON *j = sy_json_at(root, path);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

double sy_json_num(const cJSON *root, const char *path, double def)
{
    const cJSON *j = sy_json_at(root, path);
    return cJSON_IsNumber(j) ? j->valuedouble : def;
}

/* ==== the usual fixture ================================================================ */

int sy_it_args(int argc, char **argv, const char **gw_bin, const char **mock_bin)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PATH/TO/switchyard PATH/TO/sy-mock-upstream\n", argv[0]);
        return -1;
    }
    *gw_bin = argv[1];
    *mock_bin = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

int sy_it_env_start(sy_it_env *e, const char *gw_bin, const char *mock_bin, const char *config_fmt,
                    const char *const files[])
{
    char path[600];
    memset(e, 0, sizeof *e);
    if (sy_it_tmpdir(e->dir, sizeof e->dir) != 0 || sy_mock_start(&e->mock, mock_bin, NULL) != 0) {
        fprintf(stderr, "sy_it_env_start: temp dir or mock upstream failed\n");
        return -1;
    }
    for (int i = 0; files && files[i] && files[i + 1]; i += 2)
        sy_it_write_file(e->dir, files[i], files[i + 1], path, sizeof path);
    size_t cap = strlen(config_fmt) + 32;
    char *config = malloc(cap);
    if (!config) return -1;
    snprintf(config, cap, config_fmt, e->mock.port, e->mock.port, e->mock.port, e->mock.port);
    int rc = sy_it_write_file(e->dir, "config.lua", config, path, sizeof path);
    free(config);
    snprintf(e->log, sizeof e->log, "%s/gw.log", e->dir);
    if (rc != 0 || sy_gw_start(&e->gw, gw_bin, path, 1, NULL, e->log) != 0) {
        sy_mock_stop(&e->mock);
        return -1;
    }
    return 0;
}

int sy_it_env_stop(sy_it_env *e, char **log_out)
{
    sy_gw_stop(&e->gw);
    sy_mock_stop(&e->mock);
    char *log = sy_it_read_file(e->log, NULL);
    int bad = sy_it_sanitizer_report(log);
    if (log_out)
        *log_out = log;
    else
        free(log);
    sy_it_rmtree(e->dir);
    return bad;
}
