/* test_classify.c — the prompt classifier (src/classify/sy_classify.c): the train/test split,
 * learning a word signal from a small in-memory data set, save → load bit-exact, every
 * rejection of the model loader, routing-data errors, prediction on empty and 1 MB texts,
 * two threads on one classifier. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify/sy_classify.h"
#include "core/sy_core.h"
#include "sy_test.h"

static const char *const NAMES[] = {"strong", "weak", "sometimes"};

/* Rows about fruit: "weak" answers them; rows about rocks: it does not. "strong" answers
 * all but a few; "sometimes" is scored on every other row only, with fractional scores. */
static void toy_data(sy_cls_data *d)
{
    static const char *FRUIT[] = {"apple", "banana", "cherry", "melon", "grape", "plum"};
    static const char *ROCK[] = {"granite", "basalt", "marble", "quartz", "slate", "shale"};
    sy_cls_data_init(d);
    for (int i = 0; i < 120; i++) {
        int fruit = i % 2;
        const char **w = fruit ? FRUIT : ROCK;
        char text[256], id[32];
        snprintf(text, sizeof text, "Tell me about the %s and the %s, please. Is the %s %s?",
                 w[i % 6], w[(i / 2) % 6], w[(i / 3) % 6], fruit ? "sweet" : "hard");
        snprintf(id, sizeof id, "toy/%d", i);
        double s[3] = {i % 10 == 3 ? 0 : 1, fruit ? 1 : 0, fruit ? 0.75 : 0.25};
        CHECK(sy_cls_data_add(d, id, text, strlen(text), NAMES, s, i % 2 ? 3 : 2) == SY_OK);
    }
}

static sy_classifier *toy_model(void)
{
    sy_cls_data d;
    toy_data(&d);
    sy_cls_config cfg;
    sy_cls_config_default(&cfg);
    cfg.hash_bits = 16;
    cfg.epochs = 10;
    cfg.alpha = 0.3;
    cfg.l1 = 0.1;
    sy_classifier *c = NULL;
    char err[256] = "";
    CHECK(sy_cls_train(&c, &d, &cfg, NULL, NULL, err, sizeof err) == SY_OK);
    sy_cls_data_free(&d);
    return c;
}

static int predict(const sy_classifier *c, const char *text, double *p)
{
    return sy_classifier_predict(c, text, strlen(text), p, SY_CLS_MAX_LABELS);
}

