/* test_bpe.c — src/tokens/sy_bpe.c against the golden vectors in tests/data/tokens/ (made by
 * tests/tokens/make_golden.mjs with OpenAI's tiktoken): ids and counts for both encodings,
 * decode(encode(x)) == x, the 1 MB single word, data-dir search and its errors, decode errors,
 * concurrent first use. No network, no node. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sy_test.h"
#include "tokens/sy_bpe.h"

#define GOLDEN_DIR SY_SOURCE_DIR "/tests/data/tokens"
static const char *const ENCODINGS[] = {"cl100k_base", "o200k_base"};

/* ---- helpers ----------------------------------------------------------------------------- */


static int b64v(int c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

/* decodes base64 into a new buffer (caller frees) */
static unsigned char *b64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s), o = 0;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; out && i < n && s[i] != '='; i++) {
        int v = b64v(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* ---- golden vectors ---------------------------------------------------------------------- */

static int n_vectors, n_mismatch;

/* Checks one vector for one encoding: ids, count, decode round trip, piece tiling. */
static void check_vector(const sy_encoding *e, const char *name, const char *in, size_t len,
                         const cJSON *want)
{
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int ok = 1;
    CHECK(sy_bpe_encode(e, in, len, &ids, &n, &cap) == 0);
    size_t nw = (size_t)cJSON_GetArraySize(want);
    if (n != nw) ok = 0;
    for (size_t i = 0; ok && i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(want, (int)i);
        if (!cJSON_IsNumber(v) || (uint32_t)v->valuedouble != ids[i]) {
            fprintf(stderr, "  %s %s: id %zu is %u, tiktoken says %.0f\n", name,
                    sy_encoding_name(e), i, ids[i], v ? v->valuedouble : -1);
            ok = 0;
        }
    }
    if (!ok && n != nw)
        fprintf(stderr, "  %s %s: %zu ids, tiktoken has %zu\n", name, sy_encoding_name(e), n, nw);
    CHECK(ok);
    if (!ok && ++n_mismatch > 20) exit(1); /* enough to see the pattern */
    CHECK(sy_bpe_count(e, in, len) == nw);

    sy_buf out;
    sy_buf_init(&out);
    CHECK(sy_bpe_decode(e, ids, n, &out) == 0);
    CHECK(out.len == len && (len == 0 || memcmp(out.data, in, len) == 0));
    sy_buf_free(&out);

    /* the pieces tile the input */
    size_t pos = 0, pieces = 0;
    while (pos < len) {
        size_t end = sy_bpe_next_piece(e, in, len, pos);
        if (end <= pos || end > len) break;
        pos = end;
        pieces++;
    }
    CHECK(pos == len && pieces <= nw);
    free(ids);
}

static void check_golden_file(const char *file)
{
    char path[1024];
    size_t size = 0;
    snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, file);
    char *buf = sy_file_read(path, &size);
    CHECK(buf != NULL);
    if (!buf) {
        fprintf(stderr, "cannot read %s\n", path);
        return;
    }
    int lines = 0;
    for (char *line = buf, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) nl = line + strlen(line) - 1;
        *nl = '\0';
        if (!*line) continue;
        cJSON *rec = cJSON_Parse(line);
        CHECK(rec != NULL);
        if (!rec) continue;
        const cJSON *jname = cJSON_GetObjectItem(rec, "name");
        const cJSON *text = cJSON_GetObjectItem(rec, "text");
        const cJSON *b64 = cJSON_GetObjectItem(rec, "b64");
        const char *name = cJSON_IsString(jname) ? jname->valuestring : "?";
        unsigned char *in = NULL;
        size_t len = 0;
        if (cJSON_IsString(text)) {
            len = strlen(text->valuestring);
            in = (unsigned char *)sy_strndup(text->valuestring, len);
        } else if (cJSON_IsString(b64)) {
            in = b64_decode(b64->valuestring, &len);
        }
        CHECK(in != NULL);
        for (size_t k = 0; in && k < SY_ARRAY_LEN(ENCODINGS); k++) {
            char err[512];
            const sy_encoding *e = sy_encoding_get(ENCODINGS[k], err, sizeof err);
            const cJSON *want = cJSON_GetObjectItem(rec, ENCODINGS[k]);
            CHECK(e != NULL && cJSON_IsArray(want));
            if (e && cJSON_IsArray(want)) check_vector(e, name, (const char *)in, len, want);
        }
        free(in);
        cJSON_Delete(rec);
        lines++;
        n_vectors++;
    }
    fprintf(stderr, "  %s: %d vectors\n", file, lines);
    CHECK(lines > 0);
    free(buf);
}

