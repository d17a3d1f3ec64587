/* sy_classify.h — the prompt classifier's internal API: the train/test split, routing data
 * (JSONL rows with per-model scores), hashed text features, logistic-regression training
 * (FTRL-proximal, one head per model), the model file, and prediction. Implemented in
 * sy_classify.c; `switchyard train|classify` is sy_classify_cli.c. The public part
 * (sy_classifier_load/_predict/...) is in switchyard.h, section "classifiers".
 *
 * Ownership: sy_cls_data_* fill and free a caller-owned sy_cls_data (zero it first or use
 * sy_cls_data_init). A trained or loaded sy_classifier is immutable: any number of threads
 * may call sy_classifier_predict on it at once. Prediction keeps no text: it reads the prompt
 * during the call only, into stack buffers, and allocates nothing. */
#ifndef SY_CLASSIFY_H
#define SY_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "switchyard.h"

/* ---- the split shared with `switchyard eval` -------------------------------------------
 * A row is in the test split iff FNV-1a 32 of its id bytes % 5 == 0 (routellm_train.jsonl:
 * 1,661 test rows, 6,822 train rows). Returns 1 (test) or 0 (train). */
int sy_split_is_test(const char *id, size_t len);
uint32_t sy_fnv1a32(const void *data, size_t len);

enum { SY_SPLIT_ALL = 0, SY_SPLIT_TRAIN = 1, SY_SPLIT_TEST = 2 };
/* "train", "test", "all" → SY_SPLIT_*, or -1. */
int sy_split_parse(const char *name);
/* Whether a row with this id (NULL: no id, which only SY_SPLIT_ALL keeps) is in split. */
int sy_split_keep(int split, const char *id, size_t len);

/* ---- limits ---------------------------------------------------------------------------- */
#define SY_CLS_MAX_LABELS 16      /* models per classifier */
#define SY_CLS_MAX_LABEL_LEN 255  /* bytes of a model name */
#define SY_CLS_MIN_BITS 10        /* hash table: 2^bits slots */
#define SY_CLS_MAX_BITS 24
#define SY_CLS_MAX_EPOCHS 1000
/* Text past this many bytes is not read: a longer prompt is featurised from its first and
 * last SY_CLS_MAX_TEXT / 2 bytes (the task and the question are at the ends), so one
 * prediction costs at most about 40 µs however long the prompt. The length features still see
 * the whole length. */
#define SY_CLS_MAX_TEXT 32768

/* ---- features ---------------------------------------------------------------------------- */
enum {
    SY_CLS_F_WORD1 = 1u << 0, /* lowercase words */
    SY_CLS_F_WORD2 = 1u << 1, /* lowercase word bigrams (with start and end markers) */
    SY_CLS_F_CHAR = 1u << 2,  /* lowercase character n-grams, char_min..char_max bytes */
    SY_CLS_F_DENSE = 1u << 3, /* buckets: length, digits, numbers, lines, options, symbols */
    SY_CLS_F_ALL = 0xf
};
#define SY_CLS_NFAMILIES 4

typedef struct sy_cls_config {
    unsigned features;      /* SY_CLS_F_* */
    int hash_bits;          /* SY_CLS_MIN_BITS..SY_CLS_MAX_BITS */
    int char_min, char_max; /* 1..7, min <= max */
    int epochs;             /* passes over the data, 1..SY_CLS_MAX_EPOCHS */
    uint64_t seed;          /* shuffling order */
    /* FTRL-proximal (McMahan et al. 2013): per-coordinate rate alpha / (beta + sqrt(sum g^2)),
     * l1 and l2 penalties; the bias gets no penalty. */
    double alpha, beta, l1, l2;
} sy_cls_config;

