/* static — the web client (web/) served at `/` by every gateway.
 *
 * At start the whole web root (--web-root, default the source tree's web/ folder compiled
 * in as PARLEY_WEB_ROOT) is read into memory: every regular file below it (dot files
 * skipped, at most STATIC_MAX_FILES files of STATIC_MAX_SIZE bytes each), with its
 * Content-Type, a strong ETag (a hash of the bytes) and, for text types, a gzip copy made
 * once with zlib. Requests are then answered from memory, so nothing touches the disk
 * inside the loop; changing the files needs a gateway restart.
 *
 * Answers: `/` is `/index.html`; a path that names a loaded file gets 200 with the gzip
 * copy when Accept-Encoding allows gzip (Vary: Accept-Encoding), or 304 when
 * If-None-Match names its ETag. Every file is `Cache-Control: no-cache` (names carry no
 * content hash, so a browser revalidates and gets a cheap 304); HTML gets a strict
 * Content-Security-Policy. Anything else is not ours (gw_static_serve returns false). */
#include "gw.h"
#include "gw_http_req.h"
#include "gw_static.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#define STATIC_MAX_FILES 256
#define STATIC_MAX_SIZE (4u << 20)
#define STATIC_MAX_DEPTH 4

typedef struct {
    char *path; /* URL path, "/index.html" */
    const char *ctype;
    char etag[24]; /* "\"<16 hex>\"" */
    unsigned char *body;
    size_t len;
    unsigned char *gz; /* NULL: not worth compressing */
    size_t gz_len;
    bool html;
} static_file_t;

struct gw_static {
    static_file_t files[STATIC_MAX_FILES];
    int n;
};

static const struct {
    const char *ext, *ctype;
    bool text;
} s_types[] = {
    {".html", "text/html; charset=utf-8", true},
    {".js", "text/javascript; charset=utf-8", true},
    {".mjs", "text/javascript; charset=utf-8", true},
    {".css", "text/css; charset=utf-8", true},
    {".json", "application/json", true},
    {".webmanifest", "application/manifest+json", true},
    {".svg", "image/svg+xml", true},
    {".txt", "text/plain; charset=utf-8", true},
    {".png", "image/png", false},
    {".ico", "image/x-icon", true},
    {".webp", "image/webp", false},
    {".woff2", "font/woff2", false},
};

/* Content-Type of a file name, and whether gzip is worth trying. */
static const char *s_ctype(const char *name, bool *text)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++) {
        size_t e = strlen(s_types[i].ext);
        if (n > e && strcmp(name + n - e, s_types[i].ext) == 0) {
            *text = s_types[i].text;
            return s_types[i].ctype;
        }
    }
    *text = false;
    return "application/octet-stream";
}

/* gzip (RFC 1952) of body into *out; 0 or -1. Kept only when it saves something. */
static int s_gzip(const unsigned char *body, size_t len, unsigned char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(cap);
    if (!buf)
        goto fail;
    z.next_in = (Bytef *)body;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto fail;
    *out = buf;
    *out_len = z.total_out;
    deflateEnd(&z);
    return 0;
fail:
    free(buf);
    deflateEnd(&z);
    return -1;
}

/* Read one file into the table. 0, or -1 on a hard error (out of memory). Files that
 * cannot be read or are too big are skipped with a warning. */
static int s_load(gw_static_t *st, const char *fs_path, const char *url)
{
    if (st->n >= STATIC_MAX_FILES) {
        pl_warn("web root: more than %d files, %s not served", STATIC_MAX_FILES, url);
        return 0;
    }
    FILE *f = fopen(fs_path, "rb");
    if (!f) {
        pl_warn("web root: cannot open %s: %s", fs_path, strerror(errno));
        return 0;
    }
    static_file_t *sf = &st->files[st->n];
    memset(sf, 0, sizeof *sf);
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size < 0 || (size_t)sb.st_size > STATIC_MAX_SIZE) {
        pl_warn("web root: %s is too big or unreadable, not served", fs_path);
        fclose(f);
        return 0;
    }
    sf->len = (size_t)sb.st_size;
    sf->body = malloc(sf->len ? sf->len : 1);
    sf->path = strdup(url);
    if (!sf->body || !sf->path)
        goto fail;
    if (fread(sf->body, 1, sf->len, f) != sf->len) {
        pl_warn("web root: short read of %s, not served", fs_path);
        free(sf->body);
        free(sf->path);
        fclose(f);
        return 0;
    }
    fclose(f);
    f = NULL;
    bool text;
    sf->ctype = s_ctype(url, &text);
    sf->html = strncmp(sf->ctype, "text/html", 9) == 0;
    unsigned char h[8];
    crypto_generichash(h, sizeof h, sf->body, sf->len, NULL, 0);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(sf->etag, sizeof sf->etag, "\"%s\"", hex);
    if (text && sf->len >= 256 && s_gzip(sf->body, sf->len, &sf->gz, &sf->gz_len) == 0 &&
        sf->gz_len >= sf->len) {
        free(sf->gz);
        sf->gz = NULL;
    }
    st->n++;
    return 0;
fail:
    if (f)
        fclose(f);
    free(sf->body);
    free(sf->path);
    return -1;
}

