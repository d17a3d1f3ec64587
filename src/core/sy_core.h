/* sy_core.h — shared basics for every layer: error codes, time, logging, string buffers,
 * OpenAI-style error bodies. Implemented in sy_core.c; depends on nothing but libc + cJSON. */
#ifndef SY_CORE_H
#define SY_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "switchyard.h"

#define SY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- time ---------------------------------------------------------------------------- */
/* Monotonic clock in nanoseconds / milliseconds (CLOCK_MONOTONIC). */
uint64_t sy_now_ns(void);
double sy_now_ms(void);
/* Wall clock, milliseconds since the epoch. */
int64_t sy_wall_ms(void);

/* ---- logging ------------------------------------------------------------------------- */
/* One line per call on stderr: "2026-11-28T01:02:03.456Z level component: message".
 * Never pass prompt content or secrets. Thread-safe (one write(2) per line). */
enum { SY_LOG_DEBUG = 0, SY_LOG_INFO = 1, SY_LOG_WARN = 2, SY_LOG_ERROR = 3, SY_LOG_OFF = 4 };
void sy_log_set_level(int level);
int sy_log_level(void);
void sy_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- growable string buffer ---------------------------------------------------------- */
typedef struct sy_buf {
    char *data; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} sy_buf;

void sy_buf_init(sy_buf *b);
void sy_buf_free(sy_buf *b);
void sy_buf_reset(sy_buf *b);
int sy_buf_reserve(sy_buf *b, size_t extra);
int sy_buf_append(sy_buf *b, const void *data, size_t len);
int sy_buf_puts(sy_buf *b, const char *s);
int sy_buf_printf(sy_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sy_buf_vprintf(sy_buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal (quotes included). */
int sy_buf_json_str(sy_buf *b, const char *s);
/* Take ownership of the bytes (caller frees); leaves b empty. */
char *sy_buf_steal(sy_buf *b);

/* A whole file ("-": standard input), NUL-terminated, malloc'd; *len its length. NULL with
 * errno set (ENOENT, EIO, ENOMEM, ...) on failure. */
char *sy_file_read(const char *path, size_t *len);

/* Appends s with e-mail addresses, phone numbers and key-like strings replaced by [email],
 * [phone] and [key] (sy_redact.c): what server.log_content writes. */
void sy_redact(const char *s, size_t n, sy_buf *out);

/* ---- strings ------------------------------------------------------------------------- */
char *sy_strdup(const char *s);
char *sy_strndup(const char *s, size_t n);
int sy_strcaseeq(const char *a, const char *b);
/* FNV-1a 64-bit, for content hashes and deterministic seeds. */
uint64_t sy_hash64(const void *data, size_t len, uint64_t seed);

/* ---- OpenAI-style errors -------------------------------------------------------------- */
/* Writes {"error":{"message":..,"type":..,"param":..|null,"code":..|null}} into out
 * (reset first). param/code may be NULL. Returns 0 or SY_ENOMEM. */
int sy_error_body(sy_buf *out, const char *message, const char *type, const char *param,
                  const char *code);
/* The conventional error type for an HTTP status ("invalid_request_error", ...). */
const char *sy_error_type_for_status(int status);
const char *sy_http_reason(int status);

/* The value of a hex digit (either case), -1 for anything else (NUL included). */
int sy_hexval(int c);

#endif