/* FNV-1a 64 as the model file uses it (to forge files with a valid checksum). */
static uint64_t fnv64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void reseal(unsigned char *b, size_t len)
{
    uint64_t h = fnv64(b, len - 8);
    for (int i = 0; i < 8; i++) b[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

/* Loads buf; returns the code and leaves the message in err. */
static int load(const unsigned char *buf, size_t len, char *err, size_t errlen)
{
    sy_classifier *c = NULL;
    err[0] = '\0';
    int rc = sy_cls_load_mem(&c, buf, len, err, errlen);
    CHECK((rc == SY_OK) == (c != NULL));
    sy_classifier_free(c);
    return rc;
}

TEST(split_is_fnv1a_mod_5)
{
    /* values from python: FNV-1a 32 of the id bytes, % 5 */
    CHECK(sy_fnv1a32("", 0) == 0x811c9dc5u);
    CHECK(sy_fnv1a32("a", 1) == 0xe40c292cu);
    CHECK(sy_fnv1a32("mmlu/abstract_algebra/1", 23) == 0xcbfed174u);
    CHECK(sy_split_is_test("a", 1) == 1);                        /* % 5 == 0 */
    CHECK(sy_split_is_test("mmlu/abstract_algebra/4", 23) == 1); /* 0xc8feccbb */
    CHECK(sy_split_is_test("mmlu/abstract_algebra/1", 23) == 0); /* % 5 == 2 */
    CHECK(sy_split_is_test("gsm8k/0", 7) == 0);                  /* 0xbe94025c % 5 == 2 */
    CHECK(sy_split_is_test("gsm8k/17", 8) == 0);                 /* % 5 == 3 */
    CHECK(sy_split_is_test("switchyard", 10) == 0);              /* % 5 == 4 */
    CHECK(sy_split_is_test("", 0) == 0);                         /* % 5 == 1 */
    CHECK(sy_split_keep(SY_SPLIT_TEST, "a", 1) && !sy_split_keep(SY_SPLIT_TRAIN, "a", 1));
    CHECK(sy_split_keep(SY_SPLIT_ALL, NULL, 0) && !sy_split_keep(SY_SPLIT_TRAIN, NULL, 0));
    CHECK(sy_split_parse("train") == SY_SPLIT_TRAIN && sy_split_parse("x") == -1);
    /* the shipped routing data: 1,661 test rows, 6,822 train rows */
    sy_cls_data d;
    char err[512] = "";
    sy_cls_data_init(&d);
    CHECK(sy_cls_data_read(&d, SY_SOURCE_DIR "/data/routing/routellm_train.jsonl", SY_SPLIT_TEST,
                           err, sizeof err) == SY_OK);
    CHECK(d.nrows == 1661);
    CHECK(d.nlabels == 2);
    sy_cls_data_free(&d);
    CHECK(sy_cls_data_read(&d, SY_SOURCE_DIR "/data/routing/routellm_train.jsonl",
                           SY_SPLIT_TRAIN, err, sizeof err) == SY_OK);
    CHECK(d.nrows == 6822);
    CHECK_STR(d.labels[0], "gpt-4-1106-preview");
    sy_cls_data_free(&d);
}

TEST(learns_a_word_signal)
{
    sy_classifier *c = toy_model();
    if (!c) return;
    CHECK(sy_classifier_nlabels(c) == 3);
    CHECK_STR(sy_classifier_label(c, 0), "strong");
    CHECK_STR(sy_classifier_label(c, 2), "sometimes");
    CHECK(sy_classifier_label(c, 3) == NULL && sy_classifier_label(c, -1) == NULL);
    double f[SY_CLS_MAX_LABELS], r[SY_CLS_MAX_LABELS];
    CHECK(predict(c, "Tell me about the cherry and the plum. Is the grape sweet?", f) == 3);
    CHECK(predict(c, "Tell me about the slate and the quartz. Is the marble hard?", r) == 3);
    CHECK(f[1] > 0.7);
    CHECK(r[1] < 0.3);
    CHECK(f[0] > 0.7 && r[0] > 0.7);     /* strong: mostly right on both */
    /* "sometimes": trained on fractional 0.75 only, so it learns about that */
    CHECK(f[2] > 0.55 && f[2] < 0.9 && r[2] > 0.55 && r[2] < 0.9);
    /* unseen wording, the same words */
    CHECK(predict(c, "banana melon apple", f) == 3);
    CHECK(predict(c, "basalt shale granite", r) == 3);
    CHECK(f[1] > r[1] + 0.3);
    sy_cls_info info;
    sy_cls_info_get(c, &info);
    CHECK(info.rows == 120 && info.nonzero > 0 && info.cfg.hash_bits == 16);
    CHECK(fabs(info.base_rate[1] - 0.5) < 1e-6);
    CHECK(fabs(info.base_rate[2] - 0.75) < 1e-6); /* only the fruit rows carry it */
    sy_classifier_free(c);
}

TEST(training_rejects_bad_input)
{
    sy_cls_data d;
    sy_cls_config cfg;
    sy_classifier *c = NULL;
    char err[256] = "";
    sy_cls_data_init(&d);
    sy_cls_config_default(&cfg);
    CHECK(sy_cls_train(&c, &d, &cfg, NULL, NULL, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "no training rows");
    double s = 1.5;
    CHECK(sy_cls_data_add(&d, "x", "t", 1, NAMES, &s, 1) == SY_EINVAL);
    s = NAN;
    CHECK(sy_cls_data_add(&d, "x", "t", 1, NAMES, &s, 1) == SY_EINVAL);
    s = 1;
    CHECK(sy_cls_data_add(&d, "x", "t", 1, NAMES, &s, 1) == SY_OK);
    cfg.hash_bits = 30;
    CHECK(sy_cls_train(&c, &d, &cfg, NULL, NULL, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "bits");
    sy_cls_config_default(&cfg);
    cfg.char_min = 6;
    cfg.char_max = 4;
    CHECK(sy_cls_train(&c, &d, &cfg, NULL, NULL, err, sizeof err) == SY_EINVAL);
    CHECK(c == NULL);
    /* 17 models is one too many ("strong" is one) */
    for (int i = 0; i < 15; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        CHECK(sy_cls_data_label(&d, name) >= 0);
    }
    CHECK(d.nlabels == 16);
    CHECK(sy_cls_data_label(&d, "one-more") == SY_EINVAL);
    CHECK(sy_cls_data_label(&d, "") == SY_EINVAL);
    sy_cls_data_free(&d);
    sy_cls_config_default(&cfg);
    CHECK(sy_cls_config_features(&cfg, "words+chars") == 0);
    CHECK(cfg.features == (SY_CLS_F_WORD1 | SY_CLS_F_CHAR));
    CHECK(sy_cls_config_features(&cfg, "words+nope") == -1);
    CHECK(sy_cls_config_features(&cfg, "words2") == 0 && cfg.features == SY_CLS_F_WORD2);
}

static const char *TEXTS[] = {
    "",
    "Tell me about the cherry and the plum. Is the grape sweet?",
    "Q: 12 + 30 = ?\nA. 42\nB. 41\nC. 40\nD. 39\nAnswer:",
    "\xff\xfe binary \x01\x02 garbage \xc3\xa9t\xc3\xa9",
    "     spaces      only     ",
};

TEST(save_load_is_bit_exact)
{
    sy_classifier *c = toy_model();
    if (!c) return;
    unsigned char *buf = NULL;
    size_t len = 0;
    char err[256] = "", dir[] = "/tmp/sy-test-classify-XXXXXX", path[300];
    CHECK(sy_cls_serialize(c, &buf, &len) == SY_OK);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/m.bin", dir);
    CHECK(sy_cls_save(c, path, err, sizeof err) == SY_OK);
    sy_classifier *m = NULL, *f = NULL;
    CHECK(sy_cls_load_mem(&m, buf, len, err, sizeof err) == SY_OK);
    CHECK(sy_classifier_load(&f, path, err, sizeof err) == SY_OK);
    if (m && f) {
        CHECK(sy_classifier_nlabels(f) == 3);
        CHECK_STR(sy_classifier_label(f, 1), "weak");
        for (size_t i = 0; i < SY_ARRAY_LEN(TEXTS); i++) {
            double a[SY_CLS_MAX_LABELS], b[SY_CLS_MAX_LABELS], x[SY_CLS_MAX_LABELS];
            CHECK(predict(c, TEXTS[i], a) == 3);
            CHECK(predict(m, TEXTS[i], b) == 3);
            CHECK(predict(f, TEXTS[i], x) == 3);
            CHECK(memcmp(a, b, 3 * sizeof *a) == 0);
            CHECK(memcmp(a, x, 3 * sizeof *a) == 0);
        }
        /* and the file re-serialises to the same bytes */
        unsigned char *again = NULL;
        size_t alen = 0;
        CHECK(sy_cls_serialize(f, &again, &alen) == SY_OK);
        CHECK(alen == len && again && memcmp(again, buf, len) == 0);
        free(again);
    }
    sy_classifier_free(m);
    sy_classifier_free(f);
    /* no temp file is left behind */
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    /* saving into a missing directory fails with a message */
    snprintf(path, sizeof path, "%s/no/such/dir/m.bin", dir);
    CHECK(sy_cls_save(c, path, err, sizeof err) == SY_EIO);
    CHECK_CONTAINS(err, "cannot write");
    snprintf(path, sizeof path, "%s/m.bin", dir);
    unlink(path);
    rmdir(dir);
    free(buf);
    sy_classifier_free(c);
}

TEST(loader_rejects_every_bad_file)
{
    sy_classifier *c = toy_model();
    if (!c) return;
    unsigned char *buf = NULL;
    size_t len = 0;
    char err[256];
    CHECK(sy_cls_serialize(c, &buf, &len) == SY_OK);
    sy_classifier_free(c);
    unsigned char *b = malloc(len + 1);
    if (!buf || !b) return;
    CHECK(load(buf, len, err, sizeof err) == SY_OK);

    memcpy(b, buf, len);
    b[0] = 'X';
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "bad magic");
    CHECK(load((const unsigned char *)"{\"json\":1}", 10, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "bad magic");
    CHECK(load(buf, 0, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "bad magic");

    memcpy(b, buf, len);
    b[8] = 3; /* a future version */
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "unsupported format version 3 (this build reads 2)");
    memcpy(b, buf, len);
    b[8] = 1; /* the first cut's hashing: refused rather than mispredicting */
    reseal(b, len);
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "unsupported format version 1");

    /* truncated anywhere: in the magic, the header, the payload, the checksum */
    const size_t cuts[] = {3, 8, 12, 19, 20, 40, len / 2, len - 9, len - 8, len - 1};
    for (size_t i = 0; i < SY_ARRAY_LEN(cuts); i++) {
        CHECK(load(buf, cuts[i], err, sizeof err) == SY_EINVAL);
        CHECK_CONTAINS(err, "truncated");
    }
    memcpy(b, buf, len);
    b[len] = 0;
    CHECK(load(b, len + 1, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "after the checksum");

    /* one flipped bit in the payload, in a weight, in the checksum */
    const size_t flips[] = {20, 30, len / 2, len - 9, len - 1};
    for (size_t i = 0; i < SY_ARRAY_LEN(flips); i++) {
        memcpy(b, buf, len);
        b[flips[i]] ^= 0x10;
        CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
        CHECK_CONTAINS(err, "checksum mismatch");
    }

    /* absurd sizes behind a valid checksum: labels, bits, slots, name length */
    struct {
        size_t off;
        uint32_t v;
        const char *msg;
    } forged[] = {
        {20 + 4, 31, "bad feature configuration"},          /* hash bits */
        {20 + 0, 0x100, "bad feature configuration"},       /* unknown feature family */
        {20 + 16, 1000000, "bad feature configuration"},    /* epochs */
        {20 + 32, 0, "bad number of labels"},
        {20 + 32, 1000, "bad number of labels"},
        {20 + 36, 0xffffffffu, "bad label name length"},
        {20 + 36, 7, "bad label name"},                      /* "strong" + the bias bytes */
    };
    for (size_t i = 0; i < SY_ARRAY_LEN(forged); i++) {
        memcpy(b, buf, len);
        for (int k = 0; k < 4; k++) b[forged[i].off + (size_t)k] = (unsigned char)(forged[i].v >> (8 * k));
        reseal(b, len);
        CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
        CHECK_CONTAINS(err, forged[i].msg);
    }
    /* the slot count: more than the table, more than the bytes */
    size_t nnz_off = 20 + 36;
    for (int l = 0; l < 3; l++) nnz_off += 4 + strlen(NAMES[l]) + 8;
    memcpy(b, buf, len);
    b[nnz_off + 3] = 0x7f;
    reseal(b, len);
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "more non-zero slots than the table has");
    memcpy(b, buf, len);
    b[nnz_off + 2] = 0x01; /* + 65536 slots: within 2^16 only if nnz was 0, and too few bytes */
    reseal(b, len);
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    /* a slot out of order, a non-finite weight */
    memcpy(b, buf, len);
    memcpy(b + nnz_off + 4, "\xff\xff\xff\x00", 4);
    reseal(b, len);
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "slots out of order or out of range");
    memcpy(b, buf, len);
    memcpy(b + nnz_off + 8, "\x00\x00\xc0\x7f", 4); /* NaN */
    reseal(b, len);
    CHECK(load(b, len, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "non-finite weight");

    /* files */
    sy_classifier *m = NULL;
    CHECK(sy_classifier_load(&m, "/nonexistent/model.bin", err, sizeof err) == SY_EIO);
    CHECK_CONTAINS(err, "/nonexistent/model.bin");
    CHECK(m == NULL);
    CHECK(sy_classifier_load(&m, NULL, err, sizeof err) == SY_EINVAL);
    char dir[] = "/tmp/sy-test-classify-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/cut.bin", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, len - 100, f);
        fclose(f);
    }
    CHECK(sy_classifier_load(&m, path, err, sizeof err) == SY_EINVAL);
    CHECK_CONTAINS(err, "cut.bin: truncated");
    unlink(path);
    rmdir(dir);
    free(b);
    free(buf);
}

TEST(predict_edges)
{
    sy_classifier *c = toy_model();
    if (!c) return;
    double p[SY_CLS_MAX_LABELS], q[SY_CLS_MAX_LABELS];
    CHECK(sy_classifier_predict(c, NULL, 0, p, 3) == 3);
    CHECK(sy_classifier_predict(c, "", 0, q, 3) == 3);
    CHECK(memcmp(p, q, 3 * sizeof *p) == 0);
    for (int l = 0; l < 3; l++) CHECK(p[l] > 0 && p[l] < 1);
    CHECK(sy_classifier_predict(c, NULL, 5, p, 3) == SY_EINVAL);
    CHECK(sy_classifier_predict(c, "x", 1, NULL, 3) == SY_EINVAL);
    CHECK(sy_classifier_predict(c, "x", 1, p, 2) == SY_EINVAL);
    CHECK(sy_classifier_predict(NULL, "x", 1, p, 3) == SY_EINVAL);
    CHECK(sy_classifier_nlabels(NULL) == 0);
    sy_classifier_free(NULL);
    /* 1 MB: fruit words at the head, rocks in the middle (not read), fruit at the tail */
    size_t big = 1 << 20;
    char *t = malloc(big);
    if (t) {
        for (size_t i = 0; i < big; i++) t[i] = "granite basalt "[i % 15];
        memcpy(t, "apple banana cherry ", 20);
        memcpy(t + big - 20, " melon grape apple  ", 20);
        CHECK(sy_classifier_predict(c, t, big, p, 3) == 3);
        for (int l = 0; l < 3; l++) CHECK(isfinite(p[l]) && p[l] > 0 && p[l] < 1);
        /* NUL bytes are text like any other */
        memset(t + 1000, 0, 5000);
        CHECK(sy_classifier_predict(c, t, big, q, 3) == 3);
        free(t);
    }
    sy_classifier_free(c);
}

typedef struct {
    const sy_classifier *c;
    double out[64][3];
} thread_arg;

static void *predict_many(void *ud)
{
    thread_arg *a = ud;
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < 64; i++) {
            char text[128];
            snprintf(text, sizeof text, "%s %d the plum and the slate %d",
                     TEXTS[i % SY_ARRAY_LEN(TEXTS)], i, i * 7);
            sy_classifier_predict(a->c, text, strlen(text), a->out[i], 3);
        }
    return NULL;
}

