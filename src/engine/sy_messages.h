/* sy_messages.h — the inbound Anthropic Messages dialect (POST /v1/messages): a Messages
 * request becomes the one internal request shape (a Chat Completions body) before anything
 * else sees it, and what the engine answers — a chat completion, its stream chunks, its
 * errors — goes back out as Messages. Pure functions over JSON text and cJSON: no I/O. */
#ifndef SY_MESSAGES_H
#define SY_MESSAGES_H

#include <cjson/cJSON.h>

#include "core/sy_core.h"

/* A Messages request body → a Chat Completions body in out ("model" kept as given). 0, or -1
 * with a message for a 400 invalid_request_error in err and the field at fault in param. */
int sy_msg_request_to_chat(const char *body, size_t len, sy_buf *out, char *err, size_t errlen,
                           char *param, size_t paramlen);

/* A chat completion (JSON text) → a Messages response in out, model = the registry id that
 * answered. 0, or -1 when json is not a chat completion. */
int sy_msg_answer_from_chat(const char *json, size_t len, const char *model, sy_buf *out);

/* An OpenAI-style error body {"error":{"message","type","code",...}} → {"type":"error",
 * "error":{"type","message"}} with Anthropic's type for status (and the switchyard details
 * kept beside: code, param, attempts). A body that is not such an object becomes its text as
 * the message. */
void sy_msg_error_body(int status, const char *json, size_t len, sy_buf *out);
/* Anthropic's error type for an HTTP status. */
const char *sy_msg_error_type(int status);
/* Anthropic's stop_reason for an OpenAI finish_reason (NULL → NULL). */
const char *sy_msg_stop_reason(const char *finish_reason);

/* Chat chunks → Messages stream events ("event: X\ndata: {...}\n\n"), in order. */
typedef struct sy_msg_stream {
    char id[80];
    char model[128];
    long input_tokens;      /* for message_start (the engine's own count), -1 unknown */
    long usage_in, usage_out; /* from the upstream's usage, -1 until seen */
    int started;            /* message_start sent */
    int block;              /* index of the open content block, -1 none */
    int nblocks;            /* blocks opened so far */
    int block_tool;         /* the open block is a tool_use (its chat tool index in tool) */
    int tool;
    char stop_reason[32];
    long out_chars;         /* text sent: an output-token estimate when no usage comes */
} sy_msg_stream;

void sy_msg_stream_init(sy_msg_stream *s, const char *id, const char *model, long input_tokens);
/* The events for one chunk (it is not freed). */
void sy_msg_stream_chunk(sy_msg_stream *s, const cJSON *chunk, sy_buf *out);
/* The end: the open block closed, message_delta (stop_reason, usage), message_stop. */
void sy_msg_stream_end(sy_msg_stream *s, sy_buf *out);
/* An error after the stream began: one `error` event. */
void sy_msg_stream_error(sy_msg_stream *s, int status, const char *message, sy_buf *out);

#endif
