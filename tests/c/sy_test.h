/* sy_test.h — the few macros the C unit tests share: CHECK records a failure and goes on,
 * the summary line is "N passed, N failed" and the exit code is non-zero on any failure. */
#ifndef SY_TEST_H
#define SY_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sy_t_pass, sy_t_fail;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            sy_t_pass++;                                                                   \
        } else {                                                                           \
            sy_t_fail++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *sy_a_ = (a), *sy_b_ = (b);                                             \
        if (sy_a_ && sy_b_ && strcmp(sy_a_, sy_b_) == 0) {                                 \
            sy_t_pass++;                                                                   \
        } else {                                                                           \
            sy_t_fail++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s\n  got:      %s\n  expected: %s\n", \
                    __FILE__, __LINE__, #a, #b, sy_a_ ? sy_a_ : "(null)",                  \
                    sy_b_ ? sy_b_ : "(null)");                                             \
        }                                                                                  \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                        \
    do {                                                                                   \
        const char *sy_h_ = (hay), *sy_n_ = (needle);                                      \
        if (sy_h_ && strstr(sy_h_, sy_n_)) {                                               \
            sy_t_pass++;                                                                   \
        } else {                                                                           \
            sy_t_fail++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK_CONTAINS failed: %s in %s\n  got: %s\n",        \
                    __FILE__, __LINE__, #needle, #hay, sy_h_ ? sy_h_ : "(null)");          \
        }                                                                                  \
    } while (0)

#define TEST(name) static void name(void)
#define RUN(name)                                                                          \
    do {                                                                                   \
        int f0_ = sy_t_fail;                                                               \
        name();                                                                            \
        fprintf(stderr, "%s %s\n", sy_t_fail == f0_ ? "ok  " : "FAIL", #name);            \
    } while (0)

static inline int sy_test_summary(void)
{
    printf("%d passed, %d failed\n", sy_t_pass, sy_t_fail);
    return sy_t_fail ? 1 : 0;
}

/* A fresh directory "<$TMPDIR or /tmp>/sy-test-NAME-<random>" (mkdtemp) in out. 0 or -1. */
static inline int sy_test_tmpdir(char *out, size_t cap, const char *name)
{
    const char *t = getenv("TMPDIR");
    int n = snprintf(out, cap, "%s/sy-test-%s-XXXXXX", t && *t ? t : "/tmp", name);
    return n > 0 && (size_t)n < cap && mkdtemp(out) ? 0 : -1;
}

#endif
