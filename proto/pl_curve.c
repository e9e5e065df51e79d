/* pl_curve — see pl_curve.h. */
#include "pl_curve.h"

#include "pl_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char s_zero_key[] = "0000000000000000000000000000000000000000";

/* zcert_load reads FILE_secret when it exists, else FILE. */
static zcert_t *s_load(const char *path)
{
    struct stat st;
    char sec[4096];
    snprintf(sec, sizeof sec, "%s_secret", path);
    if (stat(path, &st) != 0 && stat(sec, &st) != 0) {
        pl_error("key file %s: %s", path, strerror(errno));
        return NULL;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert)
        pl_error("key file %s: not a key file", path);
    return cert;
}

zcert_t *pl_curve_load_secret(const char *path)
{
    zcert_t *cert = s_load(path);
    if (!cert)
        return NULL;
    if (strcmp(zcert_secret_txt(cert), s_zero_key) == 0 ||
        strcmp(zcert_public_txt(cert), s_zero_key) == 0) {
        pl_error("key file %s holds no secret key (give FILE or FILE_secret of a key pair)", path);
        zcert_destroy(&cert);
    }
    return cert;
}

int pl_curve_load_public(const char *path, char out[41])
{
    zcert_t *cert = s_load(path);
    if (!cert)
        return -1;
    const char *pub = zcert_public_txt(cert);
    int rc = 0;
    if (strlen(pub) != 40 || strcmp(pub, s_zero_key) == 0) {
        pl_error("key file %s holds no public key", path);
        rc = -1;
    } else
        memcpy(out, pub, 41);
    zcert_destroy(&cert);
    return rc;
}

static bool s_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool s_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535;
}

pl_role_t pl_curve_role(zcert_t *cert, char *out, size_t cap)
{
    const char *role = zcert_meta(cert, "role");
    if (!role)
        return PL_ROLE_NONE;
    if (strcmp(role, "router") == 0) {
        if (cap)
            out[0] = '\0';
        return PL_ROLE_ROUTER;
    }
    if (strcmp(role, "gateway") == 0) {
        const char *name = zcert_meta(cert, "name");
        if (!s_name_ok(name) || (size_t)snprintf(out, cap, "g/%s", name) >= cap)
            return PL_ROLE_NONE;
        return PL_ROLE_GATEWAY;
    }
    if (strcmp(role, "shard") == 0) {
        const char *id = zcert_meta(cert, "id");
        if (!s_id_ok(id) || (size_t)snprintf(out, cap, "s/%s", id) >= cap)
            return PL_ROLE_NONE;
        return PL_ROLE_SHARD;
    }
    return PL_ROLE_NONE;
}

int pl_curve_client(zsock_t *sock, zcert_t *cert, const char *server_key)
{
    zcert_apply(cert, sock);
    zsock_set_curve_serverkey(sock, server_key);
    /* An empty message on every new connection: the router learns at once which
     * connection speaks for this key (e.g. after the router restarted). */
    zsock_set_probe_router(sock, 1);
    return zsock_mechanism(sock) == ZMQ_CURVE ? 0 : -1;
}

int pl_curve_server(zsock_t *sock, zcert_t *cert, const char *domain)
{
    zcert_apply(cert, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, domain);
    return zsock_mechanism(sock) == ZMQ_CURVE ? 0 : -1;
}