/* Load every regular file below dir (URL prefix url), dot files skipped. */
static int s_walk(gw_static_t *st, const char *dir, const char *url, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        pl_warn("web root: cannot open %s: %s", dir, strerror(errno));
        return 0;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char fs_path[4096], sub[512];
        if (snprintf(fs_path, sizeof fs_path, "%s/%s", dir, e->d_name) >= (int)sizeof fs_path ||
            snprintf(sub, sizeof sub, "%s/%s", url, e->d_name) >= (int)sizeof sub ||
            strlen(sub) >= sizeof((gw_http_req_t *)0)->path)
            continue; /* a URL too long for a request path can never be asked for */
        struct stat sb;
        if (stat(fs_path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth < STATIC_MAX_DEPTH)
            rc = s_walk(st, fs_path, sub, depth + 1);
        else if (S_ISREG(sb.st_mode))
            rc = s_load(st, fs_path, sub);
    }
    closedir(d);
    return rc;
}

int gw_static_init(gw_t *gw)
{
    const char *root = gw->cfg.web_root;
    if (!root || !*root)
        return 0;
    gw_static_t *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    if (s_walk(st, root, "", 0) != 0) {
        gw->st = st;
        gw_static_fini(gw);
        return -1;
    }
    gw->st = st;
    size_t bytes = 0;
    for (int i = 0; i < st->n; i++)
        bytes += st->files[i].len;
    if (st->n)
        pl_info("web client: %d files (%zu bytes) from %s", st->n, bytes, root);
    else
        pl_warn("web client: nothing to serve in %s (GET / answers 404)", root);
    return 0;
}

void gw_static_fini(gw_t *gw)
{
    gw_static_t *st = gw->st;
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        free(st->files[i].path);
        free(st->files[i].body);
        free(st->files[i].gz);
    }
    free(st);
    gw->st = NULL;
}

/* Does the comma-separated header value list name token (case-insensitive), without
 * q=0? Good enough for Accept-Encoding: "gzip, deflate, br" or "gzip;q=0". */
bool gw_static__accepts(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        if ((size_t)(end - p) >= tl && strncasecmp(p, token, tl) == 0 &&
            (p[tl] == ',' || p[tl] == ';' || p[tl] == ' ' || p[tl] == 0)) {
            const char *q = strstr(p, "q=");
            bool zero = q && q < end && strtod(q + 2, NULL) == 0.0;
            return !zero;
        }
        p = end;
    }
    return false;
}

/* Does If-None-Match (a list of ETags, or "*") match etag? */
bool gw_static__etag_match(const char *inm, const char *etag)
{
    if (strcmp(inm, "*") == 0)
        return true;
    size_t el = strlen(etag);
    for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag)) {
        char after = p[el];
        if (after == 0 || after == ',' || after == ' ')
            return true;
    }
    return false;
}

static const static_file_t *s_find(const gw_static_t *st, const char *want)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->files[i].path, want) == 0)
            return &st->files[i];
    return NULL;
}

const char *gw_static__find(const gw_t *gw, const char *path, const unsigned char **body,
                            size_t *len, const unsigned char **gz, size_t *gz_len,
                            const char **etag)
{
    const static_file_t *sf = gw->st ? s_find(gw->st, path) : NULL;
    if (!sf)
        return NULL;
    *body = sf->body;
    *len = sf->len;
    *gz = sf->gz;
    *gz_len = sf->gz_len;
    *etag = sf->etag;
    return sf->ctype;
}

bool gw_static_serve(gw_http_req_t *r)
{
    gw_static_t *st = r->gw->st;
    if (!st || strncmp(r->path, "/v1/", 4) == 0 || strcmp(r->path, "/v1") == 0)
        return false;
    /* a path cut short by a decoded NUL names no file (lws 4.1 drops a trailing %00 and
     * refuses one inside the path; this holds should that change) */
    if ((size_t)lws_hdr_total_length(r->wsi, WSI_TOKEN_GET_URI) != strlen(r->path))
        return false;
    const char *want = strcmp(r->path, "/") == 0 ? "/index.html" : r->path;
    const static_file_t *sf = s_find(st, want);
    if (!sf)
        return false;

    snprintf(r->etag, sizeof r->etag, "%s", sf->etag);
    r->ctype = sf->ctype;
    r->cache = "no-cache";
    r->html = sf->html;
    r->vary = true;
    struct lws *wsi = r->wsi;
    char hv[512];
    if (lws_hdr_copy(wsi, hv, sizeof hv, WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 &&
        gw_static__etag_match(hv, sf->etag)) {
        r->status = 304;
        r->resp = malloc(LWS_PRE + 1);
        if (!r->resp)
            goto oom;
        r->resp_len = 0;
        r->resp_ready = true;
        lws_callback_on_writable(wsi);
        return true;
    }
    const unsigned char *body = sf->body;
    size_t len = sf->len;
    if (sf->gz && lws_hdr_copy(wsi, hv, sizeof hv, WSI_TOKEN_HTTP_ACCEPT_ENCODING) > 0 &&
        gw_static__accepts(hv, "gzip")) {
        body = sf->gz;
        len = sf->gz_len;
        r->gzip = true;
    }
    r->resp = malloc(LWS_PRE + len + 1);
    if (!r->resp)
        goto oom;
    memcpy(r->resp + LWS_PRE, body, len);
    r->resp_len = len;
    r->status = 200;
    r->resp_ready = true;
    lws_callback_on_writable(wsi);
    return true;
oom:
    r->ctype = NULL;
    gw_http_respond_error(r, 503, PL_E_UNAVAILABLE, "out of memory");
    return true;
}
