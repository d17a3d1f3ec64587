/* sy_classify_cli.c — `switchyard train` (routing data → model file) and `switchyard classify`
 * (model file + prompts → one JSON line of probabilities per prompt). Dispatched from
 * src/cli/sy_main.c; the classifier itself is sy_classify.c. README "Classifier". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "classify/sy_classify.h"
#include "core/sy_core.h"

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: switchyard train --data FILE.jsonl --out MODEL.bin [--split train|test|all]\n"
            "                        [--features default|words2] [--epochs N] [--seed N]\n"
            "                        [--bits N] [--alpha X] [--l1 X] [--l2 X] [--quiet]\n"
            "  trains one logistic head per model named in the rows' \"scores\" and writes the\n"
            "  model file atomically. --split (default train): the rows whose FNV-1a(id) %% 5\n"
            "  is not 0 (train), is 0 (test), or every row (all). --features default: words,\n"
            "  word bigrams, character 3..5-grams, length/number/option buckets; words2: word\n"
            "  bigrams only (the baseline). --bits: 2^N hash slots (default 18). --alpha, --l1,\n"
            "  --l2: FTRL learning rate and penalties.\n"
            "exit status: 0 written, 1 bad data (\"FILE:LINE: key: message\"), 2 bad usage or\n"
            "  unreadable/unwritable file\n");
}

static void classify_usage(FILE *f)
{
    fprintf(f, "usage: switchyard classify --model MODEL.bin [--split train|test|all] "
               "[FILE.jsonl|-]\n"
               "  prints {\"id\":...,\"probs\":{\"<model>\":p,...}} for each row with a "
               "\"prompt\"\n"
               "  (default --split all; standard input when no FILE). Stops at the first bad "
               "line.\n"
               "exit status: 0 ok, 1 bad data (\"FILE:LINE: key: message\"), 2 bad usage or "
               "unreadable file or model\n");
}

/* The value of option argv[*i], or NULL (message printed) when missing. */
static const char *opt_arg(int argc, char **argv, int *i, const char *cmd)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "switchyard %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= 0) || v > 1e6) return -1;
    *out = v;
    return 0;
}

/* ==== train ================================================================================ */

static void progress(void *ud, int done, int total)
{
    (void)ud;
    fprintf(stderr, "\rswitchyard train: epoch %d/%d", done, total);
    if (done == total) fputc('\n', stderr);
}

