/* sy_unicode.h — the Unicode character classes the tiktoken pre-tokenizers need (sy_bpe.c):
 * a two-level table generated at build time by tools/gen_unicode.c from Debian's unicode-data
 * (UnicodeData.txt general categories, PropList.txt White_Space) into the build directory
 * (sy_unicode_table.c). Read-only data, no initialisation. */
#ifndef SY_UNICODE_H
#define SY_UNICODE_H

#include <stdint.h>

/* One class per code point. White_Space code points are all Zs/Zl/Zp/Cc, so they never overlap
 * a letter, mark or number class. Unassigned, surrogates, private use: SY_UC_OTHER. */
enum {
    SY_UC_OTHER = 0, /* not L, M, N or White_Space: punctuation, symbols, controls, ... */
    SY_UC_WS = 1,    /* White_Space but \r and \n (tiktoken's \s: U+0085 yes, U+FEFF no) */
    SY_UC_NL = 2,    /* \r, \n (White_Space too) */
    SY_UC_LU = 3,
    SY_UC_LL = 4,
    SY_UC_LT = 5,
    SY_UC_LM = 6,
    SY_UC_LO = 7,
    SY_UC_M = 8, /* Mn, Mc, Me */
    SY_UC_N = 9  /* Nd, Nl, No */
};

#define SY_UC_SHIFT 7 /* code points per stage-2 block: 128 */

extern const char sy_uc_version[];    /* "15.0.0" */
extern const uint16_t sy_uc_stage1[]; /* 0x110000 >> SY_UC_SHIFT block numbers */
extern const uint8_t sy_uc_stage2[];  /* blocks of classes; block 0 is U+0000..U+007F */

/* Class of a code point (cp < 0x110000). */
static inline unsigned sy_uc_class(uint32_t cp)
{
    return sy_uc_stage2[((uint32_t)sy_uc_stage1[cp >> SY_UC_SHIFT] << SY_UC_SHIFT) |
                        (cp & ((1u << SY_UC_SHIFT) - 1))];
}

#endif
