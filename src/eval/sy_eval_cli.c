/* sy_eval_cli.c — `switchyard eval` and `switchyard replay`: options, then sy_eval_run /
 * sy_replay_run. argv[0] is the command name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/sy_eval.h"

int sy_eval_cli(int argc, char **argv);

static void eval_usage(FILE *f)
{
    fputs("usage: switchyard eval --config FILE --route NAME --data FILE.jsonl [options]\n"
          "  --split train|test|all   rows by id hash (test: FNV-1a of the id %% 5 == 0)\n"
          "  --include-contaminated   keep rows marked \"contaminated\": true\n"
          "  --sweep NAME=FROM:TO:STEP  vary a policy option; writes the cost-quality curve\n"
          "  --sweep-out PREFIX       the curve's files: PREFIX.csv, PREFIX.svg (eval-sweep)\n"
          "  --decisions FILE         one JSON line per row: id, model, kind, chain, reason\n"
          "  --accept-score X         a cascade step is accepted at this score (0.5)\n"
          "  --seed N                 random routing and latency draws (1)\n"
          "  --json                   the report as one JSON object\n"
          "  --no-progress            no progress bar (it shows only on a terminal)\n"
          "usage: switchyard replay --config FILE --route NAME LOG.jsonl [--decisions FILE] [--json]\n",
          f);
}

static int need_value(int argc, char **argv, int i)
{
    if (i + 1 < argc) return 1;
    fprintf(stderr, "switchyard %s: %s needs a value\n", argv[0], argv[i]);
    return 0;
}

static int parse_number(const char *cmd, const char *opt, const char *v, double lo, double hi,
                        double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "switchyard %s: %s must be a number from %g to %g (got \"%s\")\n", cmd, opt,
                lo, hi, v);
        return 0;
    }
    *out = d;
    return 1;
}

static int report(const char *cmd, int rc, sy_buf *err)
{
    if (rc != SY_OK) {
        const char *m = err->data ? err->data : "failed\n";
        /* every line of the problem, prefixed once */
        fprintf(stderr, "switchyard %s: %s", cmd, m);
        if (m[0] && m[strlen(m) - 1] != '\n') fputc('\n', stderr);
    }
    sy_buf_free(err);
    return rc == SY_OK ? 0 : rc == SY_EINVAL || rc == SY_EIO ? 2 : 1;
}

static int cmd_eval(int argc, char **argv)
{
    sy_eval_opts o = {0};
    o.accept_score = 0.5;
    o.seed = 1;
    o.progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int val = strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "--route") == 0 ||
                  strcmp(a, "--data") == 0 || strcmp(a, "--split") == 0 || strcmp(a, "--sweep") == 0 ||
                  strcmp(a, "--sweep-out") == 0 || strcmp(a, "--decisions") == 0 ||
                  strcmp(a, "--accept-score") == 0 || strcmp(a, "--seed") == 0;
        if (val && !need_value(argc, argv, i)) return 2;
        const char *v = val ? argv[++i] : NULL;
        double d;
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) o.config = v;
        else if (strcmp(a, "--route") == 0) o.route = v;
        else if (strcmp(a, "--data") == 0) o.data = v;
        else if (strcmp(a, "--sweep") == 0) o.sweep = v;
        else if (strcmp(a, "--sweep-out") == 0) o.sweep_out = v;
        else if (strcmp(a, "--decisions") == 0) o.decisions = v;
        else if (strcmp(a, "--split") == 0) {
            o.split = sy_split_parse(v);
            if (o.split < 0) {
                fprintf(stderr, "switchyard eval: --split must be train, test or all (got \"%s\")\n", v);
                return 2;
            }
        } else if (strcmp(a, "--accept-score") == 0) {
            if (!parse_number("eval", a, v, 0, 1, &o.accept_score)) return 2;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_number("eval", a, v, 0, 4294967295.0, &d)) return 2;
            o.seed = (uint64_t)d;
        } else if (strcmp(a, "--include-contaminated") == 0) o.include_contaminated = 1;
        else if (strcmp(a, "--json") == 0) o.json = 1;
        else if (strcmp(a, "--no-progress") == 0) o.progress = 0;
        else {
            fprintf(stderr, "switchyard eval: unknown option %s\n", a);
            eval_usage(stderr);
            return 2;
        }
    }
    if (!o.config || !o.route || !o.data) {
        fprintf(stderr, "switchyard eval: needs --config, --route and --data\n");
        eval_usage(stderr);
        return 2;
    }
    sy_buf err;
    sy_buf_init(&err);
    return report("eval", sy_eval_run(&o, stdout, &err), &err);
}

static int cmd_replay(int argc, char **argv)
{
    sy_replay_opts o = {0};
    o.progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int val = strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "--route") == 0 ||
                  strcmp(a, "--decisions") == 0;
        if (val && !need_value(argc, argv, i)) return 2;
        const char *v = val ? argv[++i] : NULL;
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) o.config = v;
        else if (strcmp(a, "--route") == 0) o.route = v;
        else if (strcmp(a, "--decisions") == 0) o.decisions = v;
        else if (strcmp(a, "--json") == 0) o.json = 1;
        else if (strcmp(a, "--no-progress") == 0) o.progress = 0;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "switchyard replay: unknown option %s\n", a);
            eval_usage(stderr);
            return 2;
        } else if (!o.log) o.log = a;
        else {
            fprintf(stderr, "switchyard replay: one log at a time (got %s and %s)\n", o.log, a);
            return 2;
        }
    }
    if (!o.config || !o.route || !o.log) {
        fprintf(stderr, "switchyard replay: needs --config, --route and a routing-result log\n");
        eval_usage(stderr);
        return 2;
    }
    sy_buf err;
    sy_buf_init(&err);
    return report("replay", sy_replay_run(&o, stdout, &err), &err);
}

int sy_eval_cli(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        eval_usage(stdout);
        return 0;
    }
    return strcmp(argv[0], "replay") == 0 ? cmd_replay(argc, argv) : cmd_eval(argc, argv);
}
