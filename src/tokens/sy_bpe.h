/* sy_bpe.h — exact tiktoken BPE token counting, encoding and decoding for cl100k_base and
 * o200k_base: the result is byte-for-byte OpenAI tiktoken's `encode_ordinary` (special-token
 * text such as "<|endoftext|>" is ordinary text). Implemented in sy_bpe.c with the Unicode class
 * table of sy_unicode.h; checked against golden vectors by tests/c/test_bpe.c.
 *
 * Ownership: an encoding from sy_encoding_get() is loaded once per process, shared read-only by
 * every thread and never freed (it is immutable data, like a compiled-in table: the one
 * process-wide state of this layer). sy_encoding_load() gives a private copy that its caller
 * frees with sy_encoding_free() (tests, tools). All other functions are thread-safe and keep no
 * state between calls.
 *
 * Text is UTF-8. Invalid UTF-8 never reaches OpenAI's tiktoken (its API takes a str), so this
 * is our rule, chosen so that counts stay meaningful and decode(encode(x)) == x for any bytes:
 * the pre-tokenizer sees each maximal subpart of an ill-formed sequence (Unicode 15 §3.9,
 * exactly where Rust's String::from_utf8_lossy, Python's errors="replace" and the WHATWG
 * TextDecoder put one U+FFFD) as one U+FFFD, a symbol; the ORIGINAL bytes of each piece are
 * then BPE-encoded. For valid UTF-8 the ids are tiktoken's.
 *
 * Unicode version: the character classes come from Debian's unicode-data (15.0.0 on Debian
 * 12), generated at build time; tiktoken uses the tables of the Rust regex crate it was built
 * with (npm tiktoken 1.0.22: regex-syntax 0.8.5, Unicode 16.0). Characters assigned after 15.0
 * are symbols here and may split differently. tests/tokens/README.md has the details. */
#ifndef SY_BPE_H
#define SY_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/sy_core.h"

typedef struct sy_encoding sy_encoding;

/* "cl100k_base" or "o200k_base"; loads on first use (thread-safe: concurrent first calls load
 * once). NULL and a message in err (naming the paths tried) when unknown or the rank file is
 * missing/corrupt; a later call tries again. The rank file is searched, first found wins:
 *   $SWITCHYARD_DATA_DIR/tiktoken/<name>.tiktoken
 *   <dir of sy_tokens_set_data_dir()>/tiktoken/<name>.tiktoken
 *   <directory of /proc/self/exe>/../share/switchyard/tiktoken/<name>.tiktoken  (installed)
 *   <source tree>/data/tiktoken/<name>.tiktoken                              (build tree)
 * The pointer is valid until process exit. err may be NULL. */
const sy_encoding *sy_encoding_get(const char *name, char *err, size_t errlen);
const char *sy_encoding_name(const sy_encoding *e);
/* Data directory (holding tiktoken/) searched after $SWITCHYARD_DATA_DIR; copied; NULL clears.
 * Affects only encodings not loaded yet. */
void sy_tokens_set_data_dir(const char *dir);

/* Exact count of encode_ordinary(text). Uses < 8 KB of stack and allocates nothing, but for a
 * pre-tokenizer piece longer than 256 bytes that is not one token (a run of letters, of
 * punctuation or of whitespace with no split point): its merge allocates 28 bytes per byte of
 * the piece for the call; if that fails the piece counts as its length in bytes, an upper
 * bound. Time: O(n log n) in the longest piece, linear in the number of pieces. */
size_t sy_bpe_count(const sy_encoding *e, const char *text, size_t len);
/* Token ids appended to *ids (realloc'd as needed, *cap its capacity; *ids may be NULL with
 * *cap 0); *n is the number of ids in *ids and grows. Returns 0 or -1 (ENOMEM: *ids, *n, *cap
 * stay consistent, with the ids appended so far). */
int sy_bpe_encode(const sy_encoding *e, const char *text, size_t len, uint32_t **ids, size_t *n,
                  size_t *cap);
/* Bytes of the ids appended to out (special-token ids decode to their text, e.g.
 * "<|endoftext|>"). 0, or -1 on an unknown id (errno EINVAL) or out of memory (errno ENOMEM);
 * on -1 out is as it was before the call. */
int sy_bpe_decode(const sy_encoding *e, const uint32_t *ids, size_t n, sy_buf *out);

/* ---- for tests, tools and the benchmark ------------------------------------------------ */
/* Loads <data_dir>/tiktoken/<name>.tiktoken only (no search, no sharing) into *out, which the
 * caller frees with sy_encoding_free. 0, or SY_EINVAL (unknown name), SY_EIO (missing or
 * corrupt file: err says which path and line), SY_ENOMEM. */
int sy_encoding_load(const char *name, const char *data_dir, sy_encoding **out, char *err,
                     size_t errlen);
/* Frees an encoding from sy_encoding_load; NULL is a no-op. Never call it on sy_encoding_get's. */
void sy_encoding_free(sy_encoding *e);
/* End of the pre-tokenizer piece that starts at text[pos] (pos < len): the split that
 * tiktoken's regex makes, one piece per call. */
size_t sy_bpe_next_piece(const sy_encoding *e, const char *text, size_t len, size_t pos);
/* Number of ranks (ids 0..n-1 are byte tokens; special tokens come after). */
uint32_t sy_encoding_n_vocab(const sy_encoding *e);

#endif
