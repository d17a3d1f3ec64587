/* sy_classify.c — the prompt classifier (see sy_classify.h): the train/test split, routing
 * data from JSONL (cJSON), hashed features (words, bigrams, character n-grams, dense buckets),
 * FTRL-proximal logistic regression with one head per model, the versioned model file and
 * allocation-free prediction. The CLI is sy_classify_cli.c; tests/c/test_classify.c. */
#include "classify/sy_classify.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/sy_core.h"

/* The in-memory weight table (2^bits slots × labels floats) stays below this many floats
 * (64 MB): a model file cannot make the loader allocate more, and training needs 5× that. */
#define MAX_TABLE_FLOATS (1u << 24)

struct sy_classifier {
    sy_cls_config cfg; /* the FTRL fields are 0 in a loaded model */
    int nl;
    char *labels[SY_CLS_MAX_LABELS];
    float bias[SY_CLS_MAX_LABELS];
    float base_rate[SY_CLS_MAX_LABELS];
    uint32_t rows, nonzero;
    uint32_t mask; /* (1 << bits) - 1 */
    float *w;      /* [slot][label], dense */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ==== split ================================================================================ */

uint32_t sy_fnv1a32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    return h;
}

int sy_split_is_test(const char *id, size_t len)
{
    return sy_fnv1a32(id, id ? len : 0) % 5 == 0;
}

int sy_split_parse(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "all") == 0) return SY_SPLIT_ALL;
    if (strcmp(name, "train") == 0) return SY_SPLIT_TRAIN;
    if (strcmp(name, "test") == 0) return SY_SPLIT_TEST;
    return -1;
}

int sy_split_keep(int split, const char *id, size_t len)
{
    if (split == SY_SPLIT_ALL) return 1;
    if (!id) return 0;
    return sy_split_is_test(id, len) == (split == SY_SPLIT_TEST);
}

/* ==== config =============================================================================== */

void sy_cls_config_default(sy_cls_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->features = SY_CLS_F_WORD1 | SY_CLS_F_WORD2 | SY_CLS_F_CHAR | SY_CLS_F_DENSE;
    cfg->hash_bits = 18;
    cfg->char_min = 3;
    cfg->char_max = 5;
    cfg->epochs = 5;
    cfg->seed = 1;
    cfg->alpha = 0.1;
    cfg->beta = 1.0;
    cfg->l1 = 0.5;
    cfg->l2 = 1.0;
}

void sy_cls_config_words2(sy_cls_config *cfg)
{
    sy_cls_config_default(cfg);
    cfg->features = SY_CLS_F_WORD2;
}

int sy_cls_config_features(sy_cls_config *cfg, const char *name)
{
    sy_cls_config d;
    if (strcmp(name, "default") == 0)
        sy_cls_config_default(&d);
    else if (strcmp(name, "words2") == 0)
        sy_cls_config_words2(&d);
    else
        return -1;
    cfg->features = d.features;
    cfg->char_min = d.char_min;
    cfg->char_max = d.char_max;
    return 0;
}

int sy_cls_config_check(const sy_cls_config *cfg, char *err, size_t errlen)
{
    if (!cfg->features || (cfg->features & ~(unsigned)SY_CLS_F_ALL)) {
        seterr(err, errlen, "features: unknown set 0x%x", cfg->features);
        return SY_EINVAL;
    }
    if (cfg->hash_bits < SY_CLS_MIN_BITS || cfg->hash_bits > SY_CLS_MAX_BITS) {
        seterr(err, errlen, "bits: must be from %d to %d, got %d", SY_CLS_MIN_BITS,
               SY_CLS_MAX_BITS, cfg->hash_bits);
        return SY_EINVAL;
    }
    if (cfg->char_min < 1 || cfg->char_max > 7 || cfg->char_min > cfg->char_max) {
        seterr(err, errlen, "character n-grams: need 1 <= min <= max <= 7, got %d..%d",
               cfg->char_min, cfg->char_max);
        return SY_EINVAL;
    }
    if (cfg->epochs < 1 || cfg->epochs > SY_CLS_MAX_EPOCHS) {
        seterr(err, errlen, "epochs: must be from 1 to %d, got %d", SY_CLS_MAX_EPOCHS,
               cfg->epochs);
        return SY_EINVAL;
    }
    if (!(cfg->alpha > 0) || !(cfg->beta >= 0) || !(cfg->l1 >= 0) || !(cfg->l2 >= 0)) {
        seterr(err, errlen, "learning parameters: alpha must be > 0, beta, l1, l2 >= 0");
        return SY_EINVAL;
    }
    return SY_OK;
}

/* ==== features =============================================================================
 * One pass over the (lowercased) text emits hash slots tagged with their family; a family's
 * occurrences each weigh 1/sqrt(count of that family), so long prompts do not saturate. The
 * featuriser batches slots in a stack array and hands each full batch to a sink: prediction
 * sums weights, training collects (slot, value) pairs. Same code both ways, so a model sees at
 * prediction exactly the features it was trained on. */

enum { FAM_WORD1 = 0, FAM_WORD2 = 1, FAM_CHAR = 2, FAM_DENSE = 3 };
#define BATCH 256
#define FAM_SHIFT 28 /* entry = family << 28 | slot (slot < 2^24) */