TEST(two_threads_share_one_classifier)
{
    sy_classifier *c = toy_model();
    if (!c) return;
    thread_arg *a = calloc(3, sizeof *a);
    if (!a) return;
    for (int i = 0; i < 3; i++) a[i].c = c;
    predict_many(&a[2]); /* the single-threaded answers */
    pthread_t t[2];
    CHECK(pthread_create(&t[0], NULL, predict_many, &a[0]) == 0);
    CHECK(pthread_create(&t[1], NULL, predict_many, &a[1]) == 0);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    CHECK(memcmp(a[0].out, a[2].out, sizeof a[0].out) == 0);
    CHECK(memcmp(a[1].out, a[2].out, sizeof a[1].out) == 0);
    free(a);
    sy_classifier_free(c);
}

/* Writes text to a temp file and reads it as routing data; returns the code, message in err. */
static int read_text(const char *text, int split, char *err, size_t errlen, size_t *rows)
{
    char path[] = "/tmp/sy-test-classify-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -100;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) CHECK(0);
    close(fd);
    sy_cls_data d;
    sy_cls_data_init(&d);
    err[0] = '\0';
    int rc = sy_cls_data_read(&d, path, split, err, errlen);
    if (rows) *rows = d.nrows;
    /* the message names the file */
    if (rc != SY_OK) CHECK(strncmp(err, path, strlen(path)) == 0);
    sy_cls_data_free(&d);
    unlink(path);
    return rc;
}

