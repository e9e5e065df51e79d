/* gw_static — the web client at / (static.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_http_req gw_http_req_t;

/* Read cfg.web_root into memory (nothing when it is ""). 0, or -1 out of memory; an
 * unreadable folder only logs a warning. Call once before the loop runs. */
int gw_static_init(gw_t *gw);
/* Free what gw_static_init loaded. Idempotent. */
void gw_static_fini(gw_t *gw);
/* A GET outside /v1/: if r->path names a file of the web client, set r's answer (200,
 * 304) and return true; false: not ours (the caller answers 404). */
bool gw_static_serve(gw_http_req_t *r);
/* Internal, for static_test.c: the loaded file at URL path (its Content-Type, body, gzip
 * copy or NULL, ETag), NULL if none; does Accept-Encoding list name token without q=0;
 * does If-None-Match list name etag (or "*"). */
const char *gw_static__find(const gw_t *gw, const char *path, const unsigned char **body,
                            size_t *len, const unsigned char **gz, size_t *gz_len,
                            const char **etag);
bool gw_static__accepts(const char *list, const char *token);
bool gw_static__etag_match(const char *inm, const char *etag);

#endif
