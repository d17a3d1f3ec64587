/* sy_upstream.c — libcurl multi inside a libevent loop (see sy_upstream.h), after curl's
 * docs/examples/multi-event.c: curl tells us which sockets to watch (socket callback) and
 * when to wake it (timer callback); we call curl_multi_socket_action from the loop. State
 * lives on the handles (CURLOPT_PRIVATE, curl_multi_assign), never in globals. */
#include "http/sy_upstream.h"

#include <stdlib.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "core/sy_core.h"

#define POOL_MAX 64

struct sy_upstream {
    CURLM *multi;
    CURL *pool[POOL_MAX];
    int npool;
    struct event_base *base;
    struct event *timer;
    struct event *kick;   /* a zero timeout: run in this loop pass, without a poll */
};

typedef struct xfer {
    sy_upstream_done_cb done;
    void *ud;
} xfer;

typedef struct sock_watch {
    struct event ev;
    sy_upstream *up;
    int added;
} sock_watch;

static void check_done(sy_upstream *up)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(up->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(up->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (x) {
            sy_upstream_done_cb done = x->done;
            void *ud = x->ud;
            free(x);
            done(easy, rc, ud); /* may add or cancel transfers: we are outside curl now */
        }
    }
}

static void on_socket_event(evutil_socket_t fd, short events, void *arg)
{
    sock_watch *w = arg;
    sy_upstream *up = w->up;
    int running = 0;
    int action = ((events & EV_READ) ? CURL_CSELECT_IN : 0) |
                 ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(up->multi, fd, action, &running);
    check_done(up);
}

static void on_timer(evutil_socket_t fd, short events, void *arg)
{
    sy_upstream *up = arg;
    int running = 0;
    (void)fd;
    (void)events;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(up);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    sy_upstream *up = userp;
    sock_watch *w = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            if (w->added) event_del(&w->ev);
            free(w);
            curl_multi_assign(up->multi, s, NULL);
        }
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->up = up;
        curl_multi_assign(up->multi, s, w);
    } else if (w->added) {
        event_del(&w->ev);
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    event_assign(&w->ev, up->base, s, kind, on_socket_event, w);
    event_add(&w->ev, NULL);
    w->added = 1;
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    sy_upstream *up = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(up->timer);
    } else if (timeout_ms == 0) {
        /* curl wants to run now (a transfer was just added): activating an event runs it
         * later in this same loop pass, saving a trip through epoll_wait per request */
        evtimer_del(up->timer);
        event_active(up->kick, EV_TIMEOUT, 0);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(up->timer, &tv);
    }
    return 0;
}

int sy_upstream_new(sy_upstream **out, struct event_base *base)
{
    sy_upstream *up = calloc(1, sizeof *up);
    *out = NULL;
    if (!up) return SY_ENOMEM;
    up->base = base;
    up->multi = curl_multi_init();
    up->timer = evtimer_new(base, on_timer, up);
    up->kick = evtimer_new(base, on_timer, up);
    if (!up->multi || !up->timer || !up->kick) goto fail;
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    /* Keep plenty of warm keep-alive connections to each upstream. */
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 256L);
    *out = up;
    return SY_OK;
fail:
    sy_upstream_free(up);
    return SY_ENOMEM;
}

void sy_upstream_free(sy_upstream *up)
{
    if (!up) return;
    /* Owners cancel their transfers before the worker frees this (curl 7.88 has no
     * curl_multi_get_handles to find them here). */
    if (up->multi) curl_multi_cleanup(up->multi);
    for (int i = 0; i < up->npool; i++) curl_easy_cleanup(up->pool[i]);
    if (up->timer) event_free(up->timer);
    if (up->kick) event_free(up->kick);
    free(up);
}

int sy_upstream_add(sy_upstream *up, CURL *easy, sy_upstream_done_cb done, void *ud)
{
    xfer *x = malloc(sizeof *x);
    if (!x) return SY_ENOMEM;
    x->done = done;
    x->ud = ud;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(up->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return SY_EINVAL;
    }
    return SY_OK;
}

void sy_upstream_cancel(sy_upstream *up, CURL *easy)
{
    xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x) return; /* not ours or already done */
    /* Close rather than keep the connection: the upstream must see the cancel (a hedge's
     * loser stops generating tokens we would pay for). */
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    CURLMcode mc = curl_multi_remove_handle(up->multi, easy);
    if (mc != CURLM_OK) /* e.g. called from inside one of curl's callbacks: a caller's bug */
        sy_log(SY_LOG_ERROR, "upstream", "cannot cancel a transfer: %s", curl_multi_strerror(mc));
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    free(x);
}

CURL *sy_upstream_easy(sy_upstream *up)
{
    if (up->npool > 0) return up->pool[--up->npool];
    return curl_easy_init();
}

void sy_upstream_release(sy_upstream *up, CURL *easy)
{
    if (!easy) return;
    if (up->npool < POOL_MAX) {
        curl_easy_reset(easy);
        up->pool[up->npool++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}
