/* fuzz_router — every message the router decodes (internals.md "The binary protocol").
 *
 * An input is one or more messages separated by a line "--". Each message is a side byte
 * (even: from a gateway, front: HB, REQ, REQN, BATCH, LOC, HEALTH; odd: from a shard, back: HB,
 * HELLO, REP, EVT, SNAP, FWD) followed by its frames joined by '\n', the peer's identity
 * frame first, as the ROUTER socket hands it over; the frames after the identity are the
 * text form of pl_msgtext.h, translated to the binary message (a text that is none goes
 * in as raw frames, so binary junk reaches the decoder). A shard HB from "s/0" first
 * makes a later REQ or FWD take the forwarding path.
 *
 * One router (two shards, sockets bound on inproc endpoints nobody connects to: its sends
 * fail with EHOSTUNREACH, as to a peer that went away), its peer state reset before each
 * input, so that every input replays alone. */
#define _GNU_SOURCE /* memmem */
#include "router_int.h"

#include "fuzz_util.h"
#include "pl_log.h"
#include "pl_msgtext.h"

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
            zframe_t *idf = zmsg_pop(msg);
            char *who = idf ? zframe_strdup(idf) : NULL;
            zmsg_t *bin = pl_msgtext_to_bin(*p & 1 ? PL_HOP_SHARD_ROUTER : PL_HOP_GW_ROUTER, msg);
            zmsg_t *use = bin ? bin : msg;
            zmsg_prepend(use, &idf);
            zmq_msg_t parts[3];
            int n = 0;
            for (zframe_t *f = zmsg_first(use); f; f = zmsg_next(use), n++) {
                if (n >= 3)
                    continue; /* counted: the router drops messages of too many frames */
                zmq_msg_init_size(&parts[n], zframe_size(f));
                memcpy(zmq_msg_data(&parts[n]), zframe_data(f), zframe_size(f));
            }
            router__fuzz_sender = who;
            if (*p & 1)
                route__back(r, parts, n);
            else
                route__front(r, parts, n);
            router__fuzz_sender = NULL;
            for (int i = 0; i < n && i < 3; i++)
                zmq_msg_close(&parts[i]);
            free(who);
            zframe_destroy(&idf);
            zmsg_destroy(&bin);
            zmsg_destroy(&msg);
        }
        p = sep ? sep + 4 : end;
    }
    route__flush(r); /* the requests staged per shard, as after a drain of front */
    return 0;
}
