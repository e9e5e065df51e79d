/* gw_accounts — POST /v1/users and POST /v1/sessions (Argon2id on libuv's thread pool)
 * (accounts.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_ACCOUNTS_H
#define GW_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_http_req gw_http_req_t;

/* POST /v1/users and POST /v1/sessions with the body in r. */
void gw_accounts_create_user(gw_http_req_t *r);
void gw_accounts_login(gw_http_req_t *r);
/* Start the one-off computation of the dummy hash used to equalise login timing. */
void gw_accounts_init(gw_t *gw);

#endif