static const uint64_t FAM_SEED[SY_CLS_NFAMILIES] = {
    0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull, 0x082efa98ec4e6c89ull};

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

typedef struct sink {
    void (*flush)(struct sink *s, const uint32_t *e, int n);
    unsigned count[SY_CLS_NFAMILIES];
    uint32_t mask;
    int n;
    uint32_t buf[BATCH];
} sink;

static inline void emit(sink *s, int fam, uint64_t key)
{
    uint32_t slot = (uint32_t)mix64(key ^ FAM_SEED[fam]) & s->mask;
    s->count[fam]++;
    s->buf[s->n++] = (uint32_t)fam << FAM_SHIFT | slot;
    if (s->n == BATCH) {
        s->flush(s, s->buf, s->n);
        s->n = 0;
    }
}

static inline unsigned log_bucket(size_t x)
{
    unsigned b = 0;
    while (x) {
        b++;
        x >>= 1;
    }
    return b;
}

static inline int is_space(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
}

static inline int is_word(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b >= 0x80;
}

#define WORD_BOS 0x2f1e7a3bu
#define WORD_EOS 0x6c0d45e1u

/* Whether text (trailing spaces ignored) ends with "answer:" in any case. */
static int ends_with_answer(const char *text, size_t len)
{
    while (len && is_space((unsigned char)text[len - 1])) len--;
    static const char tail[] = "answer:";
    size_t n = sizeof tail - 1;
    if (len < n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)text[len - n + i];
        if (b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
        if (b != (unsigned char)tail[i]) return 0;
    }
    return 1;
}

static void featurize(const sy_cls_config *cfg, const char *text, size_t len, sink *s)
{
    const unsigned f = cfg->features;
    const int cmin = cfg->char_min, cmax = cfg->char_max;
    /* The pieces read: the whole text, or its head and tail past SY_CLS_MAX_TEXT. */
    const unsigned char *piece[2] = {(const unsigned char *)text, NULL};
    size_t plen[2] = {len, 0};
    if (len > SY_CLS_MAX_TEXT) {
        plen[0] = plen[1] = SY_CLS_MAX_TEXT / 2;
        piece[1] = (const unsigned char *)text + len - plen[1];
    }
    uint64_t win = ' '; /* the last bytes, newest lowest; the text starts after a space */
    int have = 1;       /* bytes in win */
    int in_space = 1;
    uint32_t hw = 0x811c9dc5u, prev = WORD_BOS;
    int in_word = 0;
    size_t words = 0, wordbytes = 0, digits = 0, numbers = 0, lines = 1, opts = 0;
    size_t math = 0, qmarks = 0, dollars = 0, upper = 0;
    int line_pos = 0, opt_cand = 0, in_num = 0;
    for (int p = 0; p < 2; p++) {
        const unsigned char *t = piece[p];
        size_t n = plen[p];
        for (size_t i = 0; i <= n; i++) {
            /* one more byte after each piece: a space that ends the last word */
            unsigned char raw = i < n ? t[i] : ' ';
            unsigned char b = raw;
            if (b >= 'A' && b <= 'Z') {
                b = (unsigned char)(b + 32);
                upper++;
            }
            int sp = is_space(b);
            if (sp) b = ' ';
            /* words and bigrams */
            if (is_word(b)) {
                hw = (hw ^ b) * 0x01000193u;
                in_word = 1;
                wordbytes++;
            } else if (in_word) {
                words++;
                if (f & SY_CLS_F_WORD1) emit(s, FAM_WORD1, hw);
                if (f & SY_CLS_F_WORD2) emit(s, FAM_WORD2, (uint64_t)prev << 32 | hw);
                prev = hw;
                hw = 0x811c9dc5u;
                in_word = 0;
            }
            /* character n-grams on the text with runs of spaces made one */
            if ((f & SY_CLS_F_CHAR) && !(sp && in_space)) {
                win = win << 8 | b;
                if (have < 8) have++;
                for (int k = cmin; k <= cmax && k <= have; k++)
                    emit(s, FAM_CHAR, (win & (~0ull >> (64 - 8 * k))) | (uint64_t)k << 56);
            }
            in_space = sp;
            if (i == n) break;
            /* dense counts */
            if (b >= '0' && b <= '9') {
                digits++;
                if (!in_num) numbers++;
                in_num = 1;
            } else {
                in_num = 0;
            }
            if (raw == '\n') {
                lines++;
                line_pos = 0;
                opt_cand = 0;
                continue;
            }
            if (sp) continue;
            if (line_pos == 0) opt_cand = raw >= 'A' && raw <= 'J';
            if (line_pos == 1 && opt_cand && (raw == '.' || raw == ')')) opts++;
            line_pos++;
            switch (raw) {
            case '=': case '+': case '*': case '/': case '^': case '\\': case '<': case '>':
                math++;
                break;
            case '?': qmarks++; break;
            case '$': dollars++; break;
            default: break;
            }
        }
        /* the head and tail are separate texts for n-grams (no n-gram spans the cut) */
        win = ' ';
        have = 1;
        in_space = 1;
        if (!piece[1]) break;
    }
    if ((f & SY_CLS_F_WORD2) && words) emit(s, FAM_WORD2, (uint64_t)prev << 32 | WORD_EOS);
    if (f & SY_CLS_F_DENSE) {
        /* categorical buckets, each hashed as (feature number, bucket) */
        const uint64_t lb = log_bucket(len);
        const uint64_t ob = opts > 6 ? 6 : opts;
        const uint64_t v[] = {
            lb,
            log_bucket(words),
            log_bucket(digits),
            log_bucket(numbers),
            log_bucket(lines),
            ob,
            log_bucket(math),
            qmarks > 4 ? 4 : qmarks,
            (uint64_t)ends_with_answer(text, len),
            ob << 8 | lb,
            words ? (wordbytes / words > 15 ? 15 : wordbytes / words) : 0,
            log_bucket(dollars),
            log_bucket(upper),
        };
        for (uint64_t k = 0; k < SY_ARRAY_LEN(v); k++) emit(s, FAM_DENSE, k << 32 | v[k]);
    }
    if (s->n) s->flush(s, s->buf, s->n);
    s->n = 0;
}

