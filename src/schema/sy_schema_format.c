/* sy_schema_format.c — the "format" checks the validator asserts when asked to
 * (sy_schema_opts.assert_format): RFC 3339 dates and times, ISO 8601 durations, e-mail
 * (RFC 5321 mailbox), hostnames (RFC 1123, no IDNA), IPv4/IPv6, URIs (RFC 3986, through
 * sy_schema_uri.c), UUIDs, JSON pointers and ECMA-262 regexes (sy_schema_regex.c).
 * Called from sy_schema_validate.c; names looked up at compile time by sy_schema_compile.c. */
#include <string.h>

#include "schema/sy_schema_int.h"

static const struct {
    const char *name;
    sy_sfmt f;
} FORMATS[] = {
    {"date-time", SY_FMT_DATE_TIME},
    {"date", SY_FMT_DATE},
    {"time", SY_FMT_TIME},
    {"duration", SY_FMT_DURATION},
    {"email", SY_FMT_EMAIL},
    {"hostname", SY_FMT_HOSTNAME},
    {"ipv4", SY_FMT_IPV4},
    {"ipv6", SY_FMT_IPV6},
    {"uri", SY_FMT_URI},
    {"uri-reference", SY_FMT_URI_REFERENCE},
    {"uuid", SY_FMT_UUID},
    {"json-pointer", SY_FMT_JSON_POINTER},
    {"relative-json-pointer", SY_FMT_REL_JSON_POINTER},
    {"regex", SY_FMT_REGEX},
};

sy_sfmt sy_sfmt_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
        if (strcmp(FORMATS[i].name, name) == 0) return FORMATS[i].f;
    return SY_FMT_NONE;
}

const char *sy_sfmt_name(sy_sfmt f)
{
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
        if (FORMATS[i].f == f) return FORMATS[i].name;
    return "?";
}

/* ==================================================================== dates and times */

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

/* full-date = YYYY-MM-DD */
static int full_date(const char *s, size_t len)
{
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-') return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) return 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* full-time = HH:MM:SS[.frac](Z|+HH:MM|-HH:MM); a leap second only at 23:59:60 UTC. */
static int full_time(const char *s, size_t len)
{
    int h, m, sec;
    if (len < 9 || s[2] != ':' || s[5] != ':') return 0;
    if (!digits(s, 2, &h) || !digits(s + 3, 2, &m) || !digits(s + 6, 2, &sec)) return 0;
    if (h > 23 || m > 59 || sec > 60) return 0;
    size_t i = 8;
    if (i < len && s[i] == '.') {
        size_t st = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == st) return 0;
    }
    if (i >= len) return 0;
    int off = 0;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        off = 0;
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om)) return 0;
        if (oh > 23 || om > 59) return 0;
        off = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
    } else {
        return 0;
    }
    if (sec == 60) {
        int utc = ((h * 60 + m - off) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59) return 0;
    }
    return 1;
}

static int date_time(const char *s, size_t len)
{
    if (len < 20 || (s[10] != 'T' && s[10] != 't')) return 0;
    return full_date(s, 10) && full_time(s + 11, len - 11);
}

/* ISO 8601 duration as RFC 3339 appendix A: P(nW | date [time] | time) where the units of
 * a part run without gaps (Y then M then D; H then M then S) from any starting unit. */
static int dur_units(const char *s, size_t len, size_t *i, const char *units)
{
    int last = -1, any = 0;
    while (*i < len && s[*i] != 'T') {
        size_t st = *i;
        while (*i < len && s[*i] >= '0' && s[*i] <= '9')
            (*i)++;
        if (*i == st || *i >= len) return -1;
        const char *u = strchr(units, s[*i]);
        if (!u || !*u) return -1;
        int k = (int)(u - units);
        if (last >= 0 && k != last + 1) return -1;
        last = k;
        (*i)++;
        any = 1;
    }
    return any;
}

static int duration(const char *s, size_t len)
{
    size_t i = 1;
    if (len < 2 || s[0] != 'P') return 0;
    size_t k = 1;
    while (k < len && s[k] >= '0' && s[k] <= '9')
        k++;
    if (k > 1 && k == len - 1 && s[k] == 'W') return 1; /* weeks stand alone */
    int date = dur_units(s, len, &i, "YMD");
    if (date < 0) return 0;
    if (i == len) return date;
    i++; /* 'T' */
    int time = dur_units(s, len, &i, "HMS");
    return time > 0 && i == len;
}

/* ============================================================================ network */

static int is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Dotted quad, decimal, no leading zeros. */
static int ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.') return 0;
            i++;
        }
        size_t st = i;
        int v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - st < 3)
            v = v * 10 + (s[i++] - '0');
        size_t n = i - st;
        if (n == 0 || v > 255 || (n > 1 && s[st] == '0')) return 0;
    }
    return i == len;
}

