/* static_test — unit test of the web client's loader (static.c) without the network: a
 * temporary web root with nested folders, a dot file and a big text file is loaded; types,
 * ETags (stable, content-bound), the gzip copies (they unzip to the file) and the header
 * matching of Accept-Encoding and If-None-Match are checked. */
#include "gw.h"
#include "gw_http.h"
#include "gw_static.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

/* gw_static_serve's out-of-memory path answers through http.c, which this test leaves out. */
void gw_http_respond_error(gw_http_req_t *r, int status, const char *code, const char *msg)
{
    (void)r, (void)status, (void)code, (void)msg;
}

static void s_write(const char *dir, const char *name, const char *data, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

static bool s_gunzip_equals(const unsigned char *gz, size_t gz_len, const char *want, size_t len)
{
    unsigned char *out = malloc(len + 16);
    z_stream z;
    memset(&z, 0, sizeof z);
    bool ok = out && inflateInit2(&z, 15 + 16) == Z_OK;
    if (ok) {
        z.next_in = (Bytef *)gz;
        z.avail_in = (uInt)gz_len;
        z.next_out = out;
        z.avail_out = (uInt)(len + 16);
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == len &&
             memcmp(out, want, len) == 0;
        inflateEnd(&z);
    }
    free(out);
    return ok;
}

static void test_load(void)
{
    char root[] = "/tmp/parley-static-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/icons", root);
    CHECK(mkdir(sub, 0700) == 0);
    const char *html = "<!doctype html><title>t</title>";
    s_write(root, "index.html", html, strlen(html));
    size_t big_len = 20000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = "let x = 1;\n"[i % 11];
    s_write(root, "app.js", big, big_len);
    s_write(root, ".secret", "no", 2);
    s_write(sub, "i.png", "\x89PNG\r\n\x1a\n", 8);
    s_write(root, "m.webmanifest", "{}", 2);

    static gw_t gw; /* zeroed */
    gw.cfg.web_root = root;
    CHECK(gw_static_init(&gw) == 0);
    const unsigned char *body, *gz;
    size_t len, gz_len;
    const char *etag, *etag2;
    const char *ct = gw_static__find(&gw, "/index.html", &body, &len, &gz, &gz_len, &etag);
    CHECK(ct && strcmp(ct, "text/html; charset=utf-8") == 0);
    CHECK(len == strlen(html) && memcmp(body, html, len) == 0);
    CHECK(gz == NULL); /* too small to be worth it */
    CHECK(strlen(etag) == 18 && etag[0] == '"' && etag[17] == '"');
    ct = gw_static__find(&gw, "/app.js", &body, &len, &gz, &gz_len, &etag2);
    CHECK(ct && strcmp(ct, "text/javascript; charset=utf-8") == 0);
    CHECK(gz && gz_len < len && s_gunzip_equals(gz, gz_len, big, big_len));
    CHECK(strcmp(etag, etag2) != 0);
    ct = gw_static__find(&gw, "/icons/i.png", &body, &len, &gz, &gz_len, &etag);
    CHECK(ct && strcmp(ct, "image/png") == 0 && gz == NULL && len == 8);
    ct = gw_static__find(&gw, "/m.webmanifest", &body, &len, &gz, &gz_len, &etag);
    CHECK(ct && strcmp(ct, "application/manifest+json") == 0);
    CHECK(gw_static__find(&gw, "/.secret", &body, &len, &gz, &gz_len, &etag) == NULL);
    CHECK(gw_static__find(&gw, "/", &body, &len, &gz, &gz_len, &etag) ==
          NULL); /* mapped by serve */
    CHECK(gw_static__find(&gw, "/icons", &body, &len, &gz, &gz_len, &etag) == NULL);

    /* the same bytes give the same ETag after a restart */
    gw_static__find(&gw, "/app.js", &body, &len, &gz, &gz_len, &etag);
    char keep[32];
    snprintf(keep, sizeof keep, "%s", etag);
    gw_static_fini(&gw);
    gw_static_fini(&gw); /* idempotent */
    CHECK(gw.st == NULL);
    CHECK(gw_static_init(&gw) == 0);
    CHECK(gw_static__find(&gw, "/app.js", &body, &len, &gz, &gz_len, &etag) && !strcmp(etag, keep));
    gw_static_fini(&gw);

    /* a missing root serves nothing but is not an error; "" is off */
    gw.cfg.web_root = "/nonexistent/parley-web";
    CHECK(gw_static_init(&gw) == 0);
    CHECK(gw_static__find(&gw, "/index.html", &body, &len, &gz, &gz_len, &etag) == NULL);
    gw_static_fini(&gw);
    gw.cfg.web_root = "";
    CHECK(gw_static_init(&gw) == 0 && gw.st == NULL);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    free(big);
}

static void test_headers(void)
{
    CHECK(gw_static__accepts("gzip", "gzip"));
    CHECK(gw_static__accepts("gzip, deflate, br", "gzip"));
    CHECK(gw_static__accepts("br, GZIP;q=0.5", "gzip"));
    CHECK(!gw_static__accepts("gzip;q=0", "gzip"));
    CHECK(!gw_static__accepts("br, gzip; q=0.0", "gzip"));
    CHECK(!gw_static__accepts("x-gzip2, deflate", "gzip"));
    CHECK(!gw_static__accepts("", "gzip"));
    CHECK(!gw_static__accepts("deflate", "gzip"));

    CHECK(gw_static__etag_match("\"abc\"", "\"abc\""));
    CHECK(gw_static__etag_match("\"x\", \"abc\"", "\"abc\""));
    CHECK(gw_static__etag_match("*", "\"abc\""));
    CHECK(!gw_static__etag_match("\"abcd\"", "\"abc\""));
    CHECK(!gw_static__etag_match("W/\"ab\"", "\"abc\""));
    CHECK(!gw_static__etag_match("", "\"abc\""));
}

int main(void)
{
    pl_log_init("static_test", PL_ERROR);
    test_load();
    test_headers();
    printf("static_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
