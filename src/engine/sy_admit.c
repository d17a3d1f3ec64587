/* sy_admit.c — admission control (see sy_admit.h): per-model concurrency counters and
 * priority queues shared by every worker, per-worker inboxes woken through an eventfd, the
 * request priority from key and header, and the admission metrics. */
#include "engine/sy_admit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "engine/sy_engine_int.h"

enum { ADM_IDLE = 0, ADM_QUEUED = 1, ADM_GRANTED = 2, ADM_EVICTED = 3 };
#define NPRIO (SY_PRIO_MAX + 1)

typedef struct adm_q {
    pthread_mutex_t lock;
    int limit;                   /* the last limit asked with (the newest snapshot's, mostly) */
    int inflight;                /* slots held */
    int queued;
    sy_adm_waiter *head[NPRIO], *tail[NPRIO]; /* FIFO per priority */
    /* read by GET /metrics without the lock */
    atomic_int g_inflight, g_queued;
    _Atomic uint64_t rejects[SY_ADM_REJ_N];
    sy_hist wait;                /* ms, waits that ended in a slot */
} adm_q;

struct sy_admit {
    int n;
    adm_q *q;
};

struct sy_adm_inbox {
    pthread_mutex_t lock;
    sy_adm_waiter *head, *tail;  /* granted, not yet delivered */
    int efd;
    struct event *ev;
};

/* ============================================================ inbox */

static void inbox_push(sy_adm_inbox *ib, sy_adm_waiter *w)
{
    pthread_mutex_lock(&ib->lock);
    w->next = NULL;
    w->prev = ib->tail;
    if (ib->tail)
        ib->tail->next = w;
    else
        ib->head = w;
    ib->tail = w;
    pthread_mutex_unlock(&ib->lock);
    uint64_t one = 1;
    ssize_t n = write(ib->efd, &one, sizeof one); /* EAGAIN: the counter is pending anyway */
    (void)n;
}

static void inbox_unlink(sy_adm_inbox *ib, sy_adm_waiter *w)
{
    if (w->prev) w->prev->next = w->next; else ib->head = w->next;
    if (w->next) w->next->prev = w->prev; else ib->tail = w->prev;
    w->prev = w->next = NULL;
}

/* The worker's loop: deliver every grant, one at a time (a grant callback may withdraw
 * another waiter that is still in the inbox). */
static void on_inbox(evutil_socket_t fd, short what, void *arg)
{
    sy_adm_inbox *ib = arg;
    uint64_t v;
    (void)what;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
    for (;;) {
        pthread_mutex_lock(&ib->lock);
        sy_adm_waiter *w = ib->head;
        if (w) inbox_unlink(ib, w);
        pthread_mutex_unlock(&ib->lock);
        if (!w) break;
        int granted = w->state == ADM_GRANTED;
        w->state = ADM_IDLE;
        w->fn(w->ud, granted);
    }
}

sy_adm_inbox *sy_adm_inbox_new(struct event_base *base)
{
    sy_adm_inbox *ib = calloc(1, sizeof *ib);
    if (!ib) return NULL;
    pthread_mutex_init(&ib->lock, NULL);
    ib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ib->efd < 0) goto fail;
    ib->ev = event_new(base, ib->efd, EV_READ | EV_PERSIST, on_inbox, ib);
    if (!ib->ev || event_add(ib->ev, NULL) != 0) goto fail;
    return ib;
fail:
    sy_adm_inbox_free(ib);
    return NULL;
}

void sy_adm_inbox_free(sy_adm_inbox *ib)
{
    if (!ib) return;
    if (ib->ev) event_free(ib->ev);
    if (ib->efd >= 0) close(ib->efd);
    pthread_mutex_destroy(&ib->lock);
    free(ib);
}

/* ============================================================ queues */

sy_admit *sy_admit_new(int nslots)
{
    sy_admit *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->q = calloc((size_t)(nslots > 0 ? nslots : 1), sizeof *a->q);
    if (!a->q) {
        free(a);
        return NULL;
    }
    a->n = nslots;
    for (int i = 0; i < nslots; i++) pthread_mutex_init(&a->q[i].lock, NULL);
    return a;
}

void sy_admit_free(sy_admit *a)
{
    if (!a) return;
    for (int i = 0; i < a->n; i++) pthread_mutex_destroy(&a->q[i].lock);
    free(a->q);
    free(a);
}

static adm_q *queue_of(sy_admit *a, int slot)
{
    return a && slot >= 0 && slot < a->n ? &a->q[slot] : NULL;
}

/* The best waiter out of q (highest priority, then the oldest), or NULL. Under q->lock. */
static sy_adm_waiter *q_pop(adm_q *q)
{
    for (int p = NPRIO - 1; p >= 0; p--) {
        sy_adm_waiter *w = q->head[p];
        if (!w) continue;
        q->head[p] = w->next;
        if (w->next) w->next->prev = NULL; else q->tail[p] = NULL;
        w->prev = w->next = NULL;
        q->queued--;
        return w;
    }
    return NULL;
}

