/* switchyard.h — the one public header of libswitchyard: open an engine from a config file,
 * serve the OpenAI-compatible gateway, or ask it for routing decisions.
 *
 * Ownership: whoever calls a *_new/_open function frees with the matching *_free; every
 * *_free(NULL) is a no-op. Strings returned by getters are borrowed from the handle and stay
 * valid until the next call on that handle or until it is freed. Errors are negative SY_E*
 * codes; the message is per handle (sy_engine_errmsg), never global. No lua.h, curl.h or
 * cJSON.h is needed to use this header.
 *
 * Threads: one engine is used by one thread at a time. The exceptions are sy_engine_stop and
 * sy_engine_reload_async (any thread, signal handlers included) and sy_engine_reload, which
 * may run while sy_engine_serve runs — but not alongside sy_engine_route on the same engine.
 * Two engines in one process know nothing of each other. */
#ifndef SWITCHYARD_H
#define SWITCHYARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_OK 0
#define SY_ENOMEM (-1)     /* out of memory */
#define SY_EINVAL (-2)     /* bad argument or bad input */
#define SY_ECONFIG (-3)    /* the configuration (or a policy) has errors */
#define SY_EIO (-4)        /* a file or socket could not be used */
#define SY_ENOTFOUND (-5)  /* unknown model or route */
#define SY_EPOLICY (-6)    /* the policy failed; the route's default was used */
#define SY_ESTATE (-7)     /* call not valid in this state */

typedef struct sy_engine sy_engine;

/* curl's global init; idempotent and thread-safe. Call once before creating engines. */
int sy_global_init(void);
const char *sy_version(void);

/* Loads and validates the config at path (and every policy it names). On return *out is
 * set (unless SY_ENOMEM): on failure it holds the problems, one "file:line: key: message"
 * per line, in sy_engine_errmsg(), and must still be freed. */
int sy_engine_open(sy_engine **out, const char *config_path);
void sy_engine_free(sy_engine *eng);
const char *sy_engine_errmsg(const sy_engine *eng);

/* Routes a Chat Completions request (JSON text) without calling any upstream. On SY_OK,
 * *decision_json points to a JSON object owned by the engine (valid until the next call):
 * {"route","policy","kind","model","chain":[..],"reason","tokens","fallback_used"}.
 * `route` overrides the request's "model" field when non-NULL. */
int sy_engine_route(sy_engine *eng, const char *route, const char *request_json, size_t len,
                    const char **decision_json);

/* Like sy_engine_route, and the decision also explains itself: "candidates" lists every
 * registry model with whether the decision kept it and why (its place in the chain, or the
 * context window, capability or policy choice that dropped it) and its estimated cost. */
int sy_engine_explain(sy_engine *eng, const char *route, const char *request_json, size_t len,
                      const char **decision_json);

typedef struct sy_serve_opts {
    const char *listen; /* "HOST:PORT"; NULL = from config */
    int workers;        /* <= 0 = from config */
} sy_serve_opts;

/* Runs the gateway until SIGINT/SIGTERM (or sy_engine_stop). Blocks the calling thread. */
int sy_engine_serve(sy_engine *eng, const sy_serve_opts *opts);
/* Asks a running sy_engine_serve to drain and return. Async-signal-safe. */
void sy_engine_stop(sy_engine *eng);

/* Reloads the config file and every policy, all or nothing: the new snapshot is compiled
 * and checked (policies' own `tests` included) and then published in one swap; requests in
 * flight finish on the old one. On failure the old snapshot stays and sy_engine_errmsg()
 * says why. Safe to call while sy_engine_serve runs (from any thread). */
int sy_engine_reload(sy_engine *eng);
/* Asks a running sy_engine_serve to reload (as on SIGHUP). Async-signal-safe. */
void sy_engine_reload_async(sy_engine *eng);

/* ---- token counting (no engine needed; thread-safe) ---------------------------------------
 * encoding: "cl100k_base" or "o200k_base" — byte-exact with tiktoken's encode_ordinary
 * (special-token text such as "<|endoftext|>" counts as ordinary text). The rank files are
 * loaded once per process from $SWITCHYARD_DATA_DIR/tiktoken, the install's
 * share/switchyard/tiktoken, or the source tree. On error: a negative SY_E* code and a
 * message in err (naming the paths tried when a rank file is missing). */
int sy_tokens_count_text(const char *encoding, const char *text, size_t len, size_t *count,
                         char *err, size_t errlen);
/* *ids is malloc'd (free() it); *n its length. */
int sy_tokens_encode_text(const char *encoding, const char *text, size_t len, uint32_t **ids,
                          size_t *n, char *err, size_t errlen);
/* Prompt tokens of a Chat Completions request body, counted as OpenAI bills it (messages,
 * names, the reply's priming, tool definitions: README "Token counting"). encoding may also
 * be "estimate" (for models whose tokenizer is unknown). */
int sy_tokens_count_chat(const char *encoding, const char *json, size_t len, long *count,
                         char *err, size_t errlen);

/* ---- reports --------------------------------------------------------------------------
 * Summarises a routing-result log (server.request_log) per model into out: share of requests
 * and tokens, cost and cost per 1k tokens, savings, p50/p95 latency, error and fallback rates.
 * SY_EIO (unreadable) or SY_EINVAL (no routing-result lines) with a message in err. */
int sy_report(const char *log_path, FILE *out, char *err, size_t errlen);

/* ---- classifiers ------------------------------------------------------------------------
 * A prompt classifier predicts, per model, the probability that the model answers a prompt
 * well (README "Classifier"; trained by `switchyard train`). A loaded classifier is immutable:
 * any number of threads may call sy_classifier_predict on one at once. Prediction reads the
 * prompt during the call only (stack buffers, no allocation, nothing kept). */
typedef struct sy_classifier sy_classifier;

/* Loads a model file. SY_EIO: unreadable; SY_EINVAL: not a valid model file, and err says
 * what (bad magic, unsupported version, truncated, checksum mismatch, bad sizes); SY_ENOMEM.
 * *out is NULL on failure. */
int sy_classifier_load(sy_classifier **out, const char *path, char *err, size_t errlen);
void sy_classifier_free(sy_classifier *c);
/* The number of labels (models), 1..16. */
int sy_classifier_nlabels(const sy_classifier *c);
/* Label i: a model name from the training data (borrowed, valid until the classifier is
 * freed); NULL when i is out of range. */
const char *sy_classifier_label(const sy_classifier *c, int i);
/* Fills probs[0..nlabels-1] with P(model i answers text well), in label order. text is len
 * bytes (any bytes; need not be NUL-terminated). Returns nlabels, or SY_EINVAL (NULL
 * classifier or probs, nprobs < nlabels, text NULL with len > 0). */
int sy_classifier_predict(const sy_classifier *c, const char *text, size_t len, double *probs,
                          int nprobs);

#ifdef __cplusplus
}
#endif
#endif
