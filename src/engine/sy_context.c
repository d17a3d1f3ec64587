/* sy_context.c — context windows: whether a request fits a model (prompt tokens for the
 * model's tokenizer + max_tokens or the model's output reserve), and the truncation
 * strategies a route may ask for when nothing fits (drop_oldest, middle_out). */
#include "engine/sy_engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sy_json.h"
#include "tokens/sy_bpe.h"
#include "tokens/sy_tokens.h"

void sy_fit_check(const sy_chat *c, const sy_model *m, int force_count, sy_fit *f)
{
    long mt = sy_chat_max_tokens(c);
    f->output = mt >= 0 ? mt : (long)m->output_reserve;
    f->estimate = m->tok_kind == SY_TOK_ESTIMATE;
    f->prompt = -1;
    /* the bound needs no tokenizing: most requests fit their models by a wide margin */
    long bound = force_count ? -1 : sy_tokens_request_bound(c);
    if (bound >= 0 && bound <= m->context_window - f->output) {
        f->need = -1;
        f->fits = 1;
        return;
    }
    f->prompt = sy_tokens_request(c, m->tok_kind);
    f->need = f->prompt + f->output;
    f->fits = f->need <= m->context_window;
}

int sy_fit_chain(const sy_chat *c, sy_decision *dec, sy_buf *skipped, sy_fit *largest_miss)
{
    int kept = 0;
    for (int i = 0; i < dec->n; i++) {
        const sy_model *m = dec->models[i];
        sy_fit f;
        sy_fit_check(c, m, 0, &f);
        if (f.fits) {
            dec->models[kept++] = m;
            continue;
        }
        if (skipped) {
            if (skipped->len) sy_buf_puts(skipped, ", ");
            sy_buf_printf(skipped, "%s:context(%ld%s>%lld)", m->id, f.need,
                          f.estimate ? "~" : "", (long long)m->context_window);
        }
        if (largest_miss && (!largest_miss->model ||
                             m->context_window > largest_miss->model->context_window)) {
            *largest_miss = f;
            largest_miss->model = m;
        }
    }
    dec->n = kept;
    return kept;
}

/* ============================================================ truncation */

typedef struct group {
    size_t off, len;   /* the span of its messages in the body: "{..},{..}" */
    long tokens;       /* base tokenizer count of its messages */
    int pinned;        /* system / developer: always kept */
    int first_msg;     /* index of its first message */
    int nmsgs;
    int kept;
} group;

/* Messages grouped so that an assistant message with tool_calls and the tool results that
 * answer it are kept or dropped together (a tool result without its call is a 400 upstream). */
static int make_groups(const sy_chat *c, int kind, group **out)
{
    group *g = calloc((size_t)c->nmessages + 1, sizeof *g);
    if (!g) return -1;
    sy_json_iter it;
    sy_json_member m, tc;
    int n = 0, idx = 0, open_calls = 0;
    sy_json_iter_init(&it, c->text, c->messages.val_off, c->messages.val_len);
    while (sy_json_iter_next(&it, &m)) {
        long t = sy_tokens_message(c, &m, kind);
        int is_tool = sy_chat_role_is(c, &m, "tool");
        if (is_tool && open_calls && n > 0) {
            group *last = &g[n - 1];
            last->len = m.val_off + m.val_len - last->off;
            last->tokens += t;
            last->nmsgs++;
        } else {
            g[n].off = m.val_off;
            g[n].len = m.val_len;
            g[n].tokens = t;
            g[n].pinned = sy_chat_role_is(c, &m, "system") || sy_chat_role_is(c, &m, "developer");
            g[n].first_msg = idx;
            g[n].nmsgs = 1;
            n++;
        }
        open_calls = (sy_chat_role_is(c, &m, "assistant") &&
                      sy_json_get(c->text, m.val_off, m.val_len, "tool_calls", &tc) &&
                      tc.type == 'a' && tc.val_len > 2) ||
                     (is_tool && open_calls);
        idx++;
    }
    *out = g;
    return n;
}

static long kept_total(const group *g, int n, long fixed)
{
    long t = fixed;
    for (int i = 0; i < n; i++)
        if (g[i].kept) t += g[i].tokens;
    return t;
}

/* The body with only the kept groups (and one group's span replaced, if repl_idx >= 0). */
static void build_body(const sy_chat *c, const group *g, int n, int repl_idx, const sy_buf *repl,
                       sy_buf *out)
{
    sy_buf_reset(out);
    sy_buf_append(out, c->text, c->messages.val_off);
    sy_buf_puts(out, "[");
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!g[i].kept) continue;
        if (!first) sy_buf_puts(out, ",");
        first = 0;
        if (i == repl_idx)
            sy_buf_append(out, repl->data, repl->len);
        else
            sy_buf_append(out, c->text + g[i].off, g[i].len);
    }
    sy_buf_puts(out, "]");
    size_t end = c->messages.val_off + c->messages.val_len;
    sy_buf_append(out, c->text + end, c->len - end);
}

/* Drops an incomplete UTF-8 sequence at the end (head) or start (tail) of a cut. */
static size_t utf8_trim_end(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, back++;
    if (i == 0) return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (n - (i - 1) < need) ? i - 1 : n;
}

static size_t utf8_skip_start(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    return i;
}

/* Cuts the middle out of the string content of the group's (single) message so that it
 * loses about `excess` tokens; the new message JSON goes to repl. 0, or -1 if it cannot. */
