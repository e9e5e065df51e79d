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
 * payload for a shard, must be a JSON object (gw_env.c).
 *
 * Each frame is also parsed by json_loadb, the parser the gateway used before yajl
 * (validate.c): gw_frame_head must accept exactly the frames json_loadb makes an object
 * with a string id of, build the same object, and answer "invalid JSON" exactly when
 * json_loadb fails (but for a raw NUL byte, which json_loadb sometimes skips and the
 * gateway always refuses); a difference aborts. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "gw_requests.h"
#include "gw_sessions.h"
#include "gw_ws.h"
#include "gw_env.h"
#include "gw_validate.h"

/* gw_frame_head against json_loadb on one frame (abort on a difference). */
static void s_differential(const char *p, size_t n)
{
    gw_frame_head_t h;
    gw_verdict_t v = gw_frame_head(p, n, false, &h);
    json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    bool j_ok = json_is_object(j) && json_is_string(json_object_get(j, "id"));
    if (v.code && strcmp(v.code, PL_E_INTERNAL) == 0) {
        /* out of memory: nothing to compare */
    } else if (j && v.code && strcmp(v.msg, "invalid JSON") == 0 && memchr(p, 0, n)) {
        /* jansson 2.14 skips a raw NUL byte after a number or a literal; the gateway
         * refuses every raw NUL byte (validate.c): the one difference allowed */
    } else if (!v.code != j_ok || (!j) != (v.code && strcmp(v.msg, "invalid JSON") == 0) ||
               (j_ok && !json_equal(j, gw_frame_req(&h)))) {
        abort();
    }
    json_decref(j);
    gw_frame_head_clear(&h);
}

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
        s_differential(p, (size_t)(stop - p));
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