/* The default features (words, bigrams, char 3..5-grams, dense buckets) and training. */
void sy_cls_config_default(sy_cls_config *cfg);
/* The baseline: hashed lowercase word bigrams only, same training. */
void sy_cls_config_words2(sy_cls_config *cfg);
/* "default" or "words2" into cfg's features (other fields kept). 0, or -1 unknown name. */
int sy_cls_config_features(sy_cls_config *cfg, const char *name);
/* Checks the ranges above; 0 or SY_EINVAL with a message. */
int sy_cls_config_check(const sy_cls_config *cfg, char *err, size_t errlen);

/* ---- routing data ---------------------------------------------------------------------- */
typedef struct sy_cls_row {
    char *id;    /* NULL when the row had none */
    char *text;  /* the prompt, NUL-terminated (len bytes, may hold NULs) */
    size_t len;
    float scores[SY_CLS_MAX_LABELS]; /* 0..1 per label; NaN: the row has no score for it */
    int contaminated;
} sy_cls_row;

typedef struct sy_cls_data {
    int nlabels;
    char *labels[SY_CLS_MAX_LABELS]; /* in order of first appearance */
    sy_cls_row *rows;
    size_t nrows, cap;
    size_t lines; /* lines read (sy_cls_data_read), kept or not */
} sy_cls_data;

void sy_cls_data_init(sy_cls_data *d);
void sy_cls_data_free(sy_cls_data *d);
/* Index of label name, added when new. SY_EINVAL (too many, too long, empty) or SY_ENOMEM. */
int sy_cls_data_label(sy_cls_data *d, const char *name);
/* Adds one row: names[i] scored scores[i] (0..1), i < n. id may be NULL. Copies everything.
 * SY_OK, SY_EINVAL (bad score or label) or SY_ENOMEM. */
int sy_cls_data_add(sy_cls_data *d, const char *id, const char *text, size_t len,
                    const char *const *names, const double *scores, int n);
/* Reads a JSONL file ("-": standard input): rows of split with `prompt` and `scores`
 * {model: number 0..1}; `id` and `contaminated` are optional, other keys ignored; blank
 * lines skipped. SY_EIO (unreadable: "cannot read FILE: why") or SY_EINVAL with
 * "FILE:LINE: key: message" for the first bad row; SY_ENOMEM. */
int sy_cls_data_read(sy_cls_data *d, const char *path, int split, char *err, size_t errlen);

/* ---- training and the model file ------------------------------------------------------- */
/* Called after each epoch (done of total) while training; may be NULL. */
typedef void (*sy_cls_progress_fn)(void *ud, int done, int total);

/* Trains one logistic head per label of d on every row (a row without a label's score does
 * not train that head). SY_EINVAL (bad config, no rows), SY_ENOMEM; message in err. */
int sy_cls_train(sy_classifier **out, const sy_cls_data *d, const sy_cls_config *cfg,
                 sy_cls_progress_fn progress, void *ud, char *err, size_t errlen);

typedef struct sy_cls_info {
    sy_cls_config cfg;   /* features, bits, n-grams, epochs, seed (the FTRL fields are 0) */
    uint32_t rows;       /* training rows */
    uint32_t nonzero;    /* hash slots with a non-zero weight */
    float base_rate[SY_CLS_MAX_LABELS]; /* mean score per label in the training rows */
} sy_cls_info;
void sy_cls_info_get(const sy_classifier *c, sy_cls_info *info);

/* The model file in memory (malloc'd into *buf, *len bytes). SY_ENOMEM. */
int sy_cls_serialize(const sy_classifier *c, unsigned char **buf, size_t *len);
/* Parses a model file image; every check of sy_classifier_load. */
int sy_cls_load_mem(sy_classifier **out, const void *buf, size_t len, char *err, size_t errlen);
/* Writes the model file atomically (PATH.tmp.PID, fsync, rename). SY_EIO with a message. */
int sy_cls_save(const sy_classifier *c, const char *path, char *err, size_t errlen);

/* `switchyard train ...` / `switchyard classify ...`; argv[0] is "train" or "classify".
 * Exit codes: 0 ok, 1 data error, 2 usage or unreadable file. */
int sy_classify_cli(int argc, char **argv);

#endif
