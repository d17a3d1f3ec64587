/* sy_chat.h — a Chat Completions request, validated once and then read in place: the body
 * text plus the spans of the fields switchyard uses, with no tree built. Policies, providers
 * and the engine read it through these helpers; anything needing a tree parses on demand.
 * Implemented in sy_chat.c on top of sy_json. */
#ifndef SY_CHAT_H
#define SY_CHAT_H

#include "core/sy_json.h"

typedef struct sy_chat {
    const char *text;          /* the body (borrowed: valid while the request lives) */
    size_t len;
    sy_json_member model, messages, metadata, stream, max_tokens, max_completion_tokens,
        response_format, tools, tool_choice, user; /* type 0 when absent */
    char *model_name;          /* decoded "model" (owned) */
    int streaming;             /* "stream": true */
    int has_stream_options;    /* a "stream_options" member is present */
    int client_usage;          /* "stream_options": {"include_usage": true} */
    int nmessages;
    long ntok[3];              /* prompt tokens per tokenizer (sy_tokens.h), -1 until counted */
} sy_chat;

/* Why a body is not a usable request: what a 400 says. */
typedef struct sy_chat_error {
    char message[200];
    char param[40];            /* "" when none */
    const char *code;
} sy_chat_error;

/* Validates text as a Chat Completions request (a JSON object with a string "model" and a
 * non-empty "messages" array of objects with a string "role"). 0, or -1 with *err filled. */
int sy_chat_parse(sy_chat *c, const char *text, size_t len, sy_chat_error *err);
void sy_chat_free(sy_chat *c);

/* Appends the text of a message's content: a string, or the text parts of an array. */
void sy_chat_content(const sy_chat *c, const sy_json_member *msg, sy_buf *out);
/* Whether a message's "role" is role. */
int sy_chat_role_is(const sy_chat *c, const sy_json_member *msg, const char *role);
/* The requested output budget: max_completion_tokens, else max_tokens, else -1. */
long sy_chat_max_tokens(const sy_chat *c);

#endif
