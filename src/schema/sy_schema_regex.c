/* sy_schema_regex.c — "pattern" and "patternProperties" regexes: ECMA-262 syntax compiled
 * with PCRE2 (UTF + UCP, JIT when available). A small rewrite pass first gives the escapes
 * whose meaning differs between the two dialects their ECMA-262 meaning; docs/schema.md lists
 * what still differs. Used by sy_schema_compile.c (compile) and sy_schema_validate.c (match). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/sy_schema_int.h"

/* ECMA-262 WhiteSpace + LineTerminator, which is what \s means there (PCRE2's \s with UCP
 * adds U+0085 and lacks U+FEFF). */
#define ECMA_SPACE                                                                                 \
    "\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"                    \
    "\\x{202f}\\x{205f}\\x{3000}\\x{feff}"
#define ECMA_WORD "A-Za-z0-9_"

static int hexdig(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ECMA-262 spells General_Category values out (\p{Letter}); PCRE2 10.42 knows the short
 * aliases only. */
static const char *const GC_ALIASES[][2] = {
    {"Letter", "L"},
    {"Cased_Letter", "L&"},
    {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"},
    {"Other_Letter", "Lo"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"},
    {"Enclosing_Mark", "Me"},
    {"Number", "N"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Letter_Number", "Nl"},
    {"Other_Number", "No"},
    {"Punctuation", "P"},
    {"punct", "P"},
    {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"},
    {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"},
    {"Other_Punctuation", "Po"},
    {"Symbol", "S"},
    {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"},
    {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"},
    {"Paragraph_Separator", "Zp"},
    {"Other", "C"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Format", "Cf"},
    {"Surrogate", "Cs"},
    {"Private_Use", "Co"},
    {"Unassigned", "Cn"},
};

/* Rewrites the property of \p{...} / \P{...} (name is the text between the braces) into
 * PCRE2's spelling; writes at most cap bytes into out. */
static void property_name(const char *name, size_t len, char *out, size_t cap)
{
    static const char *const gc_prefix[] = {"General_Category=", "gc="};
    static const char *const sc_prefix[] = {"Script=", "sc="};
    static const char *const scx_prefix[] = {"Script_Extensions=", "scx="};
    for (int i = 0; i < 2; i++) {
        size_t pl = strlen(gc_prefix[i]);
        if (len > pl && strncmp(name, gc_prefix[i], pl) == 0) {
            name += pl;
            len -= pl;
            break;
        }
        pl = strlen(sc_prefix[i]);
        if (len > pl && strncmp(name, sc_prefix[i], pl) == 0) {
            snprintf(out, cap, "sc:%.*s", (int)(len - pl), name + pl);
            return;
        }
        pl = strlen(scx_prefix[i]);
        if (len > pl && strncmp(name, scx_prefix[i], pl) == 0) {
            snprintf(out, cap, "scx:%.*s", (int)(len - pl), name + pl);
            return;
        }
    }
    for (size_t i = 0; i < sizeof GC_ALIASES / sizeof GC_ALIASES[0]; i++)
        if (strlen(GC_ALIASES[i][0]) == len && strncmp(GC_ALIASES[i][0], name, len) == 0) {
            snprintf(out, cap, "%s", GC_ALIASES[i][1]);
            return;
        }
    snprintf(out, cap, "%.*s", (int)len, name);
}

/* Reads \uHHHH at p (p at 'u'); returns the code unit or -1. */
static long read_u4(const char *p)
{
    long v = 0;
    for (int k = 1; k <= 4; k++) {
        int h = hexdig((unsigned char)p[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Rewrites an ECMA-262 pattern into PCRE2 syntax with the same meaning for \d \w \s \b
 * (ASCII / ECMA whitespace), \v, \uHHHH (surrogate pairs joined), \u{H...} and '[' inside a
 * class; rejects escapes PCRE2 has and ECMA-262 does not. Returns malloc'd text or NULL with
 * a message in err. */
static char *translate(const char *src, char *err, size_t errlen)
{
    size_t n = strlen(src);
    char *out = malloc(n * 96 + 16), *o = out;
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '[' && !in_class) {
            in_class = 1;
            *o++ = c;
            if (src[i + 1] == '^') *o++ = src[++i];
            continue;
        }
        if (c == '[' && in_class) { /* literal in ECMA; PCRE2 would see [:posix:] */
            *o++ = '\\';
            *o++ = '[';
            continue;
        }
        if (c == ']' && in_class) {
            in_class = 0;
            *o++ = c;
            continue;
        }
        if (c == '(' && src[i + 1] == '?' && !in_class) {
            /* ECMA-262 groups: (?: (?= (?! (?<= (?<! (?<name> -- not PCRE2's others */
            char g = src[i + 2];
            if (g != ':' && g != '=' && g != '!' && g != '<') {
                snprintf(err, errlen, "\"(?%c\" is not ECMA-262 syntax", g ? g : ' ');
                free(out);
                return NULL;
            }
        }
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        char e = src[i + 1];
        if (e == '\0') {
            snprintf(err, errlen, "pattern ends with a backslash");
            free(out);
            return NULL;
        }
        i++;
        const char *rep = NULL;
        char buf[96];
        switch (e) {
        case 'd':
            rep = in_class ? "0-9" : "[0-9]";
            break;
        case 'D':
            rep = in_class ? "\\D" : "[^0-9]";
            break;
        case 'w':
            rep = in_class ? ECMA_WORD : "[" ECMA_WORD "]";
            break;
        case 'W':
            rep = in_class ? "\\W" : "[^" ECMA_WORD "]";
            break;
        case 's':
            rep = in_class ? ECMA_SPACE : "[" ECMA_SPACE "]";
            break;
        case 'S':
            rep = in_class ? "\\S" : "[^" ECMA_SPACE "]";
            break;
        case 'b':
            rep = in_class ? "\\x{08}"
                           : "(?:(?<=[" ECMA_WORD "])(?![" ECMA_WORD "])|(?<![" ECMA_WORD
                             "])(?=[" ECMA_WORD "]))";
            break;
        case 'B':
            if (in_class) {
                snprintf(err, errlen, "\\B is not allowed in a character class");
                free(out);
                return NULL;
            }
            rep = "(?:(?<=[" ECMA_WORD "])(?=[" ECMA_WORD "])|(?<![" ECMA_WORD "])(?![" ECMA_WORD
                  "]))";
            break;
        case 'v':
            rep = "\\x{0b}";
            break;
        case 'p':
        case 'P': {
            const char *close = src[i + 1] == '{' ? strchr(src + i + 2, '}') : NULL;
            if (!close || close - (src + i + 2) > 60) {
                snprintf(err, errlen, "\\%c needs a {property}", e);
                free(out);
                return NULL;
            }
            char prop[80];
            property_name(src + i + 2, (size_t)(close - (src + i + 2)), prop, sizeof prop);
            snprintf(buf, sizeof buf, "\\%c{%s}", e, prop);
            rep = buf;
            i = (size_t)(close - src);
            break;
        }
        case 'u': {
            long cp = -1;
            size_t used = 0;
            if (src[i + 1] == '{') {
                size_t k = i + 2;
                cp = 0;
                while (hexdig((unsigned char)src[k]) >= 0 && cp <= 0x10FFFF)
                    cp = cp * 16 + hexdig((unsigned char)src[k++]);
                if (src[k] != '}' || k == i + 2 || cp > 0x10FFFF) cp = -1;
                used = k - i;
            } else {
                cp = read_u4(src + i);
                used = 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && src[i + 5] == '\\' && src[i + 6] == 'u') {
                    long lo = read_u4(src + i + 6);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        used = 10;
                    }
                }
            }
            if (cp < 0) {
                snprintf(err, errlen, "bad \\u escape");
                free(out);
                return NULL;
            }
            snprintf(buf, sizeof buf, "\\x{%lx}", cp);
            rep = buf;
            i += used;
            break;
        }
        case 'a':
        case 'e':
        case 'A':
        case 'Z':
        case 'z':
        case 'G':
        case 'Q':
        case 'E':
        case 'K':
        case 'h':
        case 'H':
        case 'R':
        case 'X':
        case 'N':
        case 'C':
        case 'g':
        case 'o':
        case 'V':
        case 'l':
        case 'L':
        case 'U':
            snprintf(err, errlen, "\\%c is not an ECMA-262 escape", e);
            free(out);
            return NULL;
        default:
            *o++ = '\\';
            *o++ = e;
            continue;
        }
        size_t rl = strlen(rep);
        memcpy(o, rep, rl);
        o += rl;
    }
    *o = '\0';
    return out;
}

int sy_sregex_compile(sy_sregex *re, const char *pattern, char *err, size_t errlen)
{
    char msg[160];
    re->code = NULL;
    re->src = pattern;
    char *tr = translate(pattern, msg, sizeof msg);
    if (!tr) {
        snprintf(err, errlen, "invalid regular expression \"%s\": %s", pattern, msg);
        return -1;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (cc) pcre2_set_newline(cc, PCRE2_NEWLINE_ANYCRLF);
    int ec = 0;
    PCRE2_SIZE eoff = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY |
                    PCRE2_MATCH_UNSET_BACKREF;
    re->code = pcre2_compile((PCRE2_SPTR)tr, PCRE2_ZERO_TERMINATED, opts, &ec, &eoff, cc);
    pcre2_compile_context_free(cc);
    int same = strcmp(tr, pattern) == 0;
    free(tr);
    if (!re->code) {
        PCRE2_UCHAR emsg[128];
        pcre2_get_error_message(ec, emsg, sizeof emsg);
        if (same)
            snprintf(err, errlen, "invalid regular expression \"%s\": %s at offset %zu", pattern,
                     (const char *)emsg, (size_t)eoff);
        else
            snprintf(err, errlen, "invalid regular expression \"%s\": %s", pattern,
                     (const char *)emsg);
        return -1;
    }
    /* Without JIT (an unsupported CPU) the interpreter runs the same patterns, slower. */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    return 0;
}

void sy_sregex_free(sy_sregex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    re->code = NULL;
}

int sy_sregex_match(const sy_sregex *re, const char *s, size_t len, pcre2_match_data *md,
                    pcre2_match_context *mc)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mc);
    if (rc >= 0) return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}
