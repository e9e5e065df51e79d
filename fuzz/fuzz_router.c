/* fuzz_router — every message the router decodes (internals.md "Messages").
 *
 * An input is one or more messages separated by a line "--". Each message is a side byte
 * (even: from a gateway, front: HB, REQ, LOC, HEALTH; odd: from a shard, back: HB, HELLO,
 * REP, EVT, SNAP, FWD) followed by its frames joined by '\n', the peer's identity frame
 * first, as the ROUTER socket hands it over. A shard HB from "s/0" first makes a later
 * REQ or FWD take the forwarding path.
 *
 * One router (two shards, sockets bound on inproc endpoints nobody connects to: its sends
 * fail with EHOSTUNREACH, as to a peer that went away), its peer state reset before each
 * input, so that every input replays alone. */
#define _GNU_SOURCE /* memmem */
#include "router_int.h"

#include "fuzz_util.h"
#include "pl_log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    zsys_handler_set(NULL);
    zsys_set_linger(0);
    pl_log_init("fuzz-router", PL_ERROR);
    return 0;
}

const char *router__fuzz_sender;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static router_t *r;
    if (!r) {
        /* a key of its own and an empty allow folder: no peer ever connects */
        static char allow[] = "/tmp/fuzz-router-allow-XXXXXX";
        zcert_t *cert = zcert_new();
        if (cert)
            zcert_set_meta(cert, "role", "router");
        if (!cert || !mkdtemp(allow) ||
            !(r = router_new("inproc://fuzz-front", "inproc://fuzz-back", 2, 0, cert, allow)))
            abort();
        zcert_destroy(&cert);
    }
    /* what earlier inputs left: no gateway known, no shard heard from */
    zhashx_purge(r->gws);
    for (int i = 0; i < r->nshards; i++) {
        r->shards[i].last_hb = 0;
        r->shards[i].alive = false;
    }
    /* messages separated by a line "--": each one's first byte picks the side */
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        const uint8_t *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
        const uint8_t *stop = sep ? sep : end;
        if (stop > p) {
            zmsg_t *msg = fuzz_msg(p + 1, (size_t)(stop - p - 1));
            /* the identity frame names the sender, as the key's User-Id would */
            char *who = msg ? zframe_strdup(zmsg_first(msg)) : NULL;
            router__fuzz_sender = who;
            if (*p & 1)
                route__back(r, msg);
            else
                route__front(r, msg);
            router__fuzz_sender = NULL;
            free(who);
            zmsg_destroy(&msg);
        }
        p = sep ? sep + 4 : end;
    }
    return 0;
}