TEST(routing_data_errors_name_file_line_key)
{
    char err[512];
    size_t rows = 0;
    CHECK(read_text("", SY_SPLIT_ALL, err, sizeof err, &rows) == SY_OK && rows == 0);
    CHECK(read_text("\n  \n{\"id\":\"a\",\"prompt\":\"p\",\"scores\":{\"m\":0.5}}\n\n",
                    SY_SPLIT_ALL, err, sizeof err, &rows) == SY_OK);
    CHECK(rows == 1);
    /* "a" is a test id: the train split drops it */
    CHECK(read_text("{\"id\":\"a\",\"prompt\":\"p\",\"scores\":{\"m\":1}}\n", SY_SPLIT_TRAIN, err,
                    sizeof err, &rows) == SY_OK);
    CHECK(rows == 0);
    static const struct {
        const char *text, *msg;
    } BAD[] = {
        {"{\"prompt\":\"p\",\"scores\":{\"m\":1}}\nnot json\n", ":2: (root): not valid JSON"},
        {"[1,2]\n", ":1: (root): must be an object"},
        {"{\"scores\":{\"m\":1}}\n", ":1: prompt: missing"},
        {"{\"prompt\":7,\"scores\":{\"m\":1}}\n", ":1: prompt: must be a string"},
        {"{\"prompt\":\"p\"}\n", ":1: scores: missing"},
        {"{\"prompt\":\"p\",\"scores\":[1]}\n", ":1: scores: must be an object"},
        {"{\"prompt\":\"p\",\"scores\":{}}\n", ":1: scores: empty"},
        {"{\"prompt\":\"p\",\"scores\":{\"m\":1.5}}\n", ":1: scores.m: must be a number from 0 to 1"},
        {"{\"prompt\":\"p\",\"scores\":{\"m\":\"1\"}}\n", ":1: scores.m: must be a number"},
        {"{\"prompt\":\"p\",\"scores\":{\"m\":-0.1}}\n", ":1: scores.m: must be a number"},
        {"{\"id\":3,\"prompt\":\"p\",\"scores\":{\"m\":1}}\n", ":1: id: must be a string"},
        {"{\"prompt\":\"p\",\"scores\":{\"m\":1},\"contaminated\":\"no\"}\n",
         ":1: contaminated: must be true or false"},
        {"\x01\x02\xff\xfe\n", ":1: (root): not valid JSON"},
    };
    for (size_t i = 0; i < SY_ARRAY_LEN(BAD); i++) {
        CHECK(read_text(BAD[i].text, SY_SPLIT_ALL, err, sizeof err, NULL) == SY_EINVAL);
        CHECK_CONTAINS(err, BAD[i].msg);
    }
    CHECK(read_text("{\"prompt\":\"p\",\"scores\":{\"m\":1}}\n", SY_SPLIT_TRAIN, err, sizeof err,
                    NULL) == SY_EINVAL);
    CHECK_CONTAINS(err, ":1: id: missing");
    sy_cls_data d;
    sy_cls_data_init(&d);
    CHECK(sy_cls_data_read(&d, "/nonexistent/data.jsonl", SY_SPLIT_ALL, err, sizeof err) ==
          SY_EIO);
    CHECK_CONTAINS(err, "cannot read /nonexistent/data.jsonl");
    sy_cls_data_free(&d);
}

int main(void)
{
    RUN(split_is_fnv1a_mod_5);
    RUN(learns_a_word_signal);
    RUN(training_rejects_bad_input);
    RUN(save_load_is_bit_exact);
    RUN(loader_rejects_every_bad_file);
    RUN(predict_edges);
    RUN(two_threads_share_one_classifier);
    RUN(routing_data_errors_name_file_line_key);
    return sy_test_summary();
}
