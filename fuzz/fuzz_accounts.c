/* fuzz_accounts — the bodies of the HTTP account endpoints (accounts.c: POST /v1/users,
 * POST /v1/sessions) and the shard answers a login reads (user_get's stored hash),
 * without sockets (gw_env.c; Argon2id is not run: the work is cancelled).
 *
 * An input is a selector byte (even: create, odd: login), the request body, and
 * optionally a line "==" followed by the router's answers ("<status> <body>" lines).
 * Every response body must be a JSON object and every request is answered exactly once. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_accounts.h"
#include "gw_http_req.h"
#include "gw_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_gw();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1, *end = (const char *)data + size;
    const char *answers = NULL;
    const char *eq = memmem(in, (size_t)(end - in), "\n==\n", 4);
    if (eq) {
        answers = eq + 4;
        end = eq;
    }
    gw_http_req_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    static int wsi;
    r->refs = 1;
    r->gw = fuzz_gw();
    r->wsi = (struct lws *)&wsi;
    r->is_post = true;
    r->body_len = (size_t)(end - in);
    r->body = malloc(r->body_len + 1);
    if (!r->body)
        abort();
    memcpy(r->body, in, r->body_len);
    r->body[r->body_len] = 0;
    if (data[0] & 1)
        gw_accounts_login(r);
    else
        gw_accounts_create_user(r);
    fuzz_answer_all(answers, answers ? (size_t)((const char *)data + size - answers) : 0);
    if (!r->resp_ready) {
        fprintf(stderr, "an account request was never answered\n");
        abort();
    }
    gw_http_req_unref(&r);
    return 0;
}