int sy_sfmt_ipv6_host(const char *s, size_t len);
int sy_sfmt_ipv6_host(const char *s, size_t len)
{
    int groups = 0, gap = 0;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 1;
        i = 2;
    } else if (len >= 1 && s[0] == ':') {
        return 0;
    }
    while (i < len) {
        size_t st = i;
        while (i < len && is_hex((unsigned char)s[i]) && i - st < 5)
            i++;
        size_t n = i - st;
        if (i < len && s[i] == '.') { /* an embedded IPv4 ends the address */
            if (!ipv4(s + st, len - st)) return 0;
            groups += 2;
            i = len;
            break;
        }
        if (n == 0 || n > 4) return 0;
        groups++;
        if (i == len) break;
        if (s[i] != ':') return 0;
        i++;
        if (i < len && s[i] == ':') {
            if (gap) return 0;
            gap = 1;
            i++;
            if (i == len) break;
        } else if (i == len) {
            return 0; /* a trailing single colon */
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

static int hostname(const char *s, size_t len)
{
    if (len == 0 || len > 253) return 0;
    size_t i = 0;
    while (i < len) {
        size_t st = i;
        while (i < len && s[i] != '.') {
            int c = (unsigned char)s[i];
            if (!is_alnum(c) && c != '-') return 0;
            i++;
        }
        size_t n = i - st;
        if (n == 0 || n > 63 || s[st] == '-' || s[i - 1] == '-') return 0;
        /* "--" in positions 3-4 is reserved for A-labels ("xn--") */
        if (n >= 4 && s[st + 2] == '-' && s[st + 3] == '-' &&
            !((s[st] == 'x' || s[st] == 'X') && (s[st + 1] == 'n' || s[st + 1] == 'N')))
            return 0;
        if (i < len) {
            i++;
            if (i == len) return 0; /* trailing dot */
        }
    }
    return 1;
}

static int email(const char *s, size_t len)
{
    static const char atext_extra[] = "!#$%&'*+-/=?^_`{|}~";
    size_t at, i = 0;
    if (len == 0) return 0;
    if (s[0] == '"') {
        i = 1;
        while (i < len && s[i] != '"') {
            if (s[i] == '\\')
                i++;
            else if ((unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
                return 0;
            i++;
        }
        if (i >= len) return 0;
        at = i + 1;
        if (at >= len || s[at] != '@' || at == 2) return 0;
    } else {
        at = 0;
        while (at < len && s[at] != '@')
            at++;
        if (at == 0 || at >= len) return 0;
        if (s[0] == '.' || s[at - 1] == '.') return 0;
        for (i = 0; i < at; i++) {
            int c = (unsigned char)s[i];
            if (c == '.') {
                if (s[i + 1] == '.') return 0;
            } else if (!is_alnum(c) && (!c || !strchr(atext_extra, c))) {
                return 0;
            }
        }
    }
    const char *d = s + at + 1;
    size_t dl = len - at - 1;
    if (dl >= 2 && d[0] == '[' && d[dl - 1] == ']') {
        if (dl > 7 && strncmp(d + 1, "IPv6:", 5) == 0) return sy_sfmt_ipv6_host(d + 6, dl - 7);
        return ipv4(d + 1, dl - 2);
    }
    return hostname(d, dl);
}

static int uuid(const char *s, size_t len)
{
    if (len != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!is_hex((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* ======================================================================= JSON pointers */

static int json_pointer(const char *s, size_t len)
{
    if (len > 0 && s[0] != '/') return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1'))) return 0;
    return 1;
}

static int rel_json_pointer(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || (i > 1 && s[0] == '0')) return 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) { /* index manipulation */
        size_t st = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == st || (i - st > 1 && s[st] == '0')) return 0;
    }
    if (i == len) return 1;
    if (s[i] == '#' && i + 1 == len) return 1;
    return json_pointer(s + i, len - i);
}

/* ============================================================================== check */

int sy_sfmt_check(sy_sfmt f, const char *s, size_t len)
{
    /* A NUL inside the string (cJSON keeps the prefix only) never reaches here: len is
     * strlen of what cJSON kept. */
    switch (f) {
    case SY_FMT_NONE:
        return 1;
    case SY_FMT_DATE_TIME:
        return date_time(s, len);
    case SY_FMT_DATE:
        return full_date(s, len);
    case SY_FMT_TIME:
        return full_time(s, len);
    case SY_FMT_DURATION:
        return duration(s, len);
    case SY_FMT_EMAIL:
        return email(s, len);
    case SY_FMT_HOSTNAME:
        return hostname(s, len);
    case SY_FMT_IPV4:
        return ipv4(s, len);
    case SY_FMT_IPV6:
        return sy_sfmt_ipv6_host(s, len);
    case SY_FMT_URI:
        return sy_suri_valid(s, len, 1);
    case SY_FMT_URI_REFERENCE:
        return sy_suri_valid(s, len, 0);
    case SY_FMT_UUID:
        return uuid(s, len);
    case SY_FMT_JSON_POINTER:
        return json_pointer(s, len);
    case SY_FMT_REL_JSON_POINTER:
        return rel_json_pointer(s, len);
    case SY_FMT_REGEX: {
        sy_sregex re;
        char err[8];
        if (strlen(s) != len) return 0;
        if (sy_sregex_compile(&re, s, err, sizeof err) != 0) return 0;
        sy_sregex_free(&re);
        return 1;
    }
    }
    return 1;
}