static int cli_train(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *v;
    int split = SY_SPLIT_TRAIN, quiet = 0, rc = 2;
    long n;
    sy_cls_config cfg;
    sy_cls_config_default(&cfg);
    sy_cls_data d;
    sy_cls_data_init(&d);
    sy_classifier *c = NULL;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            train_usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            fprintf(stderr, "switchyard train: unexpected argument %s\n", a);
            goto usage;
        }
        if (!(v = opt_arg(argc, argv, &i, "train"))) goto usage;
        if (strcmp(a, "--data") == 0) {
            data = v;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            out = v;
        } else if (strcmp(a, "--split") == 0) {
            if ((split = sy_split_parse(v)) < 0) {
                fprintf(stderr, "switchyard train: --split must be train, test or all\n");
                goto usage;
            }
        } else if (strcmp(a, "--features") == 0) {
            if (sy_cls_config_features(&cfg, v) != 0) {
                fprintf(stderr, "switchyard train: --features must be default or words2\n");
                goto usage;
            }
        } else if (strcmp(a, "--epochs") == 0) {
            if (parse_long(v, 1, SY_CLS_MAX_EPOCHS, &n)) {
                fprintf(stderr, "switchyard train: --epochs must be from 1 to %d\n",
                        SY_CLS_MAX_EPOCHS);
                goto usage;
            }
            cfg.epochs = (int)n;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_long(v, 0, 0x7fffffffL, &n)) {
                fprintf(stderr, "switchyard train: --seed must be a number >= 0\n");
                goto usage;
            }
            cfg.seed = (uint64_t)n;
        } else if (strcmp(a, "--bits") == 0) {
            if (parse_long(v, SY_CLS_MIN_BITS, SY_CLS_MAX_BITS, &n)) {
                fprintf(stderr, "switchyard train: --bits must be from %d to %d\n",
                        SY_CLS_MIN_BITS, SY_CLS_MAX_BITS);
                goto usage;
            }
            cfg.hash_bits = (int)n;
        } else if (strcmp(a, "--alpha") == 0 || strcmp(a, "--l1") == 0 ||
                   strcmp(a, "--l2") == 0) {
            double x;
            if (parse_double(v, &x) || (a[2] == 'a' && x == 0)) {
                fprintf(stderr, "switchyard train: %s must be a number >= 0%s\n", a,
                        a[2] == 'a' ? " (not 0)" : "");
                goto usage;
            }
            *(a[2] == 'a' ? &cfg.alpha : a[3] == '1' ? &cfg.l1 : &cfg.l2) = x;
        } else {
            fprintf(stderr, "switchyard train: unknown option %s\n", a);
            goto usage;
        }
    }
    if (!data || !out) {
        fprintf(stderr, "switchyard train: %s\n", !data ? "needs --data FILE.jsonl"
                                                        : "needs --out MODEL.bin");
        goto usage;
    }
    double t0 = sy_now_ms();
    int r = sy_cls_data_read(&d, data, split, err, sizeof err);
    if (r != SY_OK) {
        fprintf(stderr, "switchyard train: %s\n", err);
        rc = r == SY_EIO ? 2 : 1;
        goto done;
    }
    if (!d.nrows) {
        fprintf(stderr, "switchyard train: %s: no rows%s%s\n", data,
                split == SY_SPLIT_ALL ? "" : " in split ",
                split == SY_SPLIT_TRAIN ? "train" : split == SY_SPLIT_TEST ? "test" : "");
        rc = 1;
        goto done;
    }
    double t1 = sy_now_ms();
    int tty = !quiet && isatty(STDERR_FILENO);
    r = sy_cls_train(&c, &d, &cfg, tty ? progress : NULL, NULL, err, sizeof err);
    if (r != SY_OK) {
        fprintf(stderr, "switchyard train: %s\n", err);
        rc = r == SY_EINVAL ? 2 : 1;
        goto done;
    }
    double t2 = sy_now_ms();
    if ((r = sy_cls_save(c, out, err, sizeof err)) != SY_OK) {
        fprintf(stderr, "switchyard train: %s\n", err);
        rc = 2;
        goto done;
    }
    rc = 0;
    if (quiet) goto done;
    struct stat st;
    long long size = stat(out, &st) == 0 ? (long long)st.st_size : -1;
    sy_cls_info info;
    sy_cls_info_get(c, &info);
    fprintf(stderr, "switchyard train: %zu rows of %s (split %s), %d models (base rate):\n",
            d.nrows, data, split == SY_SPLIT_ALL ? "all" : split == SY_SPLIT_TEST ? "test" : "train",
            d.nlabels);
    for (int l = 0; l < d.nlabels; l++)
        fprintf(stderr, "  %-40s %.4f\n", d.labels[l], info.base_rate[l]);
    fprintf(stderr,
            "switchyard train: features %s, 2^%d slots, %d epochs: read %.2f s, trained %.2f s\n"
            "switchyard train: wrote %s (%lld bytes, %u non-zero slots)\n",
            cfg.features == SY_CLS_F_WORD2 ? "words2" : "default", cfg.hash_bits, cfg.epochs,
            (t1 - t0) / 1000, (t2 - t1) / 1000, out, size, info.nonzero);
    goto done;
usage:
    train_usage(stderr);
    rc = 2;
done:
    sy_classifier_free(c);
    sy_cls_data_free(&d);
    return rc;
}

/* ==== classify ============================================================================= */

/* One input line → one output line in out (reset first). SY_OK, SY_ENOTFOUND (not in the
 * split: nothing to print) or SY_EINVAL with "key: message" in err. */