/* ==== prediction =========================================================================== */

typedef struct predict_sink {
    sink s;
    const sy_classifier *c;
    double acc[SY_CLS_NFAMILIES][SY_CLS_MAX_LABELS];
} predict_sink;

static void predict_flush(sink *s, const uint32_t *e, int n)
{
    predict_sink *ps = (predict_sink *)s;
    const int nl = ps->c->nl;
    const float *w = ps->c->w;
    const uint32_t smask = (1u << FAM_SHIFT) - 1;
    if (nl == 2) {
        for (int i = 0; i < n; i++) {
            const float *wi = w + (size_t)(e[i] & smask) * 2;
            double *a = ps->acc[e[i] >> FAM_SHIFT];
            a[0] += wi[0];
            a[1] += wi[1];
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *wi = w + (size_t)(e[i] & smask) * (size_t)nl;
        double *a = ps->acc[e[i] >> FAM_SHIFT];
        for (int l = 0; l < nl; l++) a[l] += wi[l];
    }
}

static double sigmoid(double z)
{
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

int sy_classifier_predict(const sy_classifier *c, const char *text, size_t len, double *probs,
                          int nprobs)
{
    if (!c || !probs || nprobs < c->nl || (!text && len)) return SY_EINVAL;
    predict_sink ps;
    ps.s.flush = predict_flush;
    memset(ps.s.count, 0, sizeof ps.s.count);
    ps.s.mask = c->mask;
    ps.s.n = 0;
    ps.c = c;
    memset(ps.acc, 0, sizeof ps.acc);
    featurize(&c->cfg, text ? text : "", len, &ps.s);
    for (int l = 0; l < c->nl; l++) {
        double z = c->bias[l];
        for (int fam = 0; fam < SY_CLS_NFAMILIES; fam++)
            if (ps.s.count[fam]) z += ps.acc[fam][l] / sqrt((double)ps.s.count[fam]);
        probs[l] = sigmoid(z);
    }
    return c->nl;
}

int sy_classifier_nlabels(const sy_classifier *c)
{
    return c ? c->nl : 0;
}

const char *sy_classifier_label(const sy_classifier *c, int i)
{
    return c && i >= 0 && i < c->nl ? c->labels[i] : NULL;
}

void sy_classifier_free(sy_classifier *c)
{
    if (!c) return;
    for (int l = 0; l < c->nl; l++) free(c->labels[l]);
    free(c->w);
    free(c);
}

void sy_cls_info_get(const sy_classifier *c, sy_cls_info *info)
{
    memset(info, 0, sizeof *info);
    if (!c) return;
    info->cfg = c->cfg;
    info->rows = c->rows;
    info->nonzero = c->nonzero;
    memcpy(info->base_rate, c->base_rate, sizeof info->base_rate);
}

/* A classifier with cfg's table (zeroed) and no labels yet; NULL when out of memory. */
static sy_classifier *cls_new(const sy_cls_config *cfg)
{
    sy_classifier *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *cfg;
    c->mask = (1u << cfg->hash_bits) - 1;
    return c;
}

/* ==== routing data ========================================================================= */

void sy_cls_data_init(sy_cls_data *d)
{
    memset(d, 0, sizeof *d);
}

void sy_cls_data_free(sy_cls_data *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nrows; i++) {
        free(d->rows[i].id);
        free(d->rows[i].text);
    }
    free(d->rows);
    for (int l = 0; l < d->nlabels; l++) free(d->labels[l]);
    sy_cls_data_init(d);
}

int sy_cls_data_label(sy_cls_data *d, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!n || n > SY_CLS_MAX_LABEL_LEN) return SY_EINVAL;
    for (int l = 0; l < d->nlabels; l++)
        if (strcmp(d->labels[l], name) == 0) return l;
    if (d->nlabels == SY_CLS_MAX_LABELS) return SY_EINVAL;
    if (!(d->labels[d->nlabels] = sy_strdup(name))) return SY_ENOMEM;
    return d->nlabels++;
}

