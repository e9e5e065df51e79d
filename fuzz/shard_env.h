/* shard_env — one shard on a RocksDB folder under /tmp for the shard harnesses
 * (fuzz_shard, fuzz_records), opened once per process and removed at exit. Its output
 * goes to a checking sender: every `ok` answer's body must be a JSON object (what the
 * gateway splices into the client's frame), else the harness aborts (a finding). Push
 * deliveries the inputs cause go to a refusing proxy on loopback (no network). */
#ifndef FUZZ_SHARD_ENV_H
#define FUZZ_SHARD_ENV_H
#include <stdbool.h>

#include <czmq.h>

#include "shard.h"

/* The shard (opened at the first call; aborts if that fails). */
shard_t *fuzz_shard(void);
/* While false, ok bodies are not checked (answers that carry stored records verbatim:
 * sync/history splice stored messages without parsing them). */
extern bool fuzz_shard_check_ok;
/* Hand the shard a message in the text form (pl_msgtext.h, hop router -> shard) as its
 * binary message; a text that is no message of the protocol goes in as it is: its last
 * frame as the message, the one before as the address frame (binary junk reaches the
 * decoder). */
void fuzz_shard_text(zmsg_t *text);
/* Send ["REQ", "g/fuzz", "1", payload] to the shard, then shard_flush. */
void fuzz_shard_req(const char *payload);
/* Delete every key of the store (each input starts from an empty store). */
void fuzz_shard_wipe(void);

#endif