static int cut_message(const sy_chat *c, const group *g, int kind, long excess, sy_buf *repl,
                       long *new_tokens)
{
    static const char MARK[] = "\n[…]\n";
    sy_json_member content;
    if (!sy_json_get(c->text, g->off, g->len, "content", &content) || content.type != 's') return -1;
    const sy_encoding *e = NULL;
    char err[64];
    e = sy_encoding_get(kind == SY_TOK_CL100K ? "cl100k_base" : "o200k_base", err, sizeof err);
    if (!e) return -1;
    sy_buf text, piece;
    sy_buf_init(&text);
    sy_buf_init(&piece);
    sy_json_string(c->text, content.val_off, content.val_len, &text);
    uint32_t *ids = NULL;
    size_t nids = 0, cap = 0;
    int rc = -1;
    if (sy_bpe_encode(e, text.data ? text.data : "", text.len, &ids, &nids, &cap) != 0) goto out;
    long drop = excess + 8; /* the marker, and re-tokenization at the seams */
    for (int round = 0; round < 6; round++) {
        if ((long)nids <= drop + 2) goto out;
        size_t keep = nids - (size_t)drop, head = keep / 2, tail = keep - head;
        sy_buf_reset(&piece);
        sy_buf_reset(repl);
        if (sy_bpe_decode(e, ids, head, &piece) != 0) goto out;
        size_t hlen = utf8_trim_end(piece.data ? piece.data : "", piece.len);
        piece.len = hlen;
        sy_buf_puts(&piece, MARK);
        size_t mark_end = piece.len;
        if (sy_bpe_decode(e, ids + nids - tail, tail, &piece) != 0) goto out;
        size_t skip = utf8_skip_start(piece.data + mark_end, piece.len - mark_end);
        memmove(piece.data + mark_end, piece.data + mark_end + skip, piece.len - mark_end - skip);
        piece.len -= skip;
        piece.data[piece.len] = '\0';
        /* the message with its content replaced */
        sy_buf_append(repl, c->text + g->off, content.val_off - g->off);
        sy_buf_json_str(repl, piece.data);
        size_t after = content.val_off + content.val_len;
        sy_buf_append(repl, c->text + after, g->off + g->len - after);
        sy_json_member msg = {.val_off = 0, .val_len = repl->len, .type = 'o'};
        sy_chat view = *c;
        view.text = repl->data;
        view.len = repl->len;
        long t = sy_tokens_message(&view, &msg, kind);
        if (t <= g->tokens - excess) {
            *new_tokens = t;
            rc = 0;
            goto out;
        }
        drop += t - (g->tokens - excess) + 4;
    }
out:
    free(ids);
    sy_buf_free(&text);
    sy_buf_free(&piece);
    return rc;
}

int sy_truncate(const sy_chat *c, const sy_model *m, int strategy, sy_buf *out, char *info,
                size_t infolen, char *why, size_t whylen)
{
    int kind = m->tok_kind;
    long mt = sy_chat_max_tokens(c);
    long output = mt >= 0 ? mt : (long)m->output_reserve;
    long limit = m->context_window - output; /* prompt tokens allowed, in the kind's count */
    long fixed = 3 + sy_tokens_tools(c, kind);
    group *g = NULL;
    int n = make_groups(c, kind, &g);
    int rc = -1, removed = 0, cut = -1;
    sy_buf repl;
    sy_buf_init(&repl);
    if (n < 0) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) g[i].kept = 1;
#define FITS() (sy_tokens_scale(kind, kept_total(g, n, fixed)) <= limit)
    if (strategy == SY_TRUNC_DROP_OLDEST) {
        /* the oldest unpinned groups go first; the last group always stays */
        for (int i = 0; i < n - 1 && !FITS(); i++)
            if (!g[i].pinned) g[i].kept = 0, removed += g[i].nmsgs;
    } else {
        /* middle_out: keep the first and the last unpinned groups; drop from the middle of
         * what remains, outwards */
        int idx[1024], k = 0;
        for (int i = 0; i < n && k < 1024; i++)
            if (!g[i].pinned) idx[k++] = i;
        while (!FITS() && k > 2) {
            int mid = k / 2; /* of the inner ones, the nearest the middle */
            g[idx[mid]].kept = 0;
            removed += g[idx[mid]].nmsgs;
            memmove(idx + mid, idx + mid + 1, (size_t)(k - mid - 1) * sizeof *idx);
            k--;
        }
        if (!FITS()) {
            /* still too long: cut the middle out of the longest unpinned message */
            int best = -1;
            for (int i = 0; i < k; i++)
                if (g[idx[i]].nmsgs == 1 && (best < 0 || g[idx[i]].tokens > g[best].tokens))
                    best = idx[i];
            long excess_base = kept_total(g, n, fixed) - (kind == SY_TOK_ESTIMATE ? (long)(limit / 1.25) : limit);
            long t;
            if (best >= 0 && cut_message(c, &g[best], kind, excess_base, &repl, &t) == 0) {
                g[best].tokens = t;
                cut = best;
            }
        }
    }
    long prompt = sy_tokens_scale(kind, kept_total(g, n, fixed));
    if (prompt > limit) {
        snprintf(why, whylen,
                 "%s could not make it fit: what it must keep needs %ld prompt tokens + %ld "
                 "output, and %s's context window is %lld",
                 strategy == SY_TRUNC_DROP_OLDEST ? "drop_oldest" : "middle_out", prompt, output,
                 m->id, (long long)m->context_window);
        goto done;
    }
    build_body(c, g, n, cut, &repl, out);
    snprintf(info, infolen, "%s; removed_messages=%d%s; prompt_tokens=%ld%s; model=%s",
             strategy == SY_TRUNC_DROP_OLDEST ? "drop_oldest" : "middle_out", removed,
             cut >= 0 ? "; cut_message=1" : "", prompt, kind == SY_TOK_ESTIMATE ? "~" : "", m->id);
    rc = 0;
done:
#undef FITS
    sy_buf_free(&repl);
    free(g);
    return rc;
}