TEST(golden_cases)
{
    check_golden_file("golden_cases.jsonl");
}

TEST(golden_fuzz)
{
    check_golden_file("golden_fuzz.jsonl");
}

TEST(golden_long)
{
    check_golden_file("golden_long.jsonl");
}

/* ---- the 1 MB single word: the heap merge, near-linear (timed in bench/tokens.sh) ---------- */

TEST(one_megabyte_word)
{
    size_t len = 1 << 20;
    char *w = malloc(len);
    CHECK(w != NULL);
    if (!w) return;
    for (size_t i = 0; i < len; i++)
        w[i] = (char)('a' + rnd() % 26);
    for (size_t k = 0; k < SY_ARRAY_LEN(ENCODINGS); k++) {
        const sy_encoding *e = sy_encoding_get(ENCODINGS[k], NULL, 0);
        CHECK(e != NULL);
        if (!e) continue;
        CHECK(sy_bpe_next_piece(e, w, len, 0) == len); /* one piece */
        size_t c = sy_bpe_count(e, w, len);
        fprintf(stderr, "  %s: %zu tokens\n", ENCODINGS[k], c);
        CHECK(c > len / 4 && c < len);
        uint32_t *ids = NULL;
        size_t n = 0, cap = 0;
        CHECK(sy_bpe_encode(e, w, len, &ids, &n, &cap) == 0 && n == c);
        sy_buf out;
        sy_buf_init(&out);
        CHECK(sy_bpe_decode(e, ids, n, &out) == 0 && out.len == len &&
              memcmp(out.data, w, len) == 0);
        sy_buf_free(&out);
        free(ids);
    }
    free(w);
}

/* ---- any bytes: decode(encode(x)) == x, count == number of ids, pieces tile ---------------- */

TEST(random_bytes_round_trip)
{
    static const unsigned char alphabet[] =
        "aZ9 '\n\r\t/.\x80\xbf\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"
        "\xed\xa0\xc0\xff\xcc\x81\xc2\x85\xef\xbb\xbf";
    unsigned char buf[512];
    int bad = 0;
    for (int round = 0; round < 4000 && !bad; round++) {
        size_t len = rnd() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = round % 2 ? (unsigned char)rnd() : alphabet[rnd() % (sizeof alphabet - 1)];
        for (size_t k = 0; k < SY_ARRAY_LEN(ENCODINGS); k++) {
            const sy_encoding *e = sy_encoding_get(ENCODINGS[k], NULL, 0);
            uint32_t *ids = NULL;
            size_t n = 0, cap = 0;
            sy_buf out;
            sy_buf_init(&out);
            if (!e || sy_bpe_encode(e, (const char *)buf, len, &ids, &n, &cap) ||
                sy_bpe_count(e, (const char *)buf, len) != n || sy_bpe_decode(e, ids, n, &out) ||
                out.len != len || (len && memcmp(out.data, buf, len)))
                bad = 1;
            size_t pos = 0;
            while (!bad && pos < len) {
                size_t end = sy_bpe_next_piece(e, (const char *)buf, len, pos);
                if (end <= pos || end > len) bad = 1;
                pos = end;
            }
            sy_buf_free(&out);
            free(ids);
        }
    }
    CHECK(!bad);
}