/* A new row (scores all NaN) at the end of d, or NULL when out of memory. */
static sy_cls_row *data_push(sy_cls_data *d, const char *id, const char *text, size_t len)
{
    if (d->nrows == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        sy_cls_row *r = realloc(d->rows, cap * sizeof *r);
        if (!r) return NULL;
        d->rows = r;
        d->cap = cap;
    }
    sy_cls_row *row = &d->rows[d->nrows];
    memset(row, 0, sizeof *row);
    for (int l = 0; l < SY_CLS_MAX_LABELS; l++) row->scores[l] = NAN;
    row->text = malloc(len + 1);
    row->id = id ? sy_strdup(id) : NULL;
    if (!row->text || (id && !row->id)) {
        free(row->text);
        free(row->id);
        return NULL;
    }
    memcpy(row->text, text, len);
    row->text[len] = '\0';
    row->len = len;
    d->nrows++;
    return row;
}

int sy_cls_data_add(sy_cls_data *d, const char *id, const char *text, size_t len,
                    const char *const *names, const double *scores, int n)
{
    int idx[SY_CLS_MAX_LABELS];
    if (!text && len) return SY_EINVAL;
    if (n < 0 || n > SY_CLS_MAX_LABELS) return SY_EINVAL;
    for (int i = 0; i < n; i++) {
        if (!(scores[i] >= 0 && scores[i] <= 1)) return SY_EINVAL;
        if ((idx[i] = sy_cls_data_label(d, names[i])) < 0) return idx[i];
    }
    sy_cls_row *row = data_push(d, id, text ? text : "", len);
    if (!row) return SY_ENOMEM;
    for (int i = 0; i < n; i++) row->scores[idx[i]] = (float)scores[i];
    return SY_OK;
}

/* One JSONL line into d (when its id is in split). SY_OK, SY_EINVAL or SY_ENOMEM with
 * "key: message" in err. */
static int data_line(sy_cls_data *d, const char *line, size_t len, int split, char *err,
                     size_t errlen)
{
    int rc = SY_EINVAL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!j) {
        seterr(err, errlen, "(root): not valid JSON (near byte %zu)",
               end && end >= line ? (size_t)(end - line) + 1 : (size_t)1);
        return SY_EINVAL;
    }
    if (!cJSON_IsObject(j)) {
        seterr(err, errlen, "(root): must be an object");
        goto done;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(j, "scores");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(j, "contaminated");
    if (id && !cJSON_IsNull(id) && !cJSON_IsString(id)) {
        seterr(err, errlen, "id: must be a string");
        goto done;
    }
    const char *ids = cJSON_IsString(id) ? id->valuestring : NULL;
    if (!ids && split != SY_SPLIT_ALL) {
        seterr(err, errlen, "id: missing (the split is computed from it)");
        goto done;
    }
    if (!prompt) {
        seterr(err, errlen, "prompt: missing");
        goto done;
    }
    if (!cJSON_IsString(prompt)) {
        seterr(err, errlen, "prompt: must be a string");
        goto done;
    }
    if (!scores) {
        seterr(err, errlen, "scores: missing");
        goto done;
    }
    if (!cJSON_IsObject(scores)) {
        seterr(err, errlen, "scores: must be an object {model: 0..1}");
        goto done;
    }
    const char *names[SY_CLS_MAX_LABELS];
    double vals[SY_CLS_MAX_LABELS];
    int n = 0;
    for (const cJSON *s = scores->child; s; s = s->next) {
        if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0 && s->valuedouble <= 1)) {
            seterr(err, errlen, "scores.%s: must be a number from 0 to 1", s->string);
            goto done;
        }
        if (!s->string[0] || strlen(s->string) > SY_CLS_MAX_LABEL_LEN) {
            seterr(err, errlen, "scores: model names must be 1 to %d bytes",
                   SY_CLS_MAX_LABEL_LEN);
            goto done;
        }
        int known = 0;
        for (int l = 0; l < d->nlabels; l++) known |= strcmp(d->labels[l], s->string) == 0;
        if (n == SY_CLS_MAX_LABELS || (!known && d->nlabels == SY_CLS_MAX_LABELS)) {
            seterr(err, errlen, "scores.%s: more than %d models", s->string, SY_CLS_MAX_LABELS);
            goto done;
        }
        names[n] = s->string;
        vals[n++] = s->valuedouble;
    }
    if (!n) {
        seterr(err, errlen, "scores: empty");
        goto done;
    }
    if (cont && !cJSON_IsBool(cont) && !cJSON_IsNull(cont)) {
        seterr(err, errlen, "contaminated: must be true or false");
        goto done;
    }
    if (!sy_split_keep(split, ids, ids ? strlen(ids) : 0)) {
        rc = SY_OK;
        goto done;
    }
    const char *p = prompt->valuestring;
    rc = sy_cls_data_add(d, ids, p, strlen(p), names, vals, n);
    if (rc == SY_OK)
        d->rows[d->nrows - 1].contaminated = cJSON_IsTrue(cont);
    else
        seterr(err, errlen, "(root): out of memory");
done:
    cJSON_Delete(j);
    return rc;
}

