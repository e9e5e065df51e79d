/* parley-keygen — make a CURVE key pair for one role instance (docs/internals.md
 * "Security between roles").
 *
 *   parley-keygen --role gateway --name gw-1 --out DIR/gw-1
 *   parley-keygen --role shard --id 0 --out DIR/shard-0
 *   parley-keygen --role router --out DIR/router
 *
 * Writes OUT (public key and metadata, mode 0644: copy it to the router's --curve-allow
 * folder, or for the router's key to every gateway and shard) and OUT_secret (both keys,
 * mode 0600: stays on the machine that runs the role). Refuses to overwrite either.
 * Exit 0 on success, 2 on a bad command line, 1 when it cannot write. */
#include "pl_curve.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: parley-keygen --role gateway|shard|router [--name NAME | --id N] --out FILE\n"
            "\n"
            "Makes a CURVE key pair: FILE (public, with the role metadata) and FILE_secret.\n"
            "  --role R    gateway (needs --name), shard (needs --id) or router\n"
            "  --name NAME gateway name: the router knows the gateway as g/NAME\n"
            "  --id N      shard id: the router knows the shard as s/N\n"
            "  --out FILE  where to write; FILE and FILE_secret must not exist\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'}, {"name", required_argument, NULL, 'n'},
        {"id", required_argument, NULL, 'i'},   {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *role = NULL, *name = NULL, *id = NULL, *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            role = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !role || !out || !*out) {
        s_usage(stderr);
        return 2;
    }
    zsys_handler_set(NULL);
    zcert_t *cert = zcert_new();
    if (!cert) {
        fprintf(stderr, "parley-keygen: cannot make a key pair\n");
        return 1;
    }
    zcert_set_meta(cert, "role", "%s", role);
    if (strcmp(role, "gateway") == 0 && name && !id)
        zcert_set_meta(cert, "name", "%s", name);
    else if (strcmp(role, "shard") == 0 && id && !name)
        zcert_set_meta(cert, "id", "%s", id);
    else if (!(strcmp(role, "router") == 0 && !name && !id)) {
        s_usage(stderr);
        zcert_destroy(&cert);
        return 2;
    }
    char peer[80];
    if (pl_curve_role(cert, peer, sizeof peer) == PL_ROLE_NONE) {
        fprintf(stderr,
                "parley-keygen: bad --name (1-64 of A-Z a-z 0-9 . _ -) or --id (0-65535)\n");
        zcert_destroy(&cert);
        return 2;
    }
    char sec[4096];
    snprintf(sec, sizeof sec, "%s_secret", out);
    if (access(out, F_OK) == 0 || access(sec, F_OK) == 0) {
        fprintf(stderr, "parley-keygen: %s or %s exists already: not overwritten\n", out, sec);
        zcert_destroy(&cert);
        return 1;
    }
    umask(077);
    int rc = zcert_save(cert, out);
    if (rc == 0)
        rc = chmod(out, 0644);
    zcert_destroy(&cert);
    if (rc != 0) {
        fprintf(stderr, "parley-keygen: cannot write %s\n", out);
        return 1;
    }
    printf("%s%s%s\n", out, *peer ? " " : "", peer);
    return 0;
}
