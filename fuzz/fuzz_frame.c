/* fuzz_frame — client frames through the gateway's validation of every request type
 * (requests.c and what it calls: convs.c, gather.c, groups.c, presence.c, push.c), on a
 * session without a socket (gw_env.c), and the answers of the shards to them.
 *
 * An input is up to 64 client frames separated by a line "--", optionally followed by a
 * line "==" and the router's answers ("<status> <body>" lines, used in request order;
 * past their end every request is answered "ok {}"). The first frame of a session must
 * be auth (the seeds start with a well-formed one, whose check the first answer passes);
 * each frame's requests are answered before the next frame is read, so an input can
 * authenticate and then send requests. Every frame leaving for the client, and every
 * payload for a shard, must be a JSON object (gw_env.c). */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "gw_requests.h"
#include "gw_sessions.h"
#include "gw_ws.h"
#include "gw_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_gw();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *end = in + size;
    const char *answers = NULL;
    size_t alen = 0;
    const char *eq = memmem(in, size, "\n==\n", 4);
    if (eq) {
        answers = eq + 4;
        alen = (size_t)(end - answers);
        end = eq;
    }
    gw_session_t *s = fuzz_session_new();
    const char *p = in;
    for (int n = 0; n < 64 && p <= end; n++) {
        const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
        const char *stop = sep ? sep : end;
        if (s->state == SS_CLOSING)
            break; /* ws.c reads nothing more from a closing socket */
        gw_requests_frame(s, p, (size_t)(stop - p), false);
        /* each frame's answers, before the next frame (answers are consumed in order) */
        size_t used = fuzz_answer_all(answers, alen);
        answers = answers ? answers + used : NULL;
        alen -= used;
        if (!sep)
            break;
        p = sep + 4;
    }
    fuzz_answer_all(NULL, 0);
    fuzz_session_close(&s);
    gw_sessions_tick(fuzz_gw());
    return 0;
}