int sy_cls_data_read(sy_cls_data *d, const char *path, int split, char *err, size_t errlen)
{
    int std = strcmp(path, "-") == 0;
    const char *name = std ? "standard input" : path;
    FILE *f = std ? stdin : fopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "cannot read %s: %s", name, strerror(errno));
        return SY_EIO;
    }
    char *line = NULL, msg[512];
    size_t cap = 0;
    ssize_t n;
    int rc = SY_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        d->lines++;
        size_t k = (size_t)n;
        while (k && is_space((unsigned char)line[k - 1])) k--;
        size_t s0 = 0;
        while (s0 < k && is_space((unsigned char)line[s0])) s0++;
        if (s0 == k) continue;
        if ((rc = data_line(d, line + s0, k - s0, split, msg, sizeof msg)) != SY_OK) {
            seterr(err, errlen, "%s:%zu: %s", name, d->lines, msg);
            break;
        }
    }
    if (rc == SY_OK && ferror(f)) {
        seterr(err, errlen, "cannot read %s: %s", name, strerror(errno));
        rc = SY_EIO;
    }
    free(line);
    if (!std) fclose(f);
    return rc;
}

/* ==== training ============================================================================= */

/* The deduplicated (slot, value) features of every row, in one block. */
typedef struct feats {
    uint32_t *slot;
    float *val;
    size_t *off; /* row r: [off[r], off[r+1]) */
    size_t n, cap;
} feats;

typedef struct collect_sink {
    sink s;
    uint32_t *e; /* the raw entries of one row */
    size_t n, cap;
    int oom;
} collect_sink;

