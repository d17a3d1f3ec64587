/* sy_replay.c — `switchyard replay` (written next). */
#include "eval/sy_eval.h"

int sy_replay_run(const sy_replay_opts *o, FILE *out, sy_buf *err)
{
    (void)o;
    (void)out;
    sy_buf_puts(err, "replay: not built yet\n");
    return SY_EINVAL;
}
