/* sy_schema_cli.c — `switchyard validate SCHEMA.json [INSTANCE.json|-]`: compiles the schema
 * (sy_schema_compile.c), validates one instance (sy_schema_validate.c) and prints every error
 * on one line. Dispatched from src/cli/sy_main.c; documented in docs/schema.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/sy_schema.h"
#include "core/sy_core.h"

#define CLI_MAX_ERRORS 100

static void cli_usage(FILE *f)
{
    fprintf(f, "usage: switchyard validate [--draft 7|2020-12] [--format] [--first] "
               "SCHEMA.json [INSTANCE.json|-]\n"
               "  validates INSTANCE (default: standard input) against SCHEMA\n"
               "  --draft    the draft for a schema without \"$schema\" (default 2020-12)\n"
               "  --format   assert \"format\" (date-time, email, uuid, ipv4, ipv6, uri, ...)\n"
               "  --first    stop at the first error\n"
               "exit status: 0 valid, 1 invalid (one line per error on stdout:\n"
               "  \"instance_path: message (schema_path)\"), 2 bad usage, schema or file\n");
}

int sy_schema_cli(int argc, char **argv)
{
    sy_schema_opts opts = {SY_DRAFT_AUTO, 0};
    const char *schema_path = NULL, *inst_path = NULL;
    int max = CLI_MAX_ERRORS, rc = 2;
    char *schema_txt = NULL, *inst_txt = NULL;
    sy_schema *s = NULL;
    cJSON *inst = NULL;
    sy_schema_error *errs = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--draft") == 0 && i + 1 < argc) {
            const char *d = argv[++i];
            if (strcmp(d, "7") == 0 || strcmp(d, "07") == 0 || strcmp(d, "draft-07") == 0)
                opts.default_draft = SY_DRAFT_07;
            else if (strcmp(d, "2020-12") == 0 || strcmp(d, "draft2020-12") == 0)
                opts.default_draft = SY_DRAFT_2020_12;
            else {
                fprintf(stderr, "switchyard validate: --draft must be 7 or 2020-12\n");
                goto done;
            }
        } else if (strcmp(a, "--format") == 0) {
            opts.assert_format = 1;
        } else if (strcmp(a, "--first") == 0) {
            max = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_usage(stdout);
            rc = 0;
            goto done;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "switchyard validate: unknown option %s\n", a);
            cli_usage(stderr);
            goto done;
        } else if (!schema_path) {
            schema_path = a;
        } else if (!inst_path) {
            inst_path = a;
        } else {
            fprintf(stderr, "switchyard validate: too many arguments\n");
            cli_usage(stderr);
            goto done;
        }
    }
    if (!schema_path) {
        cli_usage(stderr);
        goto done;
    }
    if (!inst_path) inst_path = "-";
    if (strcmp(schema_path, "-") == 0 && strcmp(inst_path, "-") == 0) {
        fprintf(stderr, "switchyard validate: schema and instance cannot both be stdin\n");
        goto done;
    }
    size_t slen = 0, ilen = 0;
    if (!(schema_txt = sy_file_read(schema_path, &slen))) {
        fprintf(stderr, "switchyard validate: cannot read %s: %s\n", schema_path, strerror(errno));
        goto done;
    }
    char err[512];
    if (!(s = sy_schema_compile_text(schema_txt, slen, &opts, err, sizeof err))) {
        fprintf(stderr, "switchyard validate: %s: %s\n", schema_path, err);
        goto done;
    }
    if (!(inst_txt = sy_file_read(inst_path, &ilen))) {
        fprintf(stderr, "switchyard validate: cannot read %s: %s\n",
                strcmp(inst_path, "-") == 0 ? "standard input" : inst_path, strerror(errno));
        goto done;
    }
    const char *end = NULL;
    if (!(inst = cJSON_ParseWithLengthOpts(inst_txt, ilen, &end, 0))) {
        fprintf(stderr, "switchyard validate: %s: not valid JSON (near byte %zu)\n",
                strcmp(inst_path, "-") == 0 ? "standard input" : inst_path,
                end && end >= inst_txt ? (size_t)(end - inst_txt) : (size_t)0);
        goto done;
    }
    if (!(errs = calloc((size_t)max, sizeof *errs))) {
        fprintf(stderr, "switchyard validate: out of memory\n");
        goto done;
    }
    int n = 0;
    if (sy_schema_validate(s, inst, errs, max, &n)) {
        rc = 0;
        goto done;
    }
    for (int i = 0; i < n; i++)
        printf("%s: %s (%s)\n", errs[i].instance_path[0] ? errs[i].instance_path : "(root)",
               errs[i].message, errs[i].schema_path[0] ? errs[i].schema_path : "(root)");
    fflush(stdout);
    rc = 1;
done:
    free(errs);
    cJSON_Delete(inst);
    free(inst_txt);
    sy_schema_free(s);
    free(schema_txt);
    return rc;
}
