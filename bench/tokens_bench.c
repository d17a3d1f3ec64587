/* tokens_bench.c — sy-tokens-bench: single-threaded speed of src/tokens/sy_bpe.c on a corpus
 * file (bench/tokens.sh builds it and runs the npm tiktoken package on the same file):
 * count MB/s per encoding, the hand-written pre-tokenizer against PCRE2 JIT running tiktoken's
 * regex (speed, and the piece boundaries compared one by one), and the 1 MB single word against
 * 100 KB (linearity). Prints "RESULT ..." lines that tokens.sh reads. See README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokens/sy_bpe.h"

#ifdef SY_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* 1 if s is valid UTF-8 (PCRE2's JIT matcher requires it) */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return 0;
        }
        for (size_t j = 1; j <= k; j++, lo = 0x80, hi = 0xbf)
            if (i + j >= n || s[i + j] < lo || s[i + j] > hi) return 0;
        i += k + 1;
    }
    return 1;
}

static size_t split_hand(const sy_encoding *e, const char *s, size_t n)
{
    size_t pos = 0, pieces = 0;
    while (pos < n) {
        pos = sy_bpe_next_piece(e, s, n, pos);
        pieces++;
    }
    return pieces;
}

#ifdef SY_HAVE_PCRE2
/* tiktoken's patterns (data/tiktoken/encodings.json) with \s and \S spelled out as Unicode
 * White_Space, the Rust regex crate's \s: PCRE2's \s also matches U+180E (its \h list). */
#define WS                                                                                         \
    "\\t\\n\\x0B\\f\\r "                                                                           \
    "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char PAT_CL100K[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS
    "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+";
static const char PAT_O200K[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^" WS
    "\\p{L}\\p{N}]+[\\r\\n/]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+";

typedef struct {
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *stack;
} pcre_split;

static int pcre_init(pcre_split *p, const char *pat)
{
    int errcode;
    PCRE2_SIZE erroff;
    memset(p, 0, sizeof *p);
    p->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &errcode,
                          &erroff, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        fprintf(stderr, "pcre2_compile: %s at %zu\n", (char *)msg, (size_t)erroff);
        return -1;
    }
    if (pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) != 0) {
        fprintf(stderr, "pcre2_jit_compile failed\n");
        return -1;
    }
    p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
    p->mc = pcre2_match_context_create(NULL);
    p->stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
    if (!p->md || !p->mc || !p->stack) return -1;
    pcre2_jit_stack_assign(p->mc, NULL, p->stack);
    return 0;
}

static void pcre_free(pcre_split *p)
{
    pcre2_jit_stack_free(p->stack);
    pcre2_match_context_free(p->mc);
    pcre2_match_data_free(p->md);
    pcre2_code_free(p->re);
}

/* Pieces of s by PCRE2 JIT; with e, compares each piece with sy_bpe_next_piece and returns
 * (size_t)-1 after printing the first difference. */