/* ---- API behaviour ------------------------------------------------------------------------ */

TEST(encode_appends)
{
    const sy_encoding *e = sy_encoding_get("cl100k_base", NULL, 0);
    CHECK(e != NULL);
    if (!e) return;
    CHECK_STR(sy_encoding_name(e), "cl100k_base");
    CHECK(sy_encoding_n_vocab(e) == 100256);
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    CHECK(sy_bpe_encode(e, "hello world", 11, &ids, &n, &cap) == 0);
    CHECK(n == 2 && ids[0] == 15339 && ids[1] == 1917 && cap >= n);
    CHECK(sy_bpe_encode(e, " again", 6, &ids, &n, &cap) == 0);
    CHECK(n == 3 && ids[0] == 15339 && ids[2] == 1578);
    CHECK(sy_bpe_encode(e, "", 0, &ids, &n, &cap) == 0 && n == 3);
    CHECK(sy_bpe_count(e, "", 0) == 0);
    free(ids);
}

TEST(decode_errors_and_specials)
{
    const sy_encoding *cl = sy_encoding_get("cl100k_base", NULL, 0);
    const sy_encoding *o2 = sy_encoding_get("o200k_base", NULL, 0);
    CHECK(cl && o2);
    if (!cl || !o2) return;
    sy_buf out;
    sy_buf_init(&out);
    sy_buf_puts(&out, "x");
    uint32_t good[] = {15339, 100257, 1917};
    CHECK(sy_bpe_decode(cl, good, 3, &out) == 0);
    CHECK_STR(out.data, "xhello<|endoftext|> world");
    uint32_t bad[] = {15339, 100256}; /* 100256: neither a rank nor a special token */
    errno = 0;
    CHECK(sy_bpe_decode(cl, bad, 2, &out) == -1 && errno == EINVAL);
    CHECK_STR(out.data, "xhello<|endoftext|> world"); /* unchanged */
    uint32_t big[] = {UINT32_MAX};
    CHECK(sy_bpe_decode(o2, big, 1, &out) == -1);
    uint32_t o2sp[] = {200018, 199999};
    sy_buf_reset(&out);
    CHECK(sy_bpe_decode(o2, o2sp, 2, &out) == 0);
    CHECK_STR(out.data, "<|endofprompt|><|endoftext|>");
    sy_buf_free(&out);
    /* special-token text is ordinary text */
    CHECK(sy_bpe_count(cl, "<|endoftext|>", 13) == 7);
}

