/* sy_tokens.h — the token count of a Chat Completions request, the way OpenAI bills it, for
 * the tokenizer of a given model: exact BPE (cl100k_base, o200k_base; sy_bpe.c) or, for models
 * whose tokenizer is unknown, a documented estimate. The rule (README "Token counting"):
 *
 *   every message     3 tokens + the tokens of each of its string fields (role, content,
 *                     name, tool_call_id, refusal); +1 when it has a "name"
 *   content parts     text parts counted as text; an image 85 tokens at detail "low", else
 *                     765 (a 1024x1024 image at high detail: OpenAI's tile rule, the size
 *                     being unknown without fetching it)
 *   tool calls        3 + the tokens of the function's name and of its arguments, per call
 *   the reply         3 tokens of priming
 *   tools             OpenAI cookbook's num_tokens_for_tools: per function 7 (o200k) or
 *                     10 (cl100k) + "name:description", 3 + per property 3 +
 *                     "name:type:description" (+ per enum value 3 + its tokens, -3 once), and
 *                     12 at the end
 *   estimate          ceil(1.25 x the o200k_base count): leans high, so a context-window
 *                     check errs on the safe side for other vendors' tokenizers
 *
 * Source: OpenAI cookbook "How to count tokens with tiktoken" (num_tokens_from_messages and
 * num_tokens_for_tools). Special-token text such as "<|endoftext|>" counts as ordinary text.
 * The count of a request is memoised in its sy_chat (per tokenizer). */
#ifndef SY_TOKENS_H
#define SY_TOKENS_H

#include <stddef.h>

#include "core/sy_chat.h"

enum { SY_TOK_CL100K = 0, SY_TOK_O200K = 1, SY_TOK_ESTIMATE = 2, SY_TOK_NKINDS = 3 };

/* "cl100k_base", "o200k_base", "estimate" → SY_TOK_*, or -1. */
int sy_tok_kind(const char *name);
const char *sy_tok_kind_name(int kind);
/* The tokenizer of an OpenAI model name (gpt-4o, o3, gpt-4.1 → o200k; gpt-4, gpt-3.5 →
 * cl100k), SY_TOK_ESTIMATE for anything else. */
int sy_tok_kind_guess(const char *upstream_model);
/* Loads the rank file a kind needs (once per process, shared read-only). 0, or -1 with a
 * message naming the paths tried. */
int sy_tokens_init(int kind, char *err, size_t errlen);

/* Tokens of text in kind (estimate: scaled o200k). */
long sy_tokens_text(int kind, const char *s, size_t n);
/* The unscaled parts of a request's count, in the base tokenizer of kind (o200k for an
 * estimate); sy_tokens_scale turns their sum into the kind's count. */
long sy_tokens_message(const sy_chat *c, const sy_json_member *msg, int kind);
long sy_tokens_tools(const sy_chat *c, int kind);
long sy_tokens_scale(int kind, long base_count);
/* Prompt tokens of the whole request in kind (memoised in c). */
long sy_tokens_request(const sy_chat *c, int kind);
/* A cheap upper bound of sy_tokens_request for any kind, without tokenizing; LONG_MAX when
 * the request has parts no bound is known for (images, audio). */
long sy_tokens_request_bound(const sy_chat *c);

#endif
