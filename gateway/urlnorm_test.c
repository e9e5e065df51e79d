/* Unit test of urlnorm.c: normalisation and prefix matching of push target URLs. */
#include "gw_urlnorm.h"

#include <stdio.h>
#include <string.h>

static int s_fail;

static void s_norm(const char *in, const char *want)
{
    char out[256];
    int rc = gw_url_normalize(in, out, sizeof out);
    if (want == NULL ? rc == 0 : rc != 0 || strcmp(out, want) != 0) {
        fprintf(stderr, "FAIL %s: got %s, want %s\n", in, rc ? "(refused)" : out,
                want ? want : "(refused)");
        s_fail++;
    }
}

static void s_prefix(const char *url, const char *prefix, bool want)
{
    if (gw_url_prefix_match(url, prefix) != want) {
        fprintf(stderr, "FAIL prefix %s of %s: want %d\n", prefix, url, want);
        s_fail++;
    }
}

int main(void)
{
    s_norm("http://127.0.0.1:9/hook/../../evil", "http://127.0.0.1:9/evil");
    s_norm("http://h/a/b/c/./../../g", "http://h/a/g");
    s_norm("http://h/hook/%2e%2E/x", "http://h/x");
    s_norm("http://h/hook/.%2e", "http://h/");
    s_norm("http://h/a/..", "http://h/");
    s_norm("http://h/a/.", "http://h/a/");
    s_norm("http://h/..x/.y", "http://h/..x/.y");
    s_norm("HTTPS://Example.COM:443/A%7e%41?q=%2f%7e", "https://example.com/A~A?q=%2F~");
    s_norm("http://h:80", "http://h/");
    s_norm("http://h:8080?x", "http://h:8080/?x");
    s_norm("http://[::1]:9/x", "http://[::1]:9/x");
    s_norm("http://h/a%20b", "http://h/a%20b");
    s_norm("http://h/a/../../../b", "http://h/b");
    s_norm("http://h/%2fx", NULL);
    s_norm("http://h/%5Cx", NULL);
    s_norm("http://h/x%", NULL);
    s_norm("http://h/x%4", NULL);
    s_norm("http://h/x%zz", NULL);
    s_norm("http://h/%00", NULL);
    s_norm("http://h/%c3%a9", NULL);
    s_norm("http://u@h/", NULL);
    s_norm("http://h:1@evil/", NULL);
    s_norm("http://b\xc3\xbc"
           "cher.example/",
           NULL);
    s_norm("http://h/\xc3\xa9", NULL);
    s_norm("http://h/x#f", NULL);
    s_norm("http://h:0/", NULL);
    s_norm("http://h:65536/", NULL);
    s_norm("http:///x", NULL);
    s_norm("http://h\\x", NULL);
    s_norm("http://h/a\\b", NULL);
    s_norm("http://h/a b", NULL);
    s_norm("http://h%41/", NULL);
    s_norm("http://h_x/", NULL);
    s_norm("ftp://h/", NULL);
    s_norm("http://[zz]/", NULL);
    s_norm("http://h/a\"b", NULL);
    char tiny[10];
    if (gw_url_normalize("http://example.com/", tiny, sizeof tiny) == 0) {
        fprintf(stderr, "FAIL: overflow not refused\n");
        s_fail++;
    }
    s_prefix("http://h/hook/x", "http://h/hook/", true);
    s_prefix("http://h/hook", "http://h/hook/", false);
    s_prefix("http://h/hookx", "http://h/hook", false);
    s_prefix("http://h/hook/x", "http://h/hook", true);
    s_prefix("http://h.evil/x", "http://h", false);
    s_prefix("http://h/x", "http://h", true);
    s_prefix("http://h:81/x", "http://h", false);
    s_prefix("http://h", "", false);
    if (s_fail)
        return 1;
    printf("urlnorm: ok\n");
    return 0;
}
