/* test_admit.c — admission control (src/engine/sy_admit.c) by itself: the priority of a
 * request from its key and header, a model's queue (priority then FIFO, bounded, withdrawn
 * waiters, a grant racing a withdrawal) and grants delivered to another thread's loop. The
 * gateway's use of it is tested end to end in tests/integration/test_admission.c. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "engine/sy_admit.h"
#include "registry/sy_config.h"
#include "sy_test.h"

TEST(priority_from_header_and_key)
{
    char err[160] = "";
    int p = -1;
    CHECK(sy_adm_request_priority(NULL, NULL, &p, err, sizeof err) == 0 && p == SY_PRIO_NORMAL);
    CHECK(sy_adm_request_priority("high", NULL, &p, err, sizeof err) == 0 && p == SY_PRIO_HIGH);
    CHECK(sy_adm_request_priority(" Low ", NULL, &p, err, sizeof err) == 0 && p == SY_PRIO_LOW);
    CHECK(sy_adm_request_priority("NORMAL", NULL, &p, err, sizeof err) == 0 && p == SY_PRIO_NORMAL);
    CHECK(sy_adm_request_priority("0", NULL, &p, err, sizeof err) == 0 && p == 0);
    CHECK(sy_adm_request_priority("9", NULL, &p, err, sizeof err) == 0 && p == 9);
    const char *bad[] = {"10", "-1", "", "urgent", "5x", "high!", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        CHECK(sy_adm_request_priority(bad[i], NULL, &p, err, sizeof err) == -1);
        CHECK_STR(err, "x-switchyard-priority must be 0 to 9 (9 is served first) or low, normal, high");
    }

    /* with a key: its priority, which the header may lower but never raise */
    sy_key_cfg key;
    memset(&key, 0, sizeof key);
    key.priority = SY_PRIO_NORMAL;
    CHECK(sy_adm_request_priority(NULL, &key, &p, err, sizeof err) == 0 && p == SY_PRIO_NORMAL);
    CHECK(sy_adm_request_priority("high", &key, &p, err, sizeof err) == 0 && p == SY_PRIO_NORMAL);
    CHECK(sy_adm_request_priority("9", &key, &p, err, sizeof err) == 0 && p == SY_PRIO_NORMAL);
    CHECK(sy_adm_request_priority("low", &key, &p, err, sizeof err) == 0 && p == SY_PRIO_LOW);
    key.priority = SY_PRIO_HIGH;
    CHECK(sy_adm_request_priority(NULL, &key, &p, err, sizeof err) == 0 && p == SY_PRIO_HIGH);
    CHECK(sy_adm_request_priority("9", &key, &p, err, sizeof err) == 0 && p == SY_PRIO_HIGH);
    CHECK(sy_adm_request_priority("3", &key, &p, err, sizeof err) == 0 && p == 3);
    CHECK(sy_adm_request_priority("nope", &key, &p, err, sizeof err) == -1);
}

static char g_order[64];
/* appends the waiter's letter: upper case when granted, lower case when pushed out */
static void granted(void *ud, int got)
{
    size_t n = strlen(g_order);
    char ch = *(const char *)ud;
    if (n + 1 < sizeof g_order) g_order[n] = got ? ch : (char)(ch - 'A' + 'a');
}

