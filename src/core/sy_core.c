/* sy_core.c — time, logging, string buffers and OpenAI error bodies (see sy_core.h). */
#include "core/sy_core.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================== time */

uint64_t sy_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double sy_now_ms(void)
{
    return (double)sy_now_ns() / 1e6;
}

int64_t sy_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ===================================================================== logging */

/* The log level is process-wide by nature (it is the process's stderr); it is the one
 * piece of mutable state outside a handle, and it is atomic. */
static atomic_int g_log_level = SY_LOG_INFO;

void sy_log_set_level(int level)
{
    atomic_store(&g_log_level, level);
}

int sy_log_level(void)
{
    return atomic_load(&g_log_level);
}

void sy_log(int level, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < atomic_load(&g_log_level) || level < 0 || level > SY_LOG_ERROR) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level], component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

/* ====================================================================== sy_buf */

void sy_buf_init(sy_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sy_buf_free(sy_buf *b)
{
    if (!b) return;
    free(b->data);
    sy_buf_init(b);
}

void sy_buf_reset(sy_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

int sy_buf_reserve(sy_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return SY_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return SY_ENOMEM;
    b->data = p;
    b->cap = cap;
    return SY_OK;
}

int sy_buf_append(sy_buf *b, const void *data, size_t len)
{
    if (sy_buf_reserve(b, len)) return SY_ENOMEM;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return SY_OK;
}

int sy_buf_puts(sy_buf *b, const char *s)
{
    return sy_buf_append(b, s, strlen(s));
}

int sy_buf_vprintf(sy_buf *b, const char *fmt, va_list ap)
{
    /* one vsnprintf into the free space in the common case; a second only when it grows */
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) return SY_EINVAL;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return SY_OK;
    }
    if (sy_buf_reserve(b, (size_t)n)) return SY_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SY_OK;
}

int sy_buf_printf(sy_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sy_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int sy_buf_json_str(sy_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (sy_buf_reserve(b, strlen(s) + 2)) return SY_ENOMEM;
    if (sy_buf_append(b, "\"", 1)) return SY_ENOMEM;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        const char *out = esc;
        size_t n = 2;
        esc[0] = '\\';
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
            } else {
                out = (const char *)p;
                n = 1;
            }
        }
        if (sy_buf_append(b, out, n)) return SY_ENOMEM;
    }
    return sy_buf_append(b, "\"", 1);
}

char *sy_buf_steal(sy_buf *b)
{
    char *p = b->data;
    if (!p) p = calloc(1, 1);
    sy_buf_init(b);
    return p;
}

/* ===================================================================== strings */

char *sy_strdup(const char *s)
{
    return s ? sy_strndup(s, strlen(s)) : NULL;
}

char *sy_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int sy_strcaseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

uint64_t sy_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    /* final avalanche (splitmix64) so nearby inputs give unrelated seeds */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/* ====================================================================== errors */

int sy_error_body(sy_buf *out, const char *message, const char *type, const char *param,
                  const char *code)
{
    sy_buf_reset(out);
    int rc = sy_buf_puts(out, "{\"error\":{\"message\":");
    rc |= sy_buf_json_str(out, message ? message : "");
    rc |= sy_buf_puts(out, ",\"type\":");
    rc |= sy_buf_json_str(out, type ? type : "server_error");
    rc |= sy_buf_puts(out, ",\"param\":");
    rc |= param ? sy_buf_json_str(out, param) : sy_buf_puts(out, "null");
    rc |= sy_buf_puts(out, ",\"code\":");
    rc |= code ? sy_buf_json_str(out, code) : sy_buf_puts(out, "null");
    rc |= sy_buf_puts(out, "}}");
    return rc ? SY_ENOMEM : SY_OK;
}

const char *sy_error_type_for_status(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: break;
    }
    if (status >= 400 && status < 500) return "invalid_request_error";
    return "server_error";
}

const char *sy_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

char *sy_file_read(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    sy_buf b;
    sy_buf_init(&b);
    char chunk[65536];
    size_t n;
    int oom = 0;
    while (!oom && (n = fread(chunk, 1, sizeof chunk, f)) > 0) oom = sy_buf_append(&b, chunk, n) != SY_OK;
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad || oom || sy_buf_reserve(&b, 1) != SY_OK) {
        sy_buf_free(&b);
        errno = oom ? ENOMEM : bad ? EIO : ENOMEM;
        return NULL;
    }
    *len = b.len;
    b.data[b.len] = '\0';
    return sy_buf_steal(&b);
}

int sy_hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
