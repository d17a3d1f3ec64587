/* sy_tokens.c — chat request token estimate (see sy_tokens.h). */
#include "tokens/sy_tokens.h"

#include <string.h>

void sy_chat_content_text(const cJSON *msg, sy_buf *out)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content)) {
        sy_buf_puts(out, content->valuestring);
    } else if (cJSON_IsArray(content)) {
        for (const cJSON *part = content->child; part; part = part->next) {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(text)) {
                if (out->len) sy_buf_puts(out, "\n");
                sy_buf_puts(out, text->valuestring);
            }
        }
    }
}

long sy_tokens_estimate_request(const cJSON *body)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    size_t bytes = 0;
    long n = 0;
    sy_buf b;
    sy_buf_init(&b);
    for (const cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m; m = m->next) {
        sy_buf_reset(&b);
        sy_chat_content_text(m, &b);
        bytes += b.len;
        n++;
    }
    sy_buf_free(&b);
    /* ~4 bytes per token in English, 3 tokens of overhead per message, 3 for the reply's
     * priming (OpenAI's published rule for its chat models) */
    return (long)((bytes + 3) / 4) + 3 * n + 3;
}
