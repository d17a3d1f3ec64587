/* sy_schema.h — JSON Schema (draft 2020-12 and draft-07) over cJSON trees: compile once,
 * validate many times from any number of threads. Implemented in sy_schema_compile.c (scan,
 * $id/$ref resolution, compiled form), sy_schema_validate.c (the validator),
 * sy_schema_regex.c (PCRE2), sy_schema_format.c (format checks), sy_schema_uri.c (RFC 3986,
 * JSON pointers) and sy_schema_cli.c (`switchyard validate`). docs/schema.md is the manual.
 *
 * Ownership: sy_schema_compile copies what it needs from the schema tree, so the caller may
 * free its cJSON right after the call. A compiled sy_schema is immutable: any number of
 * threads may call sy_schema_validate on it at once. sy_schema_free(NULL) is a no-op. */
#ifndef SY_SCHEMA_H
#define SY_SCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct sy_schema sy_schema;

typedef enum { SY_DRAFT_AUTO = 0, SY_DRAFT_07, SY_DRAFT_2020_12 } sy_draft;

typedef struct {
    /* The draft for a schema without "$schema"; SY_DRAFT_AUTO means 2020-12. */
    sy_draft default_draft;
    /* Non-zero: "format" asserts (date-time, date, time, email, hostname, ipv4, ipv6, uri,
     * uri-reference, uuid, json-pointer, relative-json-pointer, regex, duration); unknown
     * formats still pass. Zero (the default): "format" is an annotation only. */
    int assert_format;
} sy_schema_opts;

/* The deepest evaluation (schema applied to instance, $refs included) sy_schema_validate
 * follows before it gives up with an error; also the deepest schema it compiles. */
#define SY_SCHEMA_MAX_DEPTH 512

/* Compiles a schema. opts may be NULL (2020-12, format not asserted). On a bad or
 * unsupported schema returns NULL and writes a message naming the schema path, e.g.
 * `invalid schema at "/properties/a/minLength": must be a non-negative integer, got string`,
 * into err (errlen bytes, may be 0). */
sy_schema *sy_schema_compile(const cJSON *schema, const sy_schema_opts *opts, char *err,
                             size_t errlen);
/* The same from JSON text (len bytes, need not be NUL-terminated). */
sy_schema *sy_schema_compile_text(const char *json, size_t len, const sy_schema_opts *opts,
                                  char *err, size_t errlen);
void sy_schema_free(sy_schema *s);

typedef struct {
    char instance_path[256]; /* JSON pointer into the instance, "" for the root */
    char schema_path[256];   /* keyword location: JSON pointer into the schema, through $refs */
    char message[256];       /* what failed, in words: `expected integer, got string` */
} sy_schema_error;

/* Returns 1 if instance is valid, 0 if not. errs may be NULL or max_errors 0: then only
 * the verdict is computed (the fastest mode). max_errors 1 is the first-error mode; more
 * collects up to that many errors. *nerr (nerr may be NULL) is set to the number filled.
 * Paths longer than the fields end in "...". Safe to call from many threads at once. */
int sy_schema_validate(const sy_schema *s, const cJSON *instance, sy_schema_error *errs,
                       int max_errors, int *nerr);

/* `switchyard validate [--draft 7|2020-12] [--format] SCHEMA.json [INSTANCE.json|-]`:
 * exit 0 valid, 1 invalid (one line per error on stdout: "instance_path: message
 * (schema_path)", the root written "(root)"), 2 bad usage, bad schema or unreadable file.
 * argv[0] is "validate". */
int sy_schema_cli(int argc, char **argv);

#endif
