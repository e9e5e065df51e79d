/* fuzz_gwevt — the gateway's side of EVT[to, skip, event] from the router
 * (gw_sessions_deliver: the recipient list, the skip device, the conversation tag of the
 * event, member "removed" events, and the `_revoke` control event of logout.c), with
 * alice on two devices (d1, d2) and bob on one, authenticated and registered.
 *
 * An input is one or more messages separated by a line "--", each three frames joined
 * by '\n': to (a JSON array of names, sent as the binary list; other bytes as raw list
 * bytes), skip, event. The event is passed to clients verbatim (a shard builds it),
 * so only the gateway's own handling is checked: no crash, leak or UB. */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "gw_logout.h"
#include "gw_sessions.h"
#include "gw_ws.h"
#include "gw_env.h"

static gw_session_t *s_authed(const char *user, const char *device)
{
    gw_session_t *s = fuzz_session_new();
    s->state = SS_AUTHED;
    snprintf(s->user, sizeof s->user, "%s", user);
    snprintf(s->device, sizeof s->device, "%s", device);
    snprintf(s->th, sizeof s->th, "%064d", 0);
    if (gw_sessions_register(s->gw, s) != 0)
        abort();
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_gw();
    fuzz_gw_check_events = false;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_t *gw = fuzz_gw();
    gw_session_t *a1 = s_authed("alice", "d1"), *a2 = s_authed("alice", "d2");
    gw_session_t *b1 = s_authed("bob", "d1");
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
        const char *stop = sep ? sep : end;
        const char *f[3];
        size_t l[3];
        const char *q = p;
        int n = 0;
        for (; n < 3 && q <= stop; n++) {
            const char *nl = memchr(q, '\n', (size_t)(stop - q));
            const char *e = n == 2 || !nl ? stop : nl;
            f[n] = q;
            l[n] = (size_t)(e - q);
            q = e + 1;
        }
        if (n == 3) {
            /* zlink hands over frames as NUL-terminated copies (skip: a C string) */
            /* to: a JSON array of names in the seed's text, sent as the binary list of
             * an EVT; anything else goes in as raw list bytes */
            pl_buf_t lb = {0};
            json_t *arr = json_loadb(f[0], l[0], 0, NULL);
            if (json_is_array(arr)) {
                size_t i;
                json_t *v;
                json_array_foreach(arr, i, v)
                {
                    if (json_is_string(v))
                        pl_list_add(&lb, json_string_value(v), json_string_length(v));
                }
            } else
                pl_buf_put(&lb, f[0], l[0]);
            json_decref(arr);
            char *to = malloc(lb.len + 1), *skip = strndup(f[1], l[1]);
            if (to && lb.len)
                memcpy(to, lb.data, lb.len);
            size_t to_len = lb.len;
            pl_buf_free(&lb);
            char *ev = malloc(l[2] + 1);
            if (!to || !skip || !ev)
                abort();
            memcpy(ev, f[2], l[2]);
            ev[l[2]] = 0;
            if (gw_logout_is_control(ev, l[2])) /* as main.c's EVT handler */
                gw_logout_revoke(gw, ev, l[2]);
            else
                gw_sessions_deliver(gw, to, to_len, skip, ev, l[2]);
            free(to);
            free(skip);
            free(ev);
        }
        p = sep ? sep + 4 : end;
    }
    fuzz_answer_all(NULL, 0);
    fuzz_session_close(&a1);
    fuzz_session_close(&a2);
    fuzz_session_close(&b1);
    gw_sessions_tick(gw);
    return 0;
}