static void q_unlink(adm_q *q, sy_adm_waiter *w)
{
    int p = w->prio;
    if (w->prev) w->prev->next = w->next; else q->head[p] = w->next;
    if (w->next) w->next->prev = w->prev; else q->tail[p] = w->prev;
    w->prev = w->next = NULL;
    q->queued--;
}

/* A full queue and a newcomer of priority prio: the newest waiter of the lowest priority
 * below prio leaves (told so on its worker). 1 when one did. Under q->lock. */
static int q_evict(adm_q *q, int prio)
{
    for (int p = 0; p < prio; p++) {
        sy_adm_waiter *w = q->tail[p];
        if (!w) continue;
        q_unlink(q, w);
        w->state = ADM_EVICTED;
        inbox_push(w->inbox, w);
        return 1;
    }
    return 0;
}

/* Hands free slots to waiters while there are both. Under q->lock. */
static void q_grant(adm_q *q)
{
    while (q->inflight < q->limit && q->queued > 0) {
        sy_adm_waiter *w = q_pop(q);
        q->inflight++;
        w->state = ADM_GRANTED;
        inbox_push(w->inbox, w); /* w is not touched here again: its worker owns it */
    }
    atomic_store_explicit(&q->g_inflight, q->inflight, memory_order_relaxed);
    atomic_store_explicit(&q->g_queued, q->queued, memory_order_relaxed);
}

