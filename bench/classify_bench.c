/* classify_bench.c — sy-classify-bench: the prompt classifier's routing quality and prediction
 * time (classify.sh runs it; README.md "Classifier"). Quality: on the rows of a split (not
 * contaminated), rank prompts by a routing score, send the first k to the strong model and the
 * rest to the weak one, and report APGR (area under the performance-gap-recovered curve, k/N
 * from 0 to 1; random routing gives 0.5) and CPT(50%), CPT(80%) (the smallest share sent to
 * the strong model that recovers that much of the gap) for two scores: 1 − P(weak) and
 * P(strong) − P(weak). Time: sy_classifier_predict on a 1,024-byte prompt, one thread.
 * Internal API (src/classify/sy_classify.h): links the static library.
 *
 * usage: sy-classify-bench MODEL.bin DATA.jsonl [train|test|all] [CALLS] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/sy_classify.h"
#include "core/sy_core.h"

typedef struct item {
    double score, s, w;
    size_t order; /* input order: ties keep it */
} item;

static int by_score_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* APGR and CPTs of the ranking in it[0..n) (sorted here). */
static void quality(item *it, size_t n, double *apgr, double *cpt50, double *cpt80)
{
    qsort(it, n, sizeof *it, by_score_desc);
    double qs = 0, qw = 0;
    for (size_t i = 0; i < n; i++) {
        qs += it[i].s;
        qw += it[i].w;
    }
    qs /= (double)n;
    qw /= (double)n;
    double gap = qs - qw, tot = qw * (double)n, prev = 0, area = 0;
    *cpt50 = *cpt80 = NAN;
    for (size_t k = 0; k <= n; k++) {
        if (k) tot += it[k - 1].s - it[k - 1].w;
        double pgr = gap != 0 ? (tot / (double)n - qw) / gap : 0;
        if (k) area += (prev + pgr) / 2;
        prev = pgr;
        if (isnan(*cpt50) && pgr >= 0.5) *cpt50 = (double)k / (double)n;
        if (isnan(*cpt80) && pgr >= 0.8) *cpt80 = (double)k / (double)n;
    }
    *apgr = area / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.bin DATA.jsonl [train|test|all] [CALLS]\n", argv[0]);
        return 2;
    }
    int split = argc > 3 ? sy_split_parse(argv[3]) : SY_SPLIT_TEST;
    long calls = argc > 4 ? atol(argv[4]) : 20000;
    if (split < 0 || calls < 1) {
        fprintf(stderr, "%s: bad split or number of calls\n", argv[0]);
        return 2;
    }
    char err[1024];
    sy_classifier *c = NULL;
    if (sy_classifier_load(&c, argv[1], err, sizeof err) != SY_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return 2;
    }
    sy_cls_data d;
    sy_cls_data_init(&d);
    if (sy_cls_data_read(&d, argv[2], split, err, sizeof err) != SY_OK || !d.nrows) {
        fprintf(stderr, "%s: %s\n", argv[0], d.nrows ? err : "no rows");
        return 2;
    }
    const int nl = sy_classifier_nlabels(c);
    /* the model's label index of each data label */
    int map[SY_CLS_MAX_LABELS];
    for (int l = 0; l < d.nlabels; l++) {
        map[l] = -1;
        for (int m = 0; m < nl; m++)
            if (strcmp(d.labels[l], sy_classifier_label(c, m)) == 0) map[l] = m;
    }

    /* ---- quality: strong = highest mean score in the rows, weak = lowest ---------------- */
    double mean[SY_CLS_MAX_LABELS] = {0};
    size_t n = 0;
    for (size_t r = 0; r < d.nrows; r++) {
        if (d.rows[r].contaminated) continue;
        n++;
        for (int l = 0; l < d.nlabels; l++) mean[l] += d.rows[r].scores[l];
    }
    int S = -1, W = -1;
    for (int l = 0; l < d.nlabels; l++) {
        if (map[l] < 0 || isnan(mean[l])) continue;
        if (S < 0 || mean[l] > mean[S]) S = l;
        if (W < 0 || mean[l] < mean[W]) W = l;
    }
    item *it = calloc(n ? n : 1, sizeof *it);
    double *probs = calloc((size_t)(n ? n : 1) * (size_t)nl, sizeof *probs);
    if (!it || !probs) return 1;
    if (S >= 0 && W >= 0 && S != W && n) {
        size_t k = 0;
        for (size_t r = 0; r < d.nrows; r++) {
            if (d.rows[r].contaminated) continue;
            sy_classifier_predict(c, d.rows[r].text, d.rows[r].len, probs + k * (size_t)nl, nl);
            k++;
        }
        printf("# %zu rows (split %s, contaminated left out); strong %s (mean %.4f), weak %s "
               "(mean %.4f)\n",
               n, split == SY_SPLIT_ALL ? "all" : split == SY_SPLIT_TEST ? "test" : "train",
               d.labels[S], mean[S] / (double)n, d.labels[W], mean[W] / (double)n);
        static const char *NAMES[] = {"1-P(weak)", "P(strong)-P(weak)"};
        for (int which = 0; which < 2; which++) {
            k = 0;
            for (size_t r = 0; r < d.nrows; r++) {
                if (d.rows[r].contaminated) continue;
                const double *p = probs + k * (size_t)nl;
                double ps = p[map[S]], pw = p[map[W]];
                it[k] = (item){which == 0 ? 1 - pw : ps - pw, d.rows[r].scores[S],
                               d.rows[r].scores[W], k};
                k++;
            }
            double apgr, c50, c80;
            quality(it, n, &apgr, &c50, &c80);
            printf("RESULT quality score=%s apgr=%.4f cpt50=%.4f cpt80=%.4f rows=%zu\n",
                   NAMES[which], apgr, c50, c80, n);
        }
    } else {
        printf("# quality: needs two labels of the model with different mean scores\n");
    }

    /* ---- time: a 1,024-byte prompt made of the split's prompts, one after another ------- */
    char text[1024];
    size_t tl = 0;
    for (size_t r = 0; tl < sizeof text; r = (r + 1) % d.nrows) {
        for (size_t i = 0; i < d.rows[r].len && tl < sizeof text; i++)
            text[tl++] = d.rows[r].text[i];
        if (tl < sizeof text) text[tl++] = '\n';
    }
    double p[SY_CLS_MAX_LABELS], sink = 0;
    for (int i = 0; i < 2000; i++) sink += sy_classifier_predict(c, text, tl, p, nl) + p[0];
    double *t = malloc((size_t)calls * sizeof *t);
    if (!t) return 1;
    uint64_t all0 = sy_now_ns();
    for (long i = 0; i < calls; i++) {
        uint64_t t0 = sy_now_ns();
        sy_classifier_predict(c, text, tl, p, nl);
        t[i] = (double)(sy_now_ns() - t0) / 1000.0;
        sink += p[0];
    }
    double mean_us = (double)(sy_now_ns() - all0) / 1000.0 / (double)calls;
    qsort(t, (size_t)calls, sizeof *t, cmp_double);
    printf("RESULT predict bytes=%zu calls=%ld median_us=%.2f p99_us=%.2f mean_us=%.2f\n", tl,
           calls, t[calls / 2], t[calls * 99 / 100], mean_us);
    /* and one long prompt: 1 MB (only the first and last SY_CLS_MAX_TEXT/2 bytes are read) */
    size_t big = 1 << 20;
    char *bt = malloc(big);
    if (!bt) return 1;
    for (size_t i = 0; i < big; i++) bt[i] = text[i % tl];
    double best = 1e30;
    for (int i = 0; i < 20; i++) {
        uint64_t t0 = sy_now_ns();
        sy_classifier_predict(c, bt, big, p, nl);
        double us = (double)(sy_now_ns() - t0) / 1000.0;
        if (us < best) best = us;
    }
    printf("RESULT predict bytes=%zu best_us=%.2f\n", big, best);
    if (sink == 12345.678) puts(""); /* keeps the calls */
    free(bt);
    free(t);
    free(probs);
    free(it);
    sy_cls_data_free(&d);
    sy_classifier_free(c);
    return 0;
}
