/* sy_prov_anthropic.h — the pure translations of the anthropic adapter (sy_prov_anthropic.c)
 * between the engine's Chat Completions shapes and the Anthropic Messages API: request →
 * payload, answer → chat.completion, one SSE event → chunk objects, error body → message.
 * No I/O: tests/c/test_anthropic.c calls them directly. Internal to src/providers/. */
#ifndef SY_PROV_ANTHROPIC_H
#define SY_PROV_ANTHROPIC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/sy_core.h"

#define SY_ANTH_DEFAULT_MAX_TOKENS 4096

/* A Chat Completions request (JSON text) → the body of POST /messages for model. max_tokens
 * is the request's max_completion_tokens, else max_tokens, else max_output (the model's),
 * else SY_ANTH_DEFAULT_MAX_TOKENS. Returns SY_OK, SY_EINVAL when the request cannot be
 * expressed (err says why, for a 400) or SY_ENOMEM. out is appended to. */
int sy_anth_request(const char *chat, size_t len, const char *model, long max_output,
                    int stream, sy_buf *out, char *err, size_t errn);

/* A Messages response (JSON text) → chat.completion JSON text (malloc'd), created = the
 * given time. NULL (err says why) when the body is not a Messages answer. */
char *sy_anth_answer(const char *body, size_t len, long created, char *err, size_t errn);

/* stop_reason → finish_reason ("stop" for NULL or unknown reasons). */
const char *sy_anth_finish_reason(const char *stop_reason);

/* The state of one streamed answer. Zero it (or sy_anth_stream_init), feed it events, free. */
typedef struct sy_anth_stream {
    char id[128];
    char model[128];
    long created;        /* 0: set from the clock at message_start */
    int role_sent;       /* the first chunk (with delta.role) went out */
    int ntools;          /* tool_use blocks so far: the next tool's index */
    int *tool_of;        /* content block index → tool index, -1 for other blocks */
    int ntool_of;
    double in_tokens;    /* input + cache tokens, from message_start (or message_delta) */
    double out_tokens;
    int finished;        /* message_delta with its stop_reason seen */
    int stopped;         /* message_stop seen: the stream is complete */
} sy_anth_stream;

void sy_anth_stream_free(sy_anth_stream *st);

/* One SSE event (its "event:" name, may be "", and its data) → zero or more
 * chat.completion.chunk objects appended to the cJSON array out. SY_OK, or SY_EINVAL with
 * err filled and *status = 529 for an overloaded_error event (the chain moves on as after an
 * HTTP 529), else 0 (an invalid answer). */
int sy_anth_stream_event(sy_anth_stream *st, const char *event, const char *data, size_t len,
                         cJSON *out, int *status, char *err, size_t errn);

/* An error answer (status, body or NULL) → msg "HTTP 529: Overloaded" (the upstream's
 * message, single line, bounded) and *body_out (malloc'd) an OpenAI error object with the
 * Anthropic error type as code ("context_length_exceeded" for a too long prompt); *body_out
 * stays NULL when body is not an Anthropic error. */
void sy_anth_error(int status, const char *body, char *msg, size_t msgn, char **body_out);

#endif
