/* pl_msgtext — the text form of internal messages, for tests, fuzz seeds and tools only
 * (never linked into a role): the multipart layout of the former JSON protocol
 * (docs/internals.md "Text form"), translated to and from the binary messages of
 * pl_msg.h. It lets tests and seed corpora stay readable. Single thread. */
#ifndef PL_MSGTEXT_H
#define PL_MSGTEXT_H
#include <czmq.h>

#include "pl_msg.h"

/* Which hop a text message describes (the text layouts differ per hop). */
typedef enum {
    PL_HOP_GW_ROUTER, /* ["HB",epoch,locseq] ["REQ",key,reqid,payload] ["LOC",epoch,locseq,payload]
                         ["HEALTH",reqid] */
    PL_HOP_ROUTER_SHARD, /* ["HB"] ["REQ",gw,reqid,payload] ["LOC",gw,epoch,locseq,payload]
                            ["GWHB",gw,epoch,locseq] ["FWD",payload] ["TABLE",t] */
    PL_HOP_SHARD_ROUTER, /* ["HB",id] ["HELLO",id] ["REP",gw,reqid,status,body]
                            ["EVT",gw,to,skip,event] ["SNAP",gw] ["FWD",key,payload] */
    PL_HOP_ROUTER_GW, /* ["HB"] ["REP",reqid,status,body] ["EVT",to,skip,event] ["TABLE",t] ["SNAP"]
                         ["HEALTH",reqid,"1"/"0"] */
} pl_hop_t;

/* The u64 of an id's text: its value if decimal, else a hash of it, remembered so that
 * pl_msgtext_from_bin writes the text back (tests use ids like "r", "e1"). */
uint64_t pl_msgtext_id(const char *text);

/* The binary message (with its address frame first where the hop has one) of the text
 * message text (its frames, verb first). A REQ/FWD's op comes from the payload's "op";
 * an EVT's `to` (JSON array) becomes a pl_list; a non-decimal epoch is hashed. NULL when
 * the text is no message of the hop (unknown verb, wrong frame count). Caller destroys. */
zmsg_t *pl_msgtext_to_bin(pl_hop_t hop, zmsg_t *text);
/* Frames given as strings (count n). */
zmsg_t *pl_msgtext_to_binv(pl_hop_t hop, int n, const char *const *frames);
/* The text form of a binary message of the hop (address frame first where it has one);
 * EVT recipients as a JSON array. NULL if it does not decode. Caller destroys. */
zmsg_t *pl_msgtext_from_bin(pl_hop_t hop, zmsg_t *bin);

#endif