TEST(queue_orders_by_priority_then_arrival_and_is_bounded)
{
    sy_admit *a = sy_admit_new(2);
    struct event_base *base = event_base_new();
    sy_adm_inbox *ib = sy_adm_inbox_new(base);
    CHECK(a && base && ib);
    sy_adm_waiter w[8];
    memset(w, 0, sizeof w);
    static const char names[] = "ABCDEFGH";
    memset(g_order, 0, sizeof g_order);
    int in = -1, q = -1;
    CHECK(sy_adm_acquire(a, 0, 1, 3, 5, &w[0], ib, granted, (void *)&names[0]) == SY_ADM_GO);
    CHECK(sy_adm_acquire(a, 0, 1, 3, 2, &w[1], ib, granted, (void *)&names[1]) == SY_ADM_QUEUED);
    CHECK(sy_adm_acquire(a, 0, 1, 3, 8, &w[2], ib, granted, (void *)&names[2]) == SY_ADM_QUEUED);
    CHECK(sy_adm_acquire(a, 0, 1, 3, 2, &w[3], ib, granted, (void *)&names[3]) == SY_ADM_QUEUED);
    /* full: a newcomer of no higher priority than the lowest waiter is turned away */
    CHECK(sy_adm_acquire(a, 0, 1, 3, 2, &w[4], ib, granted, (void *)&names[4]) == SY_ADM_FULL);
    /* another model is not affected */
    CHECK(sy_adm_acquire(a, 1, 1, 0, 5, &w[5], ib, granted, (void *)&names[5]) == SY_ADM_GO);
    CHECK(sy_adm_acquire(a, 1, 1, 0, 5, &w[6], ib, granted, (void *)&names[6]) == SY_ADM_FULL);
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 1 && q == 3);
    /* one of higher priority takes the place of the newest lowest waiter (D), who is told */
    CHECK(sy_adm_acquire(a, 0, 1, 3, 6, &w[4], ib, granted, (void *)&names[4]) == SY_ADM_QUEUED);
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 1 && q == 3);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_STR(g_order, "d");
    memset(g_order, 0, sizeof g_order);
    /* ... and a pushed-out waiter withdrawn before it is told holds nothing */
    CHECK(sy_adm_acquire(a, 0, 1, 3, 7, &w[3], ib, granted, (void *)&names[3]) == SY_ADM_QUEUED);
    CHECK(sy_adm_withdraw(a, &w[1]) == 0); /* B, pushed out by D's return, not delivered */
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_STR(g_order, "");
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 1 && q == 3); /* C(8), D(7), E(6) */

    /* each release grants the best waiter; the grant is delivered by the loop */
    sy_adm_release(a, 0);
    CHECK_STR(g_order, "");
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_STR(g_order, "C");
    sy_adm_release(a, 0);
    sy_adm_release(a, 0); /* D (7) had it; E (6) gets it */
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_STR(g_order, "CDE");
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 1 && q == 0);

    /* a withdrawn waiter leaves no trace; one granted but not delivered hands its slot over */
    CHECK(sy_adm_acquire(a, 0, 1, 3, 5, &w[7], ib, granted, (void *)&names[7]) == SY_ADM_QUEUED);
    CHECK(sy_adm_withdraw(a, &w[7]) == 0);
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 1 && q == 0);
    CHECK(sy_adm_acquire(a, 0, 1, 3, 5, &w[7], ib, granted, (void *)&names[7]) == SY_ADM_QUEUED);
    sy_adm_release(a, 0); /* granted to H, posted, not delivered */
    CHECK(sy_adm_withdraw(a, &w[7]) == 1);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_STR(g_order, "CDE"); /* H's callback never runs */
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 1 && q == 0);
    sy_adm_release(a, 0);
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 0 && q == 0);

    /* a raised limit lets waiters in at once */
    memset(g_order, 0, sizeof g_order);
    CHECK(sy_adm_acquire(a, 0, 1, 3, 5, &w[0], ib, granted, (void *)&names[0]) == SY_ADM_GO);
    CHECK(sy_adm_acquire(a, 0, 1, 3, 5, &w[1], ib, granted, (void *)&names[1]) == SY_ADM_QUEUED);
    CHECK(sy_adm_acquire(a, 0, 3, 3, 5, &w[2], ib, granted, (void *)&names[2]) == SY_ADM_GO);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_STR(g_order, "B");
    sy_adm_counts(a, 0, &in, &q);
    CHECK(in == 3 && q == 0);

    sy_adm_inbox_free(ib);
    event_base_free(base);
    sy_admit_free(a);
}

static void *release_later(void *arg)
{
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
    sy_adm_release(arg, 0);
    return NULL;
}

TEST(a_release_on_another_thread_wakes_the_waiters_loop)
{
    sy_admit *a = sy_admit_new(1);
    struct event_base *base = event_base_new();
    sy_adm_inbox *ib = sy_adm_inbox_new(base);
    sy_adm_waiter w[2];
    memset(w, 0, sizeof w);
    memset(g_order, 0, sizeof g_order);
    CHECK(sy_adm_acquire(a, 0, 1, 1, 5, &w[0], ib, granted, "x") == SY_ADM_GO);
    CHECK(sy_adm_acquire(a, 0, 1, 1, 5, &w[1], ib, granted, "Y") == SY_ADM_QUEUED);
    pthread_t t;
    pthread_create(&t, NULL, release_later, a);
    event_base_loop(base, EVLOOP_ONCE); /* blocks until the eventfd wakes it */
    pthread_join(t, NULL);
    CHECK_STR(g_order, "Y");
    sy_adm_release(a, 0);
    sy_adm_inbox_free(ib);
    event_base_free(base);
    sy_admit_free(a);
}

int main(void)
{
    RUN(priority_from_header_and_key);
    RUN(queue_orders_by_priority_then_arrival_and_is_bounded);
    RUN(a_release_on_another_thread_wakes_the_waiters_loop);
    return sy_test_summary();
}
