/* sy_chat.c — validate a Chat Completions body once, read its fields in place (sy_chat.h). */
#include "core/sy_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(sy_chat_error *err, const char *param, const char *code, const char *msg)
{
    snprintf(err->message, sizeof err->message, "%s", msg);
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    err->code = code;
}

int sy_chat_parse(sy_chat *c, const char *text, size_t len, sy_chat_error *err)
{
    sy_json_member top[48];
    sy_json_top info;
    size_t at = 0;
    memset(c, 0, sizeof *c);
    for (int k = 0; k < 3; k++) c->ntok[k] = -1;
    c->text = text;
    c->len = len;
    if (sy_json_scan(text, len, top, 48, &info, &at) != 0) {
        char msg[120];
        snprintf(msg, sizeof msg,
                 "We could not parse the JSON body of your request (error near byte %zu)", at);
        set_err(err, NULL, "invalid_json", msg);
        return -1;
    }
    if (info.type != 'o') {
        set_err(err, NULL, "invalid_json", "the request body must be a JSON object");
        return -1;
    }
    /* the fields we use, wherever they are (more than 48 members: walk them all) */
    sy_json_iter it;
    sy_json_member m;
    sy_json_iter_init(&it, text, info.start, info.end - info.start);
    while (sy_json_iter_next(&it, &m)) {
        const char *k = text + m.key_off;
        size_t n = m.key_len;
#define FIELD(name)                                                                        \
    if (n == sizeof #name - 1 && memcmp(k, #name, n) == 0) {                               \
        c->name = m;                                                                       \
        continue;                                                                          \
    }
        FIELD(model) FIELD(messages) FIELD(metadata) FIELD(stream) FIELD(max_tokens)
        FIELD(max_completion_tokens) FIELD(response_format) FIELD(tools) FIELD(tool_choice)
        FIELD(user)
#undef FIELD
    }
    if (!c->model.type) {
        set_err(err, "model", "missing_required_parameter", "you must provide a model parameter");
        return -1;
    }
    if (c->model.type != 's' || c->model.val_len <= 2) {
        set_err(err, "model", "invalid_type", "'model' must be a non-empty string");
        return -1;
    }
    if (!c->messages.type) {
        set_err(err, "messages", "missing_required_parameter",
                "'messages' is required and must be a non-empty array");
        return -1;
    }
    if (c->messages.type != 'a') {
        set_err(err, "messages", "invalid_type", "'messages' must be an array");
        return -1;
    }
    sy_json_iter_init(&it, text, c->messages.val_off, c->messages.val_len);
    while (sy_json_iter_next(&it, &m)) {
        sy_json_member role;
        if (m.type != 'o' || !sy_json_get(text, m.val_off, m.val_len, "role", &role) ||
            role.type != 's') {
            char msg[100], param[40];
            snprintf(msg, sizeof msg, "messages[%d] must be an object with a string 'role'",
                     c->nmessages);
            snprintf(param, sizeof param, "messages[%d].role", c->nmessages);
            set_err(err, param, "invalid_type", msg);
            return -1;
        }
        c->nmessages++;
    }
    if (c->nmessages == 0) {
        set_err(err, "messages", "missing_required_parameter",
                "'messages' is required and must be a non-empty array");
        return -1;
    }
    if (c->stream.type && c->stream.type != 't' && c->stream.type != 'f' && c->stream.type != 'z') {
        set_err(err, "stream", "invalid_type", "'stream' must be a boolean");
        return -1;
    }
    c->streaming = c->stream.type == 't';
    sy_json_member so, iu;
    if (c->streaming && sy_json_get(text, info.start, info.end - info.start, "stream_options", &so)) {
        c->has_stream_options = 1;
        c->client_usage = so.type == 'o' && sy_json_get(text, so.val_off, so.val_len, "include_usage", &iu) &&
                          iu.type == 't';
    }
    sy_buf name;
    sy_buf_init(&name);
    if (sy_json_string(text, c->model.val_off, c->model.val_len, &name) != SY_OK) {
        sy_buf_free(&name);
        set_err(err, NULL, NULL, "out of memory");
        return -1;
    }
    c->model_name = sy_buf_steal(&name);
    return 0;
}

void sy_chat_free(sy_chat *c)
{
    if (!c) return;
    free(c->model_name);
    c->model_name = NULL;
}

void sy_chat_content(const sy_chat *c, const sy_json_member *msg, sy_buf *out)
{
    sy_json_member content, part, text;
    if (!sy_json_get(c->text, msg->val_off, msg->val_len, "content", &content)) return;
    if (content.type == 's') {
        sy_json_string(c->text, content.val_off, content.val_len, out);
    } else if (content.type == 'a') {
        sy_json_iter it;
        sy_json_iter_init(&it, c->text, content.val_off, content.val_len);
        while (sy_json_iter_next(&it, &part)) {
            if (part.type != 'o' || !sy_json_get(c->text, part.val_off, part.val_len, "text", &text) ||
                text.type != 's')
                continue;
            if (out->len) sy_buf_puts(out, "\n");
            sy_json_string(c->text, text.val_off, text.val_len, out);
        }
    }
}

int sy_chat_role_is(const sy_chat *c, const sy_json_member *msg, const char *role)
{
    sy_json_member r;
    return sy_json_get(c->text, msg->val_off, msg->val_len, "role", &r) &&
           sy_json_string_eq(c->text, &r, role);
}

long sy_chat_max_tokens(const sy_chat *c)
{
    const sy_json_member *m = c->max_completion_tokens.type == 'n' ? &c->max_completion_tokens
                              : c->max_tokens.type == 'n'          ? &c->max_tokens
                                                                   : NULL;
    if (!m) return -1;
    double v = sy_json_number(c->text, m->val_off, m->val_len);
    return v >= 0 && v < 1e12 ? (long)v : -1;
}