int sy_adm_acquire(sy_admit *a, int slot, int limit, int queue_max, int prio, sy_adm_waiter *w,
                   sy_adm_inbox *ib, sy_adm_grant_fn fn, void *ud)
{
    adm_q *q = queue_of(a, slot);
    if (!q || limit <= 0) return SY_ADM_GO; /* no room for its stats: not limited */
    if (prio < 0) prio = 0;
    if (prio > SY_PRIO_MAX) prio = SY_PRIO_MAX;
    int rc;
    pthread_mutex_lock(&q->lock);
    q->limit = limit;
    q_grant(q); /* a reload may have raised the limit */
    if (q->inflight < q->limit) {
        q->inflight++;
        rc = SY_ADM_GO;
    } else if (!ib || queue_max <= 0 || (q->queued >= queue_max && !q_evict(q, prio))) {
        rc = SY_ADM_FULL;
    } else {
        memset(w, 0, sizeof *w);
        w->state = ADM_QUEUED;
        w->prio = prio;
        w->slot = slot;
        w->inbox = ib;
        w->fn = fn;
        w->ud = ud;
        w->t0_ns = sy_now_ns();
        w->prev = q->tail[prio];
        if (q->tail[prio]) q->tail[prio]->next = w; else q->head[prio] = w;
        q->tail[prio] = w;
        q->queued++;
        rc = SY_ADM_QUEUED;
    }
    atomic_store_explicit(&q->g_inflight, q->inflight, memory_order_relaxed);
    atomic_store_explicit(&q->g_queued, q->queued, memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void sy_adm_release(sy_admit *a, int slot)
{
    adm_q *q = queue_of(a, slot);
    if (!q) return;
    pthread_mutex_lock(&q->lock);
    if (q->inflight > 0) q->inflight--;
    q_grant(q);
    pthread_mutex_unlock(&q->lock);
}

int sy_adm_withdraw(sy_admit *a, sy_adm_waiter *w)
{
    adm_q *q = queue_of(a, w->slot);
    if (!q) return 0;
    pthread_mutex_lock(&q->lock); /* (state is written by other workers under this lock) */
    int state = w->state;
    if (state == ADM_QUEUED) {
        q_unlink(q, w);
        w->state = ADM_IDLE;
        atomic_store_explicit(&q->g_queued, q->queued, memory_order_relaxed);
    }
    pthread_mutex_unlock(&q->lock);
    if (state != ADM_GRANTED && state != ADM_EVICTED) return 0;
    /* granted or pushed out, posted to our own inbox and not delivered yet: the push is
     * complete (it happened under the queue's lock, which we just held) */
    pthread_mutex_lock(&w->inbox->lock);
    inbox_unlink(w->inbox, w);
    pthread_mutex_unlock(&w->inbox->lock);
    w->state = ADM_IDLE;
    return state == ADM_GRANTED;
}

/* ============================================================ accounting */

void sy_adm_note_wait(sy_admit *a, int slot, double ms)
{
    adm_q *q = queue_of(a, slot);
    if (!q) return;
    int i = 0;
    while (i < SY_MET_BUCKETS && ms > SY_MET_BOUNDS_MS[i]) i++;
    atomic_fetch_add_explicit(&q->wait.b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->wait.count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->wait.sum_milli, (uint64_t)(ms * 1000.0), memory_order_relaxed);
}

void sy_adm_note_reject(sy_admit *a, int slot, int reason)
{
    adm_q *q = queue_of(a, slot);
    if (q && reason >= 0 && reason < SY_ADM_REJ_N)
        atomic_fetch_add_explicit(&q->rejects[reason], 1, memory_order_relaxed);
}

void sy_adm_counts(sy_admit *a, int slot, int *inflight, int *queued)
{
    adm_q *q = queue_of(a, slot);
    *inflight = q ? atomic_load_explicit(&q->g_inflight, memory_order_relaxed) : 0;
    *queued = q ? atomic_load_explicit(&q->g_queued, memory_order_relaxed) : 0;
}

void sy_adm_metrics(sy_admit *a, const char *const *ids, int nslots, sy_buf *b)
{
    if (!a) return;
    if (nslots > a->n) nslots = a->n;
    static const char *const reasons[SY_ADM_REJ_N] = {"queue_full", "queue_timeout", "client_gone"};
    sy_buf_puts(b, "# HELP switchyard_model_queue_depth Attempts waiting for a slot of a model "
                   "with a concurrency limit.\n# TYPE switchyard_model_queue_depth gauge\n");
    for (int s = 0; s < nslots; s++) {
        sy_buf_puts(b, "switchyard_model_queue_depth{model=");
        sy_met_label(b, ids[s]);
        sy_buf_printf(b, "} %d\n", atomic_load_explicit(&a->q[s].g_queued, memory_order_relaxed));
    }
    sy_buf_puts(b, "# HELP switchyard_model_admitted_inflight Slots of a model's concurrency "
                   "limit held now.\n# TYPE switchyard_model_admitted_inflight gauge\n");
    for (int s = 0; s < nslots; s++) {
        sy_buf_puts(b, "switchyard_model_admitted_inflight{model=");
        sy_met_label(b, ids[s]);
        sy_buf_printf(b, "} %d\n", atomic_load_explicit(&a->q[s].g_inflight, memory_order_relaxed));
    }
    sy_buf_puts(b, "# HELP switchyard_admission_rejections_total Attempts that left a model's "
                   "queue without a slot, by reason (queue_full, queue_timeout, client_gone).\n"
                   "# TYPE switchyard_admission_rejections_total counter\n");
    for (int s = 0; s < nslots; s++)
        for (int r = 0; r < SY_ADM_REJ_N; r++) {
            uint64_t v = atomic_load_explicit(&a->q[s].rejects[r], memory_order_relaxed);
            if (!v) continue;
            sy_buf_puts(b, "switchyard_admission_rejections_total{model=");
            sy_met_label(b, ids[s]);
            sy_buf_printf(b, ",reason=\"%s\"} %llu\n", reasons[r], (unsigned long long)v);
        }
    const char *name = "switchyard_queue_wait_seconds";
    sy_buf_printf(b, "# HELP %s Time attempts waited in a model's queue before they got a slot.\n"
                     "# TYPE %s histogram\n", name, name);
    for (int s = 0; s < nslots; s++) {
        const sy_hist *h = &a->q[s].wait;
        if (!atomic_load_explicit(&h->count, memory_order_relaxed)) continue;
        uint64_t cum = 0;
        for (int i = 0; i <= SY_MET_BUCKETS; i++) {
            cum += atomic_load_explicit(&((sy_hist *)h)->b[i], memory_order_relaxed);
            sy_buf_printf(b, "%s_bucket{model=", name);
            sy_met_label(b, ids[s]);
            if (i < SY_MET_BUCKETS)
                sy_buf_printf(b, ",le=\"%g\"} %llu\n", SY_MET_BOUNDS_MS[i] / 1000.0, (unsigned long long)cum);
            else
                sy_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        sy_buf_printf(b, "%s_sum{model=", name);
        sy_met_label(b, ids[s]);
        sy_buf_printf(b, "} %.6f\n%s_count{model=",
                      (double)atomic_load_explicit(&((sy_hist *)h)->sum_milli, memory_order_relaxed) / 1e6,
                      name);
        sy_met_label(b, ids[s]);
        sy_buf_printf(b, "} %llu\n", (unsigned long long)atomic_load_explicit(&((sy_hist *)h)->count,
                                                                              memory_order_relaxed));
    }
}

/* ============================================================ priority */

int sy_adm_request_priority(const char *header, const struct sy_key_cfg *key, int *prio,
                            char *err, size_t errlen)
{
    int base = key ? key->priority : SY_PRIO_NORMAL;
    *prio = base;
    if (!header) return 0;
    int v = sy_parse_priority(header);
    if (v < 0) {
        snprintf(err, errlen, "x-switchyard-priority must be 0 to 9 (9 is served first) or low, "
                              "normal, high");
        return -1;
    }
    /* a client may yield to its own other traffic, never promote itself past its key */
    *prio = key && v > base ? base : v;
    return 0;
}
