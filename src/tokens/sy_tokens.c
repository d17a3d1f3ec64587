/* sy_tokens.c — chat request token estimate (see sy_tokens.h). */
#include "tokens/sy_tokens.h"

long sy_tokens_estimate_request(const sy_chat *c)
{
    sy_json_iter it;
    sy_json_member m, content;
    size_t bytes = 0;
    long n = 0;
    sy_json_iter_init(&it, c->text, c->messages.val_off, c->messages.val_len);
    while (sy_json_iter_next(&it, &m)) {
        /* the content's span is close enough for an estimate: no decoding needed */
        if (sy_json_get(c->text, m.val_off, m.val_len, "content", &content))
            bytes += content.val_len;
        n++;
    }
    /* ~4 bytes per token in English, 3 tokens of overhead per message, 3 for the reply's
     * priming (OpenAI's published rule for its chat models) */
    return (long)((bytes + 3) / 4) + 3 * n + 3;
}
