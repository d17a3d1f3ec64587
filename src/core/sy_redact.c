/* sy_redact.c — what log_content writes instead of personal data and secrets: e-mail
 * addresses, phone numbers and key-like strings are replaced by [email], [phone], [key]. A
 * heuristic, documented as such: it errs towards redacting (a long token that mixes letters
 * and digits counts as a key). */
#include "core/sy_core.h"

#include <ctype.h>
#include <string.h>

static int word_ch(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.' || c == '+' || c >= 0x80;
}

static int key_ch(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '/' || c == '+' || c == '=';
}

void sy_redact(const char *s, size_t n, sy_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        /* a run of word characters: an e-mail address when it has an @ inside */
        if (word_ch(c) || c == '@') {
            size_t j = i, at = (size_t)-1;
            while (j < n && (word_ch((unsigned char)s[j]) || s[j] == '@')) {
                if (s[j] == '@' && at == (size_t)-1) at = j;
                j++;
            }
            size_t end = j;
            while (end > i && s[end - 1] == '.') end--; /* a sentence's full stop */
            if (at != (size_t)-1 && at > i && memchr(s + at, '.', end - at) && end > at + 3) {
                sy_buf_puts(out, "[email]");
                i = end;
                continue;
            }
            /* key-like: 20+ key characters mixing letters and digits (sk-..., tokens, hashes) */
            size_t k = i;
            int letters = 0, digits = 0;
            while (k < n && key_ch((unsigned char)s[k])) {
                letters += isalpha((unsigned char)s[k]) != 0;
                digits += isdigit((unsigned char)s[k]) != 0;
                k++;
            }
            if (k - i >= 20 && letters && digits) {
                sy_buf_puts(out, "[key]");
                i = k;
                continue;
            }
        }
        /* a phone number: 7+ digits with spaces, dots, dashes, parentheses, a leading + */
        if (isdigit(c) || ((c == '+' || c == '(') && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
            size_t j = i;
            int digits = 0;
            while (j < n && (isdigit((unsigned char)s[j]) || strchr(" .-()+", s[j]))) {
                digits += isdigit((unsigned char)s[j]) != 0;
                j++;
            }
            while (j > i && !isdigit((unsigned char)s[j - 1]) && s[j - 1] != ')') j--;
            if (digits >= 7 && digits <= 15) {
                sy_buf_puts(out, "[phone]");
                i = j;
                continue;
            }
            /* not a phone: copy the digits as they are */
            size_t d = i;
            while (d < n && isdigit((unsigned char)s[d])) d++;
            sy_buf_append(out, s + i, d > i ? d - i : 1);
            i = d > i ? d : i + 1;
            continue;
        }
        /* copy up to the next interesting character */
        size_t j = i + 1;
        while (j < n && !word_ch((unsigned char)s[j]) && s[j] != '@' && !isdigit((unsigned char)s[j]) &&
               s[j] != '+' && s[j] != '(')
            j++;
        if (word_ch(c) || c == '@') { /* a plain word: copy it whole */
            j = i;
            while (j < n && (word_ch((unsigned char)s[j]) || s[j] == '@') && !isdigit((unsigned char)s[j])) j++;
            if (j == i) j = i + 1;
        }
        sy_buf_append(out, s + i, j - i);
        i = j;
    }
}
