/* zap — the router's ZAP handler (RFC 27) for its two CURVE server sockets, on the
 * router's loop (docs/internals.md "Security between roles").
 *
 * A REP socket bound at inproc://zeromq.zap.01 (libzmq asks it during every CURVE
 * handshake on a socket of this process). It admits a client key only when a key file in
 * the allow folder names it, with role gateway for domain "front" and role shard for
 * domain "back", and answers that key's peer name ("g/<name>", "s/<id>") as User-Id;
 * libzmq then attaches the User-Id to every message of that connection, and route.c
 * knows the sender by it (never by the routing id the peer chose). Everything else gets
 * 400 and the connection is closed before any message passes. An unknown key makes the
 * folder be read again (at most once a second), so a new machine's key needs no restart.
 * Refusals are logged at warn once per (socket, address, key), then at debug. */
#include "router_int.h"

#include "pl_curve.h"
#include "pl_time.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_LOGGED_MAX 4096

struct _router_zap_t {
    zsock_t *sock;
    char *dir;
    zhashx_t *keys;   /* Z85 public key -> "g/<name>" / "s/<id>" (owned strings) */
    zhashx_t *logged; /* refusals already logged at warn */
    int64_t loaded_ms;
};

static void s_free_str(void **item)
{
    free(*item);
    *item = NULL;
}

/* (Re)read the allow folder. Returns the number of keys admitted, -1 if it cannot be read. */
static int s_load(router_zap_t *self)
{
    self->loaded_ms = pl_mono_ms();
    DIR *d = opendir(self->dir);
    if (!d) {
        pl_error("--curve-allow %s: cannot read the folder", self->dir);
        return -1;
    }
    zhashx_t *keys = zhashx_new();
    if (!keys) {
        closedir(d);
        return -1;
    }
    zhashx_set_destructor(keys, s_free_str);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || (n > 7 && strcmp(e->d_name + n - 7, "_secret") == 0))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", self->dir, e->d_name);
        zcert_t *cert = zcert_load(path);
        char peer[80];
        pl_role_t role = cert ? pl_curve_role(cert, peer, sizeof peer) : PL_ROLE_NONE;
        if (role == PL_ROLE_GATEWAY || role == PL_ROLE_SHARD) {
            char *v = strdup(peer);
            if (v && zhashx_insert(keys, zcert_public_txt(cert), v) != 0) {
                pl_warn("--curve-allow: %s repeats a key already admitted: ignored", path);
                free(v);
            }
        } else if (role == PL_ROLE_NONE)
            pl_debug("--curve-allow: %s is not a gateway or shard key: ignored", path);
        zcert_destroy(&cert);
    }
    closedir(d);
    zhashx_destroy(&self->keys);
    self->keys = keys;
    return (int)zhashx_size(keys);
}

router_zap_t *router_zap_new(const char *allow_dir)
{
    router_zap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strdup(allow_dir ? allow_dir : "");
    self->logged = zhashx_new();
    if (!self->dir || !self->logged || !allow_dir || !*allow_dir)
        goto fail;
    int n = s_load(self);
    if (n < 0)
        goto fail;
    pl_info("--curve-allow %s: %d key(s) admitted", self->dir, n);
    self->sock = zsock_new(ZMQ_REP);
    if (!self->sock)
        goto fail;
    zsock_set_linger(self->sock, 0);
    if (zsock_bind(self->sock, ZAP_ENDPOINT) != 0) {
        pl_error("cannot bind the ZAP handler at %s: %s", ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
        goto fail;
    }
    return self;
fail:
    router_zap_destroy(&self);
    return NULL;
}

void router_zap_destroy(router_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    router_zap_t *self = *self_p;
    zsock_destroy(&self->sock);
    zhashx_destroy(&self->keys);
    zhashx_destroy(&self->logged);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

zsock_t *router_zap_sock(router_zap_t *self)
{
    return self->sock;
}

static void s_refused(router_zap_t *self, const char *domain, const char *addr, const char *key,
                      const char *why)
{
    char line[256];
    snprintf(line, sizeof line, "%s %s %s", domain, addr, key);
    if (zhashx_lookup(self->logged, line)) {
        pl_debug("ZAP: refused %s (%s)", line, why);
        return;
    }
    if (zhashx_size(self->logged) >= ZAP_LOGGED_MAX)
        zhashx_purge(self->logged);
    zhashx_insert(self->logged, line, (void *)1);
    pl_warn("refused a peer on %s from %s, key %s: %s", domain, addr, key, why);
}

void router_zap_handle(router_zap_t *self)
{
    zmsg_t *req = zmsg_recv(self->sock);
    if (!req)
        return;
    /* version, request id, domain, address, identity, mechanism, credentials... */
    char *f[7] = {0};
    zframe_t *cred = NULL, *reqid = NULL;
    int n = 0;
    for (zframe_t *fr = zmsg_first(req); fr; fr = zmsg_next(req), n++) {
        if (n == 1)
            reqid = fr;
        if (n < 6)
            f[n] = zframe_strdup(fr);
        else if (n == 6)
            cred = fr;
    }
    const char *status = "400", *text = "not admitted", *uid = "";
    char key[41] = "";
    if (n < 6 || !f[0] || strcmp(f[0], "1.0") != 0) {
        status = "500";
        text = "malformed ZAP request";
        pl_warn("ZAP: malformed request (%d frames)", n);
    } else if (strcmp(f[5], "CURVE") != 0 || !cred || zframe_size(cred) != 32) {
        s_refused(self, f[2], f[3], "-", "not a CURVE client");
    } else {
        zmq_z85_encode(key, zframe_data(cred), 32);
        const char *peer = zhashx_lookup(self->keys, key);
        if (!peer && pl_mono_ms() - self->loaded_ms >= 1000) {
            s_load(self);
            peer = zhashx_lookup(self->keys, key);
        }
        bool front = strcmp(f[2], "front") == 0, back = strcmp(f[2], "back") == 0;
        if (!peer)
            s_refused(self, f[2], f[3], key, "key not in --curve-allow");
        else if ((front && peer[0] != 'g') || (back && peer[0] != 's') || (!front && !back))
            s_refused(self, f[2], f[3], key,
                      peer[0] == 'g' ? "a gateway key on the shard socket"
                                     : "a shard key on the gateway socket");
        else {
            status = "200";
            text = "OK";
            uid = peer;
            pl_debug("ZAP: %s admitted on %s from %s", peer, f[2], f[3]);
        }
    }
    zmsg_t *rep = zmsg_new();
    if (rep) {
        zmsg_addstr(rep, "1.0");
        zmsg_addmem(rep, reqid ? zframe_data(reqid) : NULL, reqid ? zframe_size(reqid) : 0);
        zmsg_addstr(rep, status);
        zmsg_addstr(rep, text);
        zmsg_addstr(rep, uid);
        zmsg_addmem(rep, NULL, 0);
        if (zmsg_send(&rep, self->sock) != 0)
            zmsg_destroy(&rep);
    }
    for (int i = 0; i < 6; i++)
        free(f[i]);
    zmsg_destroy(&req);
}