static size_t split_pcre(pcre_split *p, const char *s, size_t n, const sy_encoding *e)
{
    size_t off = 0, pieces = 0;
    while (off < n) {
        int rc = pcre2_jit_match(p->re, (PCRE2_SPTR)s, n, off, 0, p->md, p->mc);
        if (rc < 0) {
            fprintf(stderr, "pcre2_jit_match: error %d at byte %zu\n", rc, off);
            return (size_t)-1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
        if (e) {
            size_t mine = sy_bpe_next_piece(e, s, n, off);
            if (ov[0] != off || ov[1] != mine) {
                size_t a = off > 20 ? off - 20 : 0;
                fprintf(stderr,
                        "MISMATCH %s at byte %zu: PCRE2 piece [%zu, %zu), sy_bpe [%zu, %zu); "
                        "context: \"%.*s\"\n",
                        sy_encoding_name(e), off, (size_t)ov[0], (size_t)ov[1], off, mine,
                        (int)((mine > ov[1] ? mine : ov[1]) + 20 - a), s + a);
                return (size_t)-1;
            }
        }
        off = ov[1];
        pieces++;
    }
    return pieces;
}
#endif

/* best of reps runs of sy_bpe_count */
static double time_count(const sy_encoding *e, const char *s, size_t n, int reps, size_t *count)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        *count = sy_bpe_count(e, s, n);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s CORPUS [REPEAT [count]]  (count: only the count runs, for perf)\n",
                argv[0]);
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 5, rc = 1;
    if (reps < 1) reps = 1;
    size_t n = 0;
    char *text = sy_file_read(argv[1], &n), *word = NULL;
    if (!text) {
        perror(argv[1]);
        return 1;
    }
    int valid = utf8_valid((const unsigned char *)text, n);
    printf("corpus: %s, %zu bytes, %s UTF-8, best of %d runs, one thread\n", argv[1], n,
           valid ? "valid" : "NOT valid", reps);

    static const char *const names[] = {"cl100k_base", "o200k_base"};
    const sy_encoding *enc[2];
    for (int k = 0; k < 2; k++) {
        char err[1024];
        double t0 = now_s();
        enc[k] = sy_encoding_get(names[k], err, sizeof err);
        if (!enc[k]) {
            fprintf(stderr, "%s\n", err);
            goto fail;
        }
        printf("RESULT load %s ms=%.1f\n", names[k], (now_s() - t0) * 1e3);
    }

    /* count: the gateway's hot path */
    for (int k = 0; k < 2; k++) {
        size_t count = 0;
        double dt = time_count(enc[k], text, n, reps, &count);
        printf("RESULT count %s tokens=%zu seconds=%.4f mbps=%.1f\n", names[k], count, dt,
               (double)n / dt / 1e6);
    }
    if (argc > 3 && strcmp(argv[3], "count") == 0) {
        rc = 0;
        goto fail;
    }
    /* encode, for reference */
    for (int k = 0; k < 2; k++) {
        uint32_t *ids = NULL;
        size_t nids = 0, cap = 0;
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            nids = 0;
            double t0 = now_s();
            if (sy_bpe_encode(enc[k], text, n, &ids, &nids, &cap)) goto fail;
            double dt = now_s() - t0;
            if (dt < best) best = dt;
        }
        printf("RESULT encode %s tokens=%zu seconds=%.4f mbps=%.1f\n", names[k], nids, best,
               (double)n / best / 1e6);
        free(ids);
    }

    /* pre-tokenizer alone: hand-written vs PCRE2 JIT on the same regex */
    for (int k = 0; k < 2; k++) {
        double best = 1e30;
        size_t pieces = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            pieces = split_hand(enc[k], text, n);
            double dt = now_s() - t0;
            if (dt < best) best = dt;
        }
        printf("RESULT split hand %s pieces=%zu seconds=%.4f mbps=%.1f\n", names[k], pieces, best,
               (double)n / best / 1e6);
#ifdef SY_HAVE_PCRE2
        pcre_split p;
        if (!valid) {
            printf("RESULT split pcre2 %s skipped=not-valid-utf8\n", names[k]);
            continue;
        }
        if (pcre_init(&p, k == 0 ? PAT_CL100K : PAT_O200K)) goto fail;
        size_t same = split_pcre(&p, text, n, enc[k]);
        best = 1e30;
        for (int r = 0; r < reps && same != (size_t)-1; r++) {
            double t0 = now_s();
            pieces = split_pcre(&p, text, n, NULL);
            double dt = now_s() - t0;
            if (dt < best) best = dt;
        }
        pcre_free(&p);
        printf("RESULT split pcre2 %s pieces=%zu seconds=%.4f mbps=%.1f boundaries=%s\n", names[k],
               pieces, best, (double)n / best / 1e6, same == (size_t)-1 ? "MISMATCH" : "identical");
#else
        printf("RESULT split pcre2 %s skipped=built-without-pcre2\n", names[k]);
#endif
    }

    /* one 1 MB "word" (random a..z, one pre-tokenizer piece) against 100 KB: the heap merge */
    size_t big = 1 << 20, small = big / 10;
    word = malloc(big);
    if (!word) goto fail;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        word[i] = (char)('a' + (x >> 32) % 26);
    }
    for (int k = 0; k < 2; k++) {
        size_t c1, c2;
        double t_small = time_count(enc[k], word, small, 3, &c1);
        double t_big = time_count(enc[k], word, big, 3, &c2);
        printf("RESULT word %s tokens_100k=%zu seconds_100k=%.4f tokens_1m=%zu seconds_1m=%.4f "
               "ratio=%.1f\n",
               names[k], c1, t_small, c2, t_big, t_big / t_small);
    }
    rc = 0;
fail:
    free(word);
    free(text);
    return rc;
}
