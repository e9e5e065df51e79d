/* pl_curve — CURVE keys between the roles (docs/internals.md "Security between roles").
 *
 * Keys are czmq zcert files: FILE holds the public key and metadata, FILE_secret both
 * keys and the same metadata. The metadata binds a key to one role instance:
 *   role = "gateway", name = "<name>"   ->  peer name "g/<name>"
 *   role = "shard",   id = "<n>"         ->  peer name "s/<n>"
 *   role = "router"                      ->  the router's own key (no peer name)
 * The router is the CURVE server of both its sockets; gateways and shards are clients
 * that know the router's public key. Thread: the thread that owns the sockets. */
#ifndef PL_CURVE_H
#define PL_CURVE_H
#include <czmq.h>
#include <stddef.h>

typedef enum { PL_ROLE_NONE = 0, PL_ROLE_GATEWAY, PL_ROLE_SHARD, PL_ROLE_ROUTER } pl_role_t;

/* Load a secret key file (FILE_secret, or FILE itself when it holds the secret key).
 * Returns NULL, after logging why, when it is missing, unreadable or has no secret key.
 * Caller owns; free with zcert_destroy. */
zcert_t *pl_curve_load_secret(const char *path);

/* Load the public key (Z85, 40 characters) of a key file into out. Returns 0, or -1
 * after logging why. */
int pl_curve_load_public(const char *path, char out[41]);

/* The role a key's metadata names, and for gateways/shards its peer name ("g/<name>",
 * "s/<id>") in out (cap bytes). Returns PL_ROLE_NONE when the metadata is missing or
 * malformed (name: 1-64 of [A-Za-z0-9._-]; id: 0-65535 without leading zeros). */
pl_role_t pl_curve_role(zcert_t *cert, char *out, size_t cap);

/* Make sock a CURVE client of server_key (Z85) with cert's keys, with ZMQ_PROBE_ROUTER
 * (libzmq sends [""] on every new connection; the router takes it as "this connection
 * now speaks for my key"). Call before connect. Returns 0 or -1. */
int pl_curve_client(zsock_t *sock, zcert_t *cert, const char *server_key);

/* Make sock a CURVE server with cert's keys; ZAP requests for it carry domain. Call before
 * bind. Returns 0 or -1. */
int pl_curve_server(zsock_t *sock, zcert_t *cert, const char *domain);

#endif