static int classify_line(const sy_classifier *c, int split, const char *line, size_t len,
                         sy_buf *out, char *err, size_t errlen)
{
    int rc = SY_EINVAL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!j) {
        snprintf(err, errlen, "(root): not valid JSON (near byte %zu)",
                 end && end >= line ? (size_t)(end - line) + 1 : (size_t)1);
        return SY_EINVAL;
    }
    const cJSON *id = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
    const cJSON *prompt = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "prompt") : NULL;
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "(root): must be an object");
    } else if (id && !cJSON_IsString(id) && !cJSON_IsNull(id)) {
        snprintf(err, errlen, "id: must be a string");
    } else if (!cJSON_IsString(id) && split != SY_SPLIT_ALL) {
        snprintf(err, errlen, "id: missing (the split is computed from it)");
    } else if (!prompt) {
        snprintf(err, errlen, "prompt: missing");
    } else if (!cJSON_IsString(prompt)) {
        snprintf(err, errlen, "prompt: must be a string");
    } else if (cJSON_IsString(id) &&
               !sy_split_keep(split, id->valuestring, strlen(id->valuestring))) {
        rc = SY_ENOTFOUND;
    } else {
        double probs[SY_CLS_MAX_LABELS];
        const char *p = prompt->valuestring;
        int nl = sy_classifier_predict(c, p, strlen(p), probs, SY_CLS_MAX_LABELS);
        sy_buf_reset(out);
        int e = sy_buf_puts(out, "{\"id\":");
        e |= cJSON_IsString(id) ? sy_buf_json_str(out, id->valuestring) : sy_buf_puts(out, "null");
        e |= sy_buf_puts(out, ",\"probs\":{");
        for (int l = 0; l < nl; l++) {
            e |= l ? sy_buf_puts(out, ",") : 0;
            e |= sy_buf_json_str(out, sy_classifier_label(c, l));
            e |= sy_buf_printf(out, ":%.6g", probs[l]);
        }
        e |= sy_buf_puts(out, "}}\n");
        if (nl < 0 || e) {
            snprintf(err, errlen, "(root): out of memory");
            rc = SY_ENOMEM;
        } else {
            rc = SY_OK;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static int cli_classify(int argc, char **argv)
{
    const char *model = NULL, *input = NULL, *v;
    int split = SY_SPLIT_ALL, rc = 2;
    sy_classifier *c = NULL;
    FILE *f = NULL;
    char *line = NULL;
    sy_buf out;
    sy_buf_init(&out);
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            classify_usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (input) {
                fprintf(stderr, "switchyard classify: more than one input file\n");
                goto usage;
            }
            input = a;
            continue;
        }
        if (!(v = opt_arg(argc, argv, &i, "classify"))) goto usage;
        if (strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) {
            model = v;
        } else if (strcmp(a, "--split") == 0) {
            if ((split = sy_split_parse(v)) < 0) {
                fprintf(stderr, "switchyard classify: --split must be train, test or all\n");
                goto usage;
            }
        } else {
            fprintf(stderr, "switchyard classify: unknown option %s\n", a);
            goto usage;
        }
    }
    if (!model) {
        fprintf(stderr, "switchyard classify: needs --model MODEL.bin\n");
        goto usage;
    }
    if (sy_classifier_load(&c, model, err, sizeof err) != SY_OK) {
        fprintf(stderr, "switchyard classify: %s\n", err);
        goto done;
    }
    if (!input) input = "-";
    int std = strcmp(input, "-") == 0;
    const char *name = std ? "standard input" : input;
    if (!(f = std ? stdin : fopen(input, "rb"))) {
        fprintf(stderr, "switchyard classify: cannot read %s: %s\n", input, strerror(errno));
        goto done;
    }
    size_t cap = 0, lineno = 0;
    ssize_t n;
    rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t k = (size_t)n, s0 = 0;
        while (k && (line[k - 1] == '\n' || line[k - 1] == '\r' || line[k - 1] == ' ' ||
                     line[k - 1] == '\t'))
            k--;
        while (s0 < k && (line[s0] == ' ' || line[s0] == '\t')) s0++;
        if (s0 == k) continue;
        char msg[512];
        int r = classify_line(c, split, line + s0, k - s0, &out, msg, sizeof msg);
        if (r == SY_ENOTFOUND) continue;
        if (r != SY_OK) {
            fflush(stdout);
            fprintf(stderr, "%s:%zu: %s\n", name, lineno, msg);
            rc = 1;
            break;
        }
        if (fwrite(out.data, 1, out.len, stdout) != out.len) {
            fprintf(stderr, "switchyard classify: cannot write the output: %s\n", strerror(errno));
            rc = 1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "switchyard classify: cannot read %s: %s\n", name, strerror(errno));
        rc = 2;
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "switchyard classify: cannot write the output: %s\n", strerror(errno));
        rc = 1;
    }
    goto done;
usage:
    classify_usage(stderr);
    rc = 2;
done:
    if (f && f != stdin) fclose(f);
    free(line);
    sy_buf_free(&out);
    sy_classifier_free(c);
    return rc;
}

int sy_classify_cli(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "train") == 0) return cli_train(argc, argv);
    if (argc >= 1 && strcmp(argv[0], "classify") == 0) return cli_classify(argc, argv);
    fprintf(stderr, "switchyard: sy_classify_cli: unknown command\n");
    return 2;
}