TEST(unknown_encoding)
{
    char err[256] = "";
    CHECK(sy_encoding_get("p50k_base", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "unknown encoding 'p50k_base'");
    CHECK(sy_encoding_get(NULL, NULL, 0) == NULL);
    sy_encoding *e = (sy_encoding *)1;
    CHECK(sy_encoding_load("gpt2", SY_SOURCE_DIR "/data", &e, err, sizeof err) == SY_EINVAL);
    CHECK(e == NULL);
}

static char tmpdir[] = "/tmp/sy-test-bpe-XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(load_errors)
{
    char err[8192] = "", path[600], dir[64];
    sy_encoding *e = NULL;
    CHECK(sy_encoding_load("cl100k_base", "/nonexistent/sy-data", &e, err, sizeof err) == SY_EIO);
    CHECK(e == NULL);
    CHECK_CONTAINS(err, "/nonexistent/sy-data/tiktoken/cl100k_base.tiktoken");
    CHECK_CONTAINS(err, "No such file");

    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(dir, sizeof dir, "%s/tiktoken", tmpdir);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/cl100k_base.tiktoken", dir);
    write_file(path, "IQ== 0\nIg== 1\nnot base64! 2\n");
    CHECK(sy_encoding_load("cl100k_base", tmpdir, &e, err, sizeof err) == SY_EIO);
    CHECK_CONTAINS(err, "cl100k_base.tiktoken:3: corrupt rank file: bad base64");
    write_file(path, "IQ== 0\nIg== 0\n");
    CHECK(sy_encoding_load("cl100k_base", tmpdir, &e, err, sizeof err) == SY_EIO);
    CHECK_CONTAINS(err, ":2: corrupt rank file: bad or repeated rank");
    write_file(path, "IQ== 0\nIQ== 1\n");
    CHECK(sy_encoding_load("cl100k_base", tmpdir, &e, err, sizeof err) == SY_EIO);
    CHECK_CONTAINS(err, ":2: corrupt rank file: repeated token bytes");
    write_file(path, "IQ== 0\n\nIg== 1\n\n"); /* blank lines are skipped */
    CHECK(sy_encoding_load("cl100k_base", tmpdir, &e, err, sizeof err) == SY_EIO);
    CHECK_CONTAINS(err, "corrupt rank file: 2 ranks, cl100k_base has 100256");

    /* sy_encoding_get: $SWITCHYARD_DATA_DIR comes first; a corrupt file there is an error (not a
     * silent fall-through) and a later call tries again. Runs before any other cl100k use. */
    setenv("SWITCHYARD_DATA_DIR", tmpdir, 1);
    CHECK(sy_encoding_get("cl100k_base", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, path);
    /* a data dir without the file: the search goes on to the next places */
    sy_tokens_set_data_dir("/nonexistent/set-dir");
    setenv("SWITCHYARD_DATA_DIR", "/nonexistent/env-dir", 1);
    const sy_encoding *cl = sy_encoding_get("cl100k_base", err, sizeof err);
    CHECK(cl != NULL);
    CHECK(sy_encoding_get("cl100k_base", NULL, 0) == cl);
    unsetenv("SWITCHYARD_DATA_DIR");
    sy_tokens_set_data_dir(NULL);
    remove(path);
    rmdir(dir);
    rmdir(tmpdir);
}

TEST(private_load_and_free)
{
    char err[512];
    sy_encoding *e = NULL;
    CHECK(sy_encoding_load("o200k_base", SY_SOURCE_DIR "/data", &e, err, sizeof err) == SY_OK);
    CHECK(e != NULL && sy_encoding_n_vocab(e) == 199998);
    if (e) CHECK(sy_bpe_count(e, "hello world", 11) == 2);
    sy_encoding_free(e);
    sy_encoding_free(NULL);
}

/* ---- concurrent first use ------------------------------------------------------------------ */

static const char *THREAD_TEXT = "Concurrent first use: every thread loads o200k_base, once.";
static void *thread_main(void *arg)
{
    const sy_encoding *e = sy_encoding_get("o200k_base", NULL, 0);
    *(size_t *)arg = e ? sy_bpe_count(e, THREAD_TEXT, strlen(THREAD_TEXT)) : 0;
    return (void *)e;
}

TEST(threads_share_one_encoding)
{
    pthread_t t[8];
    size_t counts[8];
    void *res[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&t[i], NULL, thread_main, &counts[i]) == 0);
    for (int i = 0; i < 8; i++)
        CHECK(pthread_join(t[i], &res[i]) == 0);
    for (int i = 0; i < 8; i++)
        CHECK(res[i] != NULL && res[i] == res[0] && counts[i] == counts[0]);
    CHECK(counts[0] > 5);
}

int main(void)
{
    RUN(threads_share_one_encoding); /* first: the encodings load under contention */
    RUN(load_errors);                /* before any other cl100k_base use */
    RUN(unknown_encoding);
    RUN(private_load_and_free);
    RUN(encode_appends);
    RUN(decode_errors_and_specials);
    RUN(golden_cases);
    RUN(golden_fuzz);
    RUN(golden_long);
    RUN(random_bytes_round_trip);
    RUN(one_megabyte_word);
    fprintf(stderr, "%d golden vectors x %zu encodings\n", n_vectors, SY_ARRAY_LEN(ENCODINGS));
    return sy_test_summary();
}
