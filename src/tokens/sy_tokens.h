/* sy_tokens.h — token counts of chat requests. For now an estimate (bytes / 4 plus OpenAI's
 * per-message overhead), marked as such wherever it is shown; exact BPE counting
 * (cl100k_base, o200k_base) will replace it behind the same functions. */
#ifndef SY_TOKENS_H
#define SY_TOKENS_H

#include "core/sy_chat.h"

/* Estimated prompt tokens of a Chat Completions request. */
long sy_tokens_estimate_request(const sy_chat *c);

#endif
