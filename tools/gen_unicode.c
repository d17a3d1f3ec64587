/* gen_unicode.c — build-time generator of the Unicode class table that the BPE pre-tokenizers
 * (src/tokens/sy_bpe.c) use: reads UnicodeData.txt and PropList.txt (Debian's unicode-data) and
 * writes a C file defining sy_uc_stage1/sy_uc_stage2/sy_uc_version declared in
 * src/tokens/sy_unicode.h. Run by CMake (top-level CMakeLists.txt, add_custom_command).
 * Usage: sy-gen-unicode UnicodeData.txt PropList.txt out.c */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokens/sy_unicode.h"

#define NCP 0x110000u
#define NBLOCKS (NCP >> SY_UC_SHIFT)
#define BLOCK (1u << SY_UC_SHIFT)

/* General category (two letters) -> class; everything not listed is SY_UC_OTHER. */
static int class_of_gc(const char *gc)
{
    if (gc[0] == 'L') {
        switch (gc[1]) {
        case 'u':
            return SY_UC_LU;
        case 'l':
            return SY_UC_LL;
        case 't':
            return SY_UC_LT;
        case 'm':
            return SY_UC_LM;
        case 'o':
            return SY_UC_LO;
        }
        return -1;
    }
    if (gc[0] == 'M') return SY_UC_M;
    if (gc[0] == 'N') return SY_UC_N;
    return SY_UC_OTHER;
}

static int read_unicode_data(const char *path, uint8_t *cls)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[512];
    unsigned long first = 0;
    int in_range = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        /* code;name;gc;... */
        char *name = strchr(line, ';');
        char *gc = name ? strchr(name + 1, ';') : NULL;
        if (!gc) continue;
        unsigned long cp = strtoul(line, NULL, 16);
        int c = class_of_gc(gc + 1);
        if (cp >= NCP || c < 0) {
            fprintf(stderr, "%s:%d: bad line\n", path, lineno);
            fclose(f);
            return -1;
        }
        /* "<CJK Ideograph, First>" .. "<CJK Ideograph, Last>" stand for the whole range */
        if (strstr(name, ", First>;")) {
            first = cp;
            in_range = 1;
            continue;
        }
        if (in_range && strstr(name, ", Last>;")) {
            for (unsigned long x = first; x <= cp; x++)
                cls[x] = (uint8_t)c;
            in_range = 0;
            continue;
        }
        cls[cp] = (uint8_t)c;
    }
    fclose(f);
    return 0;
}

/* White_Space from PropList.txt: those code points become SY_UC_WS (\r and \n SY_UC_NL).
 * Returns the Unicode version from the file's first line ("# PropList-15.0.0.txt"). */
static int read_white_space(const char *path, uint8_t *cls, char *version, size_t vlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[512];
    int n = 0;
    snprintf(version, vlen, "unknown");
    while (fgets(line, sizeof line, f)) {
        const char *v = strstr(line, "# PropList-");
        if (v == line) {
            v += strlen("# PropList-");
            size_t k = 0;
            while (k + 1 < vlen && (isdigit((unsigned char)v[k]) || v[k] == '.'))
                k++;
            if (k && v[k - 1] == '.') k--;
            snprintf(version, vlen, "%.*s", (int)k, v);
        }
        if (line[0] == '#' || !strstr(line, "; White_Space ")) continue;
        char *end;
        unsigned long lo = strtoul(line, &end, 16), hi = lo;
        if (end[0] == '.' && end[1] == '.') hi = strtoul(end + 2, NULL, 16);
        if (hi >= NCP || lo > hi) {
            fprintf(stderr, "%s: bad White_Space line: %s", path, line);
            fclose(f);
            return -1;
        }
        for (unsigned long x = lo; x <= hi; x++) {
            /* White_Space chars are all Zs/Zl/Zp/Cc: never a letter, mark or number */
            if (cls[x] != SY_UC_OTHER) {
                fprintf(stderr, "%s: U+%04lX is White_Space and class %d\n", path, x, cls[x]);
                fclose(f);
                return -1;
            }
            cls[x] = (x == '\r' || x == '\n') ? SY_UC_NL : SY_UC_WS;
            n++;
        }
    }
    fclose(f);
    if (n < 20) {
        fprintf(stderr, "%s: only %d White_Space code points\n", path, n);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s UnicodeData.txt PropList.txt out.c\n", argv[0]);
        return 2;
    }
    int rc = 1;
    uint8_t *cls = calloc(NCP, 1);
    uint16_t *stage1 = calloc(NBLOCKS, sizeof *stage1);
    uint32_t *blocks = calloc(NBLOCKS, sizeof *blocks); /* first code point of each unique block */
    FILE *out = NULL;
    char version[32];
    if (!cls || !stage1 || !blocks) goto fail;
    if (read_unicode_data(argv[1], cls) || read_white_space(argv[2], cls, version, sizeof version))
        goto fail;

    /* two levels: unique 2^SY_UC_SHIFT-code-point blocks; block 0 is U+0000.., so the ASCII
     * classes are sy_uc_stage2[c] directly (sy_bpe.c relies on it) */
    unsigned nb = 0;
    for (unsigned b = 0; b < NBLOCKS; b++) {
        unsigned k;
        for (k = 0; k < nb; k++)
            if (memcmp(cls + blocks[k], cls + b * BLOCK, BLOCK) == 0) break;
        if (k == nb) blocks[nb++] = b * BLOCK;
        stage1[b] = (uint16_t)k;
    }

    out = fopen(argv[3], "w");
    if (!out) {
        perror(argv[3]);
        goto fail;
    }
    fprintf(out,
            "/* sy_unicode_table.c — GENERATED by tools/gen_unicode.c from Unicode %s\n"
            " * (UnicodeData.txt, PropList.txt); do not edit. See src/tokens/sy_unicode.h. */\n"
            "#include \"tokens/sy_unicode.h\"\n\n"
            "const char sy_uc_version[] = \"%s\";\n\n"
            "const uint16_t sy_uc_stage1[%u] = {",
            version, version, NBLOCKS);
    for (unsigned b = 0; b < NBLOCKS; b++)
        fprintf(out, "%s%u,", b % 24 ? "" : "\n", stage1[b]);
    fprintf(out, "\n};\n\nconst uint8_t sy_uc_stage2[%u] = {", nb * BLOCK);
    for (unsigned k = 0; k < nb; k++)
        for (unsigned i = 0; i < BLOCK; i++)
            fprintf(out, "%s%u,", i % 40 ? "" : "\n", cls[blocks[k] + i]);
    fprintf(out, "\n};\n");
    if (fclose(out)) {
        out = NULL;
        perror(argv[3]);
        goto fail;
    }
    out = NULL;
    rc = 0;
fail:
    if (out) fclose(out);
    if (rc) remove(argv[3]);
    free(blocks);
    free(stage1);
    free(cls);
    return rc;
}
