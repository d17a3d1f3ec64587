/* sy_admit.h — admission control: a concurrency limit per model shared by every worker thread,
 * and a bounded priority queue of the attempts waiting for it. Implemented in sy_admit.c; used
 * by sy_gateway.c (around every attempt), sy_worker.c (one inbox per worker) and
 * sy_metrics.c / GET /admin/models (what it shows).
 *
 * A model's queue lives in the engine (one per live-stats slot, so it survives reloads like
 * the model's live stats). A waiting attempt (sy_adm_waiter, embedded in the caller's own
 * struct) belongs to one worker and is only ever touched by that worker, except for one step:
 * when a slot frees on any worker, the best waiter (highest priority, then first come) gets it
 * under the queue's lock and is posted to its worker's inbox, whose eventfd wakes that
 * worker's loop; the grant callback then runs there. Queues of models without a limit are
 * never touched: the gateway does not call in at all.
 *
 * Lock order: a queue's lock, then an inbox's lock. Nothing else is locked. */
#ifndef SY_ADMIT_H
#define SY_ADMIT_H

#include <stdint.h>

#include "core/sy_core.h"

struct event_base;
struct sy_key_cfg;

typedef struct sy_admit sy_admit;         /* per engine */
typedef struct sy_adm_inbox sy_adm_inbox; /* per worker */
typedef struct sy_adm_waiter sy_adm_waiter;

/* Runs on the waiter's worker when it leaves the queue by another's hand: granted = 1, it got
 * a slot (sy_adm_release it when the attempt ends); granted = 0, a request of higher priority
 * found the queue full and took its place (it holds nothing). */
typedef void (*sy_adm_grant_fn)(void *ud, int granted);

/* Opaque to callers; embedded so that waiting allocates nothing. Zero it before first use. */
struct sy_adm_waiter {
    sy_adm_waiter *prev, *next; /* in its model's queue, then in its inbox */
    int state;                  /* ADM_IDLE, ADM_QUEUED, ADM_GRANTED, ADM_EVICTED (sy_admit.c) */
    int prio;
    int slot;
    sy_adm_inbox *inbox;
    sy_adm_grant_fn fn;
    void *ud;
    uint64_t t0_ns;             /* when it was queued */
};

enum { SY_ADM_GO = 0, SY_ADM_QUEUED = 1, SY_ADM_FULL = 2 };
enum { SY_ADM_REJ_FULL = 0, SY_ADM_REJ_TIMEOUT = 1, SY_ADM_REJ_GONE = 2, SY_ADM_REJ_N };

/* One queue per live slot (0 .. nslots-1). NULL when out of memory. */
sy_admit *sy_admit_new(int nslots);
/* After every worker stopped (waiters still queued are forgotten, not called). */
void sy_admit_free(sy_admit *a);

/* The inbox of a worker whose loop is base; NULL when out of memory. Freed after its worker
 * stopped and before the engine's sy_admit. */
sy_adm_inbox *sy_adm_inbox_new(struct event_base *base);
void sy_adm_inbox_free(sy_adm_inbox *ib);

/* Asks for a slot of model `slot` whose limit is `limit` (> 0; the caller's snapshot's: a
 * raised limit lets waiters in at once) with at most queue_max waiters. SY_ADM_GO: the caller
 * holds a slot. SY_ADM_QUEUED: w waits; fn(ud, 1) runs on ib's loop when it gets a slot, or
 * fn(ud, 0) when it is pushed out, unless sy_adm_withdraw takes it out first. A full queue
 * pushes out its newest waiter of the lowest priority below prio, if any, to make room;
 * else SY_ADM_FULL: nothing held. */
int sy_adm_acquire(sy_admit *a, int slot, int limit, int queue_max, int prio, sy_adm_waiter *w,
                   sy_adm_inbox *ib, sy_adm_grant_fn fn, void *ud);
/* Gives a held slot back; the best waiter, if any, gets it. Any thread. */
void sy_adm_release(sy_admit *a, int slot);
/* Takes a waiting w out (client gone, timeout, deadline, hedge lost): 0 when it held
 * nothing, 1 when its slot had been granted but not yet delivered (the caller now holds it).
 * Only on w's own worker, and only for a waiter that SY_ADM_QUEUED put in and whose grant
 * callback has not run. */
int sy_adm_withdraw(sy_admit *a, sy_adm_waiter *w);

/* Accounting for metrics (any thread). */
void sy_adm_note_wait(sy_admit *a, int slot, double ms);
void sy_adm_note_reject(sy_admit *a, int slot, int reason);
/* Holders and waiters of a model now. */
void sy_adm_counts(sy_admit *a, int slot, int *inflight, int *queued);

/* Prometheus lines for the first nslots slots, named by ids[slot]. */
void sy_adm_metrics(sy_admit *a, const char *const *ids, int nslots, sy_buf *out);

/* The request's priority before the policy decides: the x-switchyard-priority header (0..9,
 * low, normal, high) when given, else the key's, else SY_PRIO_NORMAL; with a key, the header
 * may lower the key's priority but never raise it. 0, or -1 with the 400 message in err. */
int sy_adm_request_priority(const char *header, const struct sy_key_cfg *key, int *prio,
                            char *err, size_t errlen);

#endif
