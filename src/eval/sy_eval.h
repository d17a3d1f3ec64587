/* sy_eval.h — offline evaluation of a route's policy on a labelled data set (`switchyard
 * eval`) and the counterfactual of a candidate policy on a routing-result log (`switchyard
 * replay`). Both run the route's real policy in the same sandboxed VM as `serve`, and call no
 * upstream. The CLI lives in sy_eval_cli.c; the report format is in README "Evaluating a
 * policy". */
#ifndef SY_EVAL_H
#define SY_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "classify/sy_classify.h" /* the train/test split (SY_SPLIT_*), shared with train */
#include "core/sy_core.h"

#define SY_EVAL_MAX_LABELS 16 /* models in one data set */
#define SY_EVAL_MAX_GROUPS 32 /* task groups reported; the last collects the rest */
#define SY_EVAL_MAX_SWEEP 1000  /* values of one --sweep */


typedef struct sy_eval_opts {
    const char *config;
    const char *route;
    const char *data;
    int split;                 /* SY_SPLIT_* */
    int include_contaminated;  /* rows marked "contaminated": true are left out unless set */
    double accept_score;       /* a cascade step is accepted when its score reaches this */
    const char *sweep;         /* "name=from:to:step", or NULL */
    const char *sweep_out;     /* prefix of the .csv and .svg files of a sweep */
    const char *decisions;     /* one JSON line per row, or NULL */
    int json;                  /* the report as one JSON object */
    int progress;              /* a progress bar on stderr */
    uint64_t seed;             /* random routing and latency draws */
} sy_eval_opts;

/* Runs the evaluation and writes the report to out. 0 on success; on failure the message
 * ("file:line: key: message" for data errors) is in err and the return is SY_EINVAL (bad
 * input), SY_EIO (unreadable file) or SY_ECONFIG (the config). */
int sy_eval_run(const sy_eval_opts *o, FILE *out, sy_buf *err);

typedef struct sy_replay_opts {
    const char *config;
    const char *route;         /* the candidate: a route of config */
    const char *log;           /* a routing-result log (server.request_log) */
    const char *decisions;     /* one JSON line per replayed request, or NULL */
    int json;
    int progress;
} sy_replay_opts;

int sy_replay_run(const sy_replay_opts *o, FILE *out, sy_buf *err);

#endif