static void collect_flush(sink *s, const uint32_t *e, int n)
{
    collect_sink *cs = (collect_sink *)s;
    if (cs->oom) return;
    if (cs->n + (size_t)n > cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 4096;
        while (cap < cs->n + (size_t)n) cap *= 2;
        uint32_t *p = realloc(cs->e, cap * sizeof *p);
        if (!p) {
            cs->oom = 1;
            return;
        }
        cs->e = p;
        cs->cap = cap;
    }
    memcpy(cs->e + cs->n, e, (size_t)n * sizeof *e);
    cs->n += (size_t)n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int feats_build(feats *F, const sy_cls_data *d, const sy_cls_config *cfg, uint32_t mask)
{
    collect_sink cs;
    memset(&cs, 0, sizeof cs);
    cs.s.flush = collect_flush;
    cs.s.mask = mask;
    if (!(F->off = malloc((d->nrows + 1) * sizeof *F->off))) return SY_ENOMEM;
    const uint32_t smask = (1u << FAM_SHIFT) - 1;
    for (size_t r = 0; r < d->nrows; r++) {
        F->off[r] = F->n;
        cs.n = 0;
        memset(cs.s.count, 0, sizeof cs.s.count);
        featurize(cfg, d->rows[r].text, d->rows[r].len, &cs.s);
        if (cs.oom) goto oom;
        double v[SY_CLS_NFAMILIES];
        for (int fam = 0; fam < SY_CLS_NFAMILIES; fam++)
            v[fam] = cs.s.count[fam] ? 1.0 / sqrt((double)cs.s.count[fam]) : 0;
        /* sort by slot (family in the high bits: sort the slot with the family below it) */
        for (size_t i = 0; i < cs.n; i++)
            cs.e[i] = (cs.e[i] & smask) << 2 | cs.e[i] >> FAM_SHIFT;
        qsort(cs.e, cs.n, sizeof *cs.e, cmp_u32);
        if (F->n + cs.n > F->cap) {
            size_t cap = F->cap ? F->cap * 2 : 1 << 20;
            while (cap < F->n + cs.n) cap *= 2;
            uint32_t *s = realloc(F->slot, cap * sizeof *s);
            if (s) F->slot = s;
            float *fv = realloc(F->val, cap * sizeof *fv);
            if (fv) F->val = fv;
            if (!s || !fv) goto oom;
            F->cap = cap;
        }
        for (size_t i = 0; i < cs.n; i++) {
            uint32_t slot = cs.e[i] >> 2;
            double x = v[cs.e[i] & 3];
            if (F->n > F->off[r] && F->slot[F->n - 1] == slot)
                F->val[F->n - 1] += (float)x;
            else {
                F->slot[F->n] = slot;
                F->val[F->n++] = (float)x;
            }
        }
    }
    F->off[d->nrows] = F->n;
    free(cs.e);
    return SY_OK;
oom:
    free(cs.e);
    return SY_ENOMEM;
}

static void feats_free(feats *F)
{
    free(F->slot);
    free(F->val);
    free(F->off);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* FTRL-proximal weight of a coordinate from its z and n. */
static inline double ftrl_w(double z, double n, const sy_cls_config *cfg)
{
    if (fabs(z) <= cfg->l1) return 0;
    double sgn = z < 0 ? -1 : 1;
    return -(z - sgn * cfg->l1) / ((cfg->beta + sqrt(n)) / cfg->alpha + cfg->l2);
}

int sy_cls_train(sy_classifier **out, const sy_cls_data *d, const sy_cls_config *cfg,
                 sy_cls_progress_fn progress, void *ud, char *err, size_t errlen)
{
    int rc;
    sy_classifier *c = NULL;
    feats F = {0};
    double *z = NULL, *nn = NULL;
    size_t *order = NULL;
    *out = NULL;
    if ((rc = sy_cls_config_check(cfg, err, errlen)) != SY_OK) return rc;
    if (!d->nrows || d->nlabels < 1) {
        seterr(err, errlen, "no training rows");
        return SY_EINVAL;
    }
    const int nl = d->nlabels;
    const size_t slots = (size_t)1 << cfg->hash_bits;
    if (slots * (size_t)nl > MAX_TABLE_FLOATS) {
        seterr(err, errlen, "bits: 2^%d slots × %d models is more than %u weights",
               cfg->hash_bits, nl, MAX_TABLE_FLOATS);
        return SY_EINVAL;
    }
    rc = SY_ENOMEM;
    if (!(c = cls_new(cfg))) goto oom;
    c->cfg.alpha = c->cfg.beta = c->cfg.l1 = c->cfg.l2 = 0;
    c->nl = nl;
    c->rows = (uint32_t)d->nrows;
    for (int l = 0; l < nl; l++)
        if (!(c->labels[l] = sy_strdup(d->labels[l]))) goto oom;
    if (!(c->w = calloc(slots * (size_t)nl, sizeof *c->w))) goto oom;
    /* z and n per (slot, label), the bias last: [slots + 1][nl] */
    if (!(z = calloc((slots + 1) * (size_t)nl, sizeof *z))) goto oom;
    if (!(nn = calloc((slots + 1) * (size_t)nl, sizeof *nn))) goto oom;
    if (!(order = malloc(d->nrows * sizeof *order))) goto oom;
    if (feats_build(&F, d, cfg, c->mask) != SY_OK) goto oom;
    for (int l = 0; l < nl; l++) {
        double sum = 0;
        size_t cnt = 0;
        for (size_t r = 0; r < d->nrows; r++)
            if (!isnan(d->rows[r].scores[l])) {
                sum += d->rows[r].scores[l];
                cnt++;
            }
        c->base_rate[l] = cnt ? (float)(sum / (double)cnt) : 0.0f;
    }
    for (size_t r = 0; r < d->nrows; r++) order[r] = r;
    uint64_t rng = cfg->seed;
    sy_cls_config nopen = *cfg; /* the bias: no penalty */
    nopen.l1 = nopen.l2 = 0;
    for (int ep = 0; ep < cfg->epochs; ep++) {
        for (size_t r = d->nrows; r > 1; r--) { /* Fisher–Yates */
            size_t k = (size_t)(splitmix64(&rng) % r);
            size_t t = order[r - 1];
            order[r - 1] = order[k];
            order[k] = t;
        }
        for (size_t oi = 0; oi < d->nrows; oi++) {
            size_t r = order[oi];
            const sy_cls_row *row = &d->rows[r];
            for (int l = 0; l < nl; l++) {
                double y = row->scores[l];
                if (isnan(y)) continue;
                double *zb = &z[slots * (size_t)nl + (size_t)l];
                double *nb = &nn[slots * (size_t)nl + (size_t)l];
                double wb = ftrl_w(*zb, *nb, &nopen);
                double m = wb;
                for (size_t i = F.off[r]; i < F.off[r + 1]; i++) {
                    size_t k = (size_t)F.slot[i] * (size_t)nl + (size_t)l;
                    m += ftrl_w(z[k], nn[k], cfg) * F.val[i];
                }
                double g = sigmoid(m) - y;
                double s = (sqrt(*nb + g * g) - sqrt(*nb)) / cfg->alpha;
                *zb += g - s * wb;
                *nb += g * g;
                for (size_t i = F.off[r]; i < F.off[r + 1]; i++) {
                    size_t k = (size_t)F.slot[i] * (size_t)nl + (size_t)l;
                    double gi = g * F.val[i];
                    double wi = ftrl_w(z[k], nn[k], cfg);
                    s = (sqrt(nn[k] + gi * gi) - sqrt(nn[k])) / cfg->alpha;
                    z[k] += gi - s * wi;
                    nn[k] += gi * gi;
                }
            }
        }
        if (progress) progress(ud, ep + 1, cfg->epochs);
    }
    for (int l = 0; l < nl; l++)
        c->bias[l] = (float)ftrl_w(z[slots * (size_t)nl + (size_t)l],
                                   nn[slots * (size_t)nl + (size_t)l], &nopen);
    for (size_t k = 0; k < slots; k++) {
        int any = 0;
        for (int l = 0; l < nl; l++) {
            float wv = (float)ftrl_w(z[k * (size_t)nl + (size_t)l], nn[k * (size_t)nl + (size_t)l],
                                     cfg);
            c->w[k * (size_t)nl + (size_t)l] = wv;
            any |= wv != 0.0f;
        }
        c->nonzero += (uint32_t)any;
    }
    *out = c;
    c = NULL;
    rc = SY_OK;
    goto done;
oom:
    seterr(err, errlen, "out of memory");
done:
    feats_free(&F);
    free(order);
    free(nn);
    free(z);
    sy_classifier_free(c);
    return rc;
}

/* ==== the model file =======================================================================
 * Little-endian throughout:
 *   "SYCLSMDL"  u32 version (1)  u64 payload length P
 *   payload (P bytes):
 *     u32 features, u32 hash bits, u32 char min, u32 char max, u32 epochs, u32 rows, u64 seed
 *     u32 labels L; L × { u32 name length, name bytes, f32 bias, f32 base rate }
 *     u32 non-zero slots N; N × { u32 slot (strictly increasing, < 2^bits), f32 w[L] }
 *   u64 FNV-1a 64 of every byte before it */

#define MAGIC "SYCLSMDL"
#define FORMAT_VERSION 1u
#define HEADER_LEN 20 /* magic, version, payload length */

static uint64_t fnv1a64(const unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int sy_cls_serialize(const sy_classifier *c, unsigned char **buf, size_t *len)
{
    const int nl = c->nl;
    const size_t slots = (size_t)c->mask + 1;
    size_t nnz = 0;
    for (size_t k = 0; k < slots; k++)
        for (int l = 0; l < nl; l++)
            if (c->w[k * (size_t)nl + (size_t)l] != 0.0f) {
                nnz++;
                break;
            }
    size_t size = HEADER_LEN + 32 + 4 + 4 + nnz * (4 + 4 * (size_t)nl) + 8;
    for (int l = 0; l < nl; l++) size += 12 + strlen(c->labels[l]);
    unsigned char *b = malloc(size), *p = b;
    if (!b) return SY_ENOMEM;
    memcpy(p, MAGIC, 8);
    put_u32(p + 8, FORMAT_VERSION);
    put_u64(p + 12, size - HEADER_LEN - 8);
    p += HEADER_LEN;
    const uint32_t head[] = {c->cfg.features, (uint32_t)c->cfg.hash_bits,
                             (uint32_t)c->cfg.char_min, (uint32_t)c->cfg.char_max,
                             (uint32_t)c->cfg.epochs, c->rows};
    for (size_t i = 0; i < SY_ARRAY_LEN(head); i++, p += 4) put_u32(p, head[i]);
    put_u64(p, c->cfg.seed);
    p += 8;
    put_u32(p, (uint32_t)nl);
    p += 4;
    for (int l = 0; l < nl; l++) {
        size_t n = strlen(c->labels[l]);
        put_u32(p, (uint32_t)n);
        memcpy(p + 4, c->labels[l], n);
        p += 4 + n;
        put_u32(p, f32_bits(c->bias[l]));
        put_u32(p + 4, f32_bits(c->base_rate[l]));
        p += 8;
    }
    put_u32(p, (uint32_t)nnz);
    p += 4;
    for (size_t k = 0; k < slots; k++) {
        const float *w = c->w + k * (size_t)nl;
        int any = 0;
        for (int l = 0; l < nl; l++) any |= w[l] != 0.0f;
        if (!any) continue;
        put_u32(p, (uint32_t)k);
        p += 4;
        for (int l = 0; l < nl; l++, p += 4) put_u32(p, f32_bits(w[l]));
    }
    put_u64(p, fnv1a64(b, (size_t)(p - b)));
    p += 8;
    *buf = b;
    *len = (size_t)(p - b);
    return SY_OK;
}

/* A bounds-checked reader over the payload. */
typedef struct rd {
    const unsigned char *p;
    size_t len, off;
} rd;

static int rd_u32(rd *r, uint32_t *v)
{
    if (r->len - r->off < 4) return -1;
    *v = get_u32(r->p + r->off);
    r->off += 4;
    return 0;
}

static int rd_f32(rd *r, float *v)
{
    uint32_t u;
    if (rd_u32(r, &u)) return -1;
    *v = bits_f32(u);
    return isfinite(*v) ? 0 : -2;
}

int sy_cls_load_mem(sy_classifier **out, const void *buf, size_t len, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    sy_classifier *c = NULL;
    *out = NULL;
    if (!b || len < 8 || memcmp(b, MAGIC, 8) != 0) {
        seterr(err, errlen, "not a switchyard classifier (bad magic)");
        return SY_EINVAL;
    }
    if (len < HEADER_LEN) {
        seterr(err, errlen, "truncated: %zu bytes, the header alone is %d", len, HEADER_LEN);
        return SY_EINVAL;
    }
    uint32_t version = get_u32(b + 8);
    if (version != FORMAT_VERSION) {
        seterr(err, errlen, "unsupported format version %u (this build reads %u)", version,
               FORMAT_VERSION);
        return SY_EINVAL;
    }
    uint64_t plen = get_u64(b + 12);
    if (plen > len - HEADER_LEN || len - HEADER_LEN - plen < 8) {
        seterr(err, errlen, "truncated: %zu bytes, the header says %llu", len,
               plen > UINT64_MAX - HEADER_LEN - 8 ? 0ull
                                                  : (unsigned long long)(plen + HEADER_LEN + 8));
        return SY_EINVAL;
    }
    if (len - HEADER_LEN - plen > 8) {
        seterr(err, errlen, "%zu bytes after the checksum", (size_t)(len - HEADER_LEN - plen - 8));
        return SY_EINVAL;
    }
    size_t body = HEADER_LEN + (size_t)plen;
    if (fnv1a64(b, body) != get_u64(b + body)) {
        seterr(err, errlen, "checksum mismatch (the file is corrupt)");
        return SY_EINVAL;
    }
    rd r = {b + HEADER_LEN, (size_t)plen, 0};
    uint32_t head[6], nl, nnz;
    const char *what = "truncated payload";
    for (size_t i = 0; i < SY_ARRAY_LEN(head); i++)
        if (rd_u32(&r, &head[i])) goto bad;
    if (r.len - r.off < 8) goto bad;
    sy_cls_config cfg;
    sy_cls_config_default(&cfg);
    cfg.alpha = cfg.beta = cfg.l1 = cfg.l2 = 0;
    cfg.features = head[0];
    cfg.seed = get_u64(r.p + r.off);
    r.off += 8;
    what = "bad feature configuration";
    if (head[1] < SY_CLS_MIN_BITS || head[1] > SY_CLS_MAX_BITS || head[2] < 1 || head[3] > 7 ||
        head[2] > head[3] || !head[0] || (head[0] & ~(unsigned)SY_CLS_F_ALL) ||
        head[4] > SY_CLS_MAX_EPOCHS)
        goto bad;
    cfg.hash_bits = (int)head[1];
    cfg.char_min = (int)head[2];
    cfg.char_max = (int)head[3];
    cfg.epochs = (int)head[4];
    what = "truncated payload";
    if (rd_u32(&r, &nl)) goto bad;
    what = "bad number of labels";
    if (nl < 1 || nl > SY_CLS_MAX_LABELS) goto bad;
    const size_t slots = (size_t)1 << cfg.hash_bits;
    what = "hash table too large for the number of labels";
    if (slots * nl > MAX_TABLE_FLOATS) goto bad;
    if (!(c = cls_new(&cfg))) goto oom;
    c->rows = head[5];
    for (uint32_t l = 0; l < nl; l++) {
        uint32_t n;
        what = "truncated payload";
        if (rd_u32(&r, &n)) goto bad;
        what = "bad label name length";
        if (n < 1 || n > SY_CLS_MAX_LABEL_LEN) goto bad;
        what = "truncated payload";
        if (r.len - r.off < n) goto bad;
        if (!(c->labels[l] = sy_strndup((const char *)r.p + r.off, n))) goto oom;
        c->nl = (int)l + 1;
        what = "bad label name (NUL byte)";
        if (memchr(r.p + r.off, 0, n)) goto bad;
        r.off += n;
        int e1 = rd_f32(&r, &c->bias[l]), e2 = e1 ? 0 : rd_f32(&r, &c->base_rate[l]);
        what = e1 == -1 || e2 == -1 ? "truncated payload" : "non-finite weight";
        if (e1 || e2) goto bad;
    }
    what = "truncated payload";
    if (rd_u32(&r, &nnz)) goto bad;
    what = "more non-zero slots than the table has";
    if (nnz > slots) goto bad;
    what = "truncated payload";
    if ((r.len - r.off) / (4 + 4 * (size_t)nl) < nnz) goto bad;
    if (!(c->w = calloc(slots * nl, sizeof *c->w))) goto oom;
    int64_t last = -1;
    for (uint32_t i = 0; i < nnz; i++) {
        uint32_t slot = 0;
        rd_u32(&r, &slot); /* in bounds: checked above */
        what = "slots out of order or out of range";
        if ((int64_t)slot <= last || slot >= slots) goto bad;
        last = slot;
        for (uint32_t l = 0; l < nl; l++) {
            what = "non-finite weight";
            if (rd_f32(&r, &c->w[(size_t)slot * nl + l])) goto bad;
        }
    }
    c->nonzero = nnz;
    what = "bytes left over in the payload";
    if (r.off != r.len) goto bad;
    *out = c;
    return SY_OK;
bad:
    seterr(err, errlen, "not a valid classifier: %s", what);
    sy_classifier_free(c);
    return SY_EINVAL;
oom:
    seterr(err, errlen, "out of memory");
    sy_classifier_free(c);
    return SY_ENOMEM;
}

int sy_classifier_load(sy_classifier **out, const char *path, char *err, size_t errlen)
{
    char msg[256];
    size_t len = 0;
    if (!out) return SY_EINVAL;
    *out = NULL;
    if (!path) {
        seterr(err, errlen, "no model file given");
        return SY_EINVAL;
    }
    char *buf = sy_file_read(path, &len);
    if (!buf) {
        int e = errno;
        seterr(err, errlen, "cannot read %s: %s", path, strerror(e));
        return e == ENOMEM ? SY_ENOMEM : SY_EIO;
    }
    int rc = sy_cls_load_mem(out, buf, len, msg, sizeof msg);
    if (rc != SY_OK) seterr(err, errlen, "%s: %s", path, msg);
    free(buf);
    return rc;
}

int sy_cls_save(const sy_classifier *c, const char *path, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        seterr(err, errlen, "%s: path too long", path);
        return SY_EINVAL;
    }
    if (sy_cls_serialize(c, &buf, &len) != SY_OK) {
        seterr(err, errlen, "out of memory");
        return SY_ENOMEM;
    }
    int rc = SY_EIO;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        seterr(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    int ok = fwrite(buf, 1, len, f) == len;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    int e = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        seterr(err, errlen, "cannot write %s: %s", tmp, strerror(e ? e : errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        seterr(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = SY_OK;
done:
    free(buf);
    return rc;
}
