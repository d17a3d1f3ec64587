/* sy_tokens.h — token counts of chat requests. For now an estimate (bytes / 4 plus OpenAI's
 * per-message overhead), marked as such wherever it is shown; exact BPE counting
 * (cl100k_base, o200k_base) will replace it behind the same functions. */
#ifndef SY_TOKENS_H
#define SY_TOKENS_H

#include <cjson/cJSON.h>

#include "core/sy_core.h"

/* Appends the text of a message's content (a string, or the text parts of an array). */
void sy_chat_content_text(const cJSON *msg, sy_buf *out);
/* Estimated prompt tokens of a Chat Completions request body. */
long sy_tokens_estimate_request(const cJSON *body);

#endif
