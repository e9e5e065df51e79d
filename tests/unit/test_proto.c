/* Unit tests for proto/: slot hashing (known vectors, even spread), slot table wire form,
 * UTF-8 validation and counting, name/dm validation, the config file (pl_config), CURVE
 * key files (pl_curve). Exit 0 when all pass. */
#include "pl_config.h"
#include "pl_curve.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_text.h"

#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

static void test_crc16(void)
{
    /* Reference values of CRC16-XMODEM (the Redis Cluster key hash). */
    CHECK(pl_crc16("123456789", 9) == 0x31C3);
    CHECK(pl_crc16("", 0) == 0);
    CHECK(pl_slot("foo", 3) == 12182); /* Redis: CLUSTER KEYSLOT foo */
    CHECK(pl_slot("bar", 3) == 5061);  /* Redis: CLUSTER KEYSLOT bar */
    /* the table-driven CRC equals the bit-by-bit definition: on every byte value, then
     * on pseudo-random buffers of every length up to 64 */
    unsigned char buf[64];
    uint32_t x = 12345;
    int same = 1;
    for (int n = 0; n < 256 + 65 * 8; n++) {
        size_t len = n < 256 ? 1 : (size_t)((n - 256) % 65);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = n < 256 ? (unsigned char)n : (unsigned char)(x >> 16);
        }
        uint16_t ref = 0;
        for (size_t i = 0; i < len; i++) {
            ref ^= (uint16_t)(buf[i] << 8);
            for (int b = 0; b < 8; b++)
                ref = (ref & 0x8000) ? (uint16_t)((ref << 1) ^ 0x1021) : (uint16_t)(ref << 1);
        }
        same &= pl_crc16(buf, len) == ref;
    }
    CHECK(same);
}

static void test_spread(void)
{
    /* 200,000 realistic keys over 16,384 slots and over 2/3/7 shards: every shard's share
     * within 3% of the mean, and no slot left empty. */
    enum { N = 200000 };
    static int slots[PL_SLOTS];
    int shards[3][7] = {{0}};
    const int counts[3] = {2, 3, 7};
    pl_slots_t *t[3];
    for (int k = 0; k < 3; k++)
        t[k] = pl_slots_new_even(counts[k], 1);
    char key[96];
    for (int i = 0; i < N; i++) {
        if (i % 2)
            snprintf(key, sizeof key, "u:user_%d", i);
        else
            snprintf(key, sizeof key, "c:dm:user_%d:user_%d", i, i + 1);
        int s = pl_slot(key, strlen(key));
        CHECK(s >= 0 && s < PL_SLOTS);
        slots[s]++;
        for (int k = 0; k < 3; k++)
            shards[k][pl_slots_owner_of_key(t[k], key)]++;
    }
    int empty = 0;
    for (int s = 0; s < PL_SLOTS; s++)
        empty += slots[s] == 0;
    CHECK(empty == 0);
    for (int k = 0; k < 3; k++) {
        double mean = (double)N / counts[k];
        for (int sh = 0; sh < counts[k]; sh++) {
            double dev = shards[k][sh] / mean - 1.0;
            if (dev < -0.03 || dev > 0.03)
                fprintf(stderr, "shards=%d shard %d holds %d keys (mean %.0f)\n", counts[k], sh,
                        shards[k][sh], mean);
            CHECK(dev > -0.03 && dev < 0.03);
        }
        pl_slots_destroy(&t[k]);
        CHECK(t[k] == NULL);
    }
}

static void test_table(void)
{
    pl_slots_t *t = pl_slots_new_even(2, 7);
    CHECK(pl_slots_owner(t, 0) == 0);
    CHECK(pl_slots_owner(t, 8191) == 0);
    CHECK(pl_slots_owner(t, 8192) == 1);
    CHECK(pl_slots_owner(t, PL_SLOTS - 1) == 1);
    CHECK(pl_slots_owner(t, PL_SLOTS) == -1);
    char *wire = pl_slots_encode(t);
    CHECK(wire && strcmp(wire, "7 0-8191=0 8192-16383=1") == 0);
    pl_slots_t *u = pl_slots_decode(wire);
    CHECK(u && pl_slots_version(u) == 7 && pl_slots_nshards(u) == 2);
    for (int s = 0; u && s < PL_SLOTS; s += 97)
        CHECK(pl_slots_owner(u, s) == pl_slots_owner(t, s));
    free(wire);
    pl_slots_destroy(&u);
    pl_slots_destroy(&t);
    pl_slots_destroy(&t); /* idempotent */
    /* Malformed tables are refused, never half-read. */
    const char *bad[] = {"",
                         "x",
                         "1 0-100=0",
                         "1 1-16383=0",
                         "1 0-16383=0 ",
                         "1 0-16384=0",
                         "1 0-8191=0 8193-16383=1",
                         "1 0-16383=-1",
                         "1 0-16383=0 0-1=1",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        pl_slots_t *b = pl_slots_decode(bad[i]);
        if (b)
            fprintf(stderr, "accepted bad table '%s'\n", bad[i]);
        CHECK(b == NULL);
        pl_slots_destroy(&b);
    }
    CHECK(pl_slots_new_even(0, 1) == NULL);
}

static void test_utf8(void)
{
    CHECK(pl_utf8_valid("", 0));
    CHECK(pl_utf8_valid("hello", 5));
    CHECK(pl_utf8_valid("\xC3\xA9", 2));         /* é */
    CHECK(pl_utf8_valid("\xE2\x82\xAC", 3));     /* € */
    CHECK(pl_utf8_valid("\xF0\x9F\x98\x80", 4)); /* 😀 */
    CHECK(pl_utf8_valid("\xF4\x8F\xBF\xBF", 4)); /* U+10FFFF */
    CHECK(!pl_utf8_valid("\x80", 1));
    CHECK(!pl_utf8_valid("\xC0\xAF", 2));         /* overlong */
    CHECK(!pl_utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
    CHECK(!pl_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    CHECK(!pl_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!pl_utf8_valid("\xF0\x9F\x98", 3));     /* truncated */
    CHECK(!pl_utf8_valid("\xFF", 1));
    CHECK(pl_utf8_count("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10) == 4);
    CHECK(pl_utf8_count("", 0) == 0);
    /* the eight-bytes-at-once paths: one character (valid or not) at every offset of an
     * ASCII run, against a byte-by-byte count and the verdict of the character alone */
    static const struct {
        const char *s;
        bool ok;
    } ch[] = {{"\xC3\xA9", true},      {"\xF0\x9F\x98\x80", true}, {"\x80", false},
              {"\xED\xA0\x80", false}, {"\xF0\x9F\x98", false},    {"\xFF", false}};
    for (size_t k = 0; k < sizeof ch / sizeof ch[0]; k++)
        for (size_t at = 0; at <= 17; at++)
            for (size_t tail = 0; tail <= 9; tail++) {
                char in[40];
                size_t m = 0, want = 0;
                for (size_t i = 0; i < at; i++)
                    in[m++] = 'a';
                memcpy(in + m, ch[k].s, strlen(ch[k].s));
                m += strlen(ch[k].s);
                for (size_t i = 0; i < tail; i++)
                    in[m++] = 'z';
                for (size_t i = 0; i < m; i++)
                    want += ((unsigned char)in[i] & 0xC0) != 0x80;
                CHECK(pl_utf8_count(in, m) == want);
                CHECK(pl_utf8_valid(in, m) == ch[k].ok);
            }
}

static void test_names(void)
{
    CHECK(pl_user_valid("bob"));
    CHECK(pl_user_valid("a_1"));
    CHECK(pl_user_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
    CHECK(!pl_user_valid("abcdefghijklmnopqrstuvwxyz0123456"));
    CHECK(!pl_user_valid("ab"));
    CHECK(!pl_user_valid("Bob"));
    CHECK(!pl_user_valid("bo b"));
    CHECK(!pl_user_valid("bo:b"));
    CHECK(!pl_user_valid(NULL));
    CHECK(pl_device_valid("phone"));
    CHECK(pl_device_valid("Web-1.2_x"));
    CHECK(!pl_device_valid(""));
    CHECK(!pl_device_valid("a/b"));
    CHECK(pl_device_valid("0123456789012345678901234567890123456789012345678901234567890123"));
    CHECK(!pl_device_valid("01234567890123456789012345678901234567890123456789012345678901234"));
    CHECK(!pl_device_valid("ph\xc3\xa9") && !pl_device_valid("a b") && !pl_device_valid("a\x7f"));
    CHECK(!pl_user_valid("bob.") && !pl_user_valid("bob-") && !pl_user_valid("b\377b"));
    /* every byte against the documented sets */
    for (int c = 1; c < 256; c++) {
        char u[5] = {'a', 'b', (char)c, 'c', 0};
        bool lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        bool dev = lower || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
        CHECK(pl_user_valid(u) == lower && pl_device_valid(u) == dev);
    }
    CHECK(pl_password_valid("12345678", 8));
    CHECK(!pl_password_valid("1234567", 7));
    CHECK(!pl_password_valid("x", 1025));

    char a[33], b[33], out[80];
    CHECK(!pl_dm_parse("dm:bob:alice", a, b)); /* wrong order */
    CHECK(pl_dm_parse("dm:alice:bob", a, b));
    CHECK(pl_dm_parse("dm:alice:carol", a, b) && !strcmp(a, "alice") && !strcmp(b, "carol"));
    CHECK(!pl_dm_parse("dm:alice:alice", a, b));
    CHECK(!pl_dm_parse("dm:alice", a, b));
    CHECK(!pl_dm_parse("dm:al:bob", a, b));
    CHECK(!pl_dm_parse("dm:alice:bob:x", a, b));
    CHECK(!pl_dm_parse("g:alice:bob", a, b));
    CHECK(!pl_dm_parse("dm::bob", a, b));
    pl_dm_make("zed", "amy", out);
    CHECK(!strcmp(out, "dm:amy:zed"));
    CHECK(pl_group_id_valid("g:abc-DEF_1"));
    CHECK(!pl_group_id_valid("g:"));
    CHECK(!pl_group_id_valid("g:a:b"));
}

/* A temporary file holding text; its name in path (caller unlinks). */
static void s_write_tmp(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/pl_config_test_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static const struct option s_opts[] = {
    {"port", required_argument, NULL, 'p'},  {"sync", no_argument, NULL, 's'},
    {"allow", required_argument, NULL, 'a'}, {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};

/* pl_args_new on text as the config file and the given command line after it; NULL if
 * it refused. */
static pl_args_t *s_args(const char *text, int extra_argc, char **extra)
{
    char path[64];
    s_write_tmp(path, text);
    char *argv[16] = {"prog", "--config", path};
    int argc = 3;
    for (int i = 0; i < extra_argc && argc < 15; i++)
        argv[argc++] = extra[i];
    pl_args_t *a = pl_args_new("prog", "gateway", argc, argv, s_opts);
    unlink(path);
    return a;
}

static void test_config(void)
{
    /* without --config the command line is copied */
    char *plain[] = {"prog", "--port", "1"};
    pl_args_t *a = pl_args_new("prog", "gateway", 3, plain, s_opts);
    CHECK(a && pl_args_argc(a) == 3 && !strcmp(pl_args_argv(a)[1], "--port"));
    CHECK(a && pl_args_file(a) == NULL && pl_args_origin(a, 1) == NULL);
    pl_args_destroy(&a);
    pl_args_destroy(&a); /* idempotent */

    /* the role's section becomes options before the command line; other roles skipped */
    char *cmd[] = {"--port=9"};
    a = s_args("# comment\n[router]\nshards = 3\n[gateway]\nport = 8 ; inline\nsync = yes\n"
               "allow = a\nallow = b,c\n[shard]\nid = 1\n",
               1, cmd);
    CHECK(a != NULL);
    if (a) {
        char **v = pl_args_argv(a);
        CHECK(pl_args_argc(a) == 8);
        CHECK(!strcmp(v[1], "--port=8") && !strcmp(v[2], "--sync"));
        CHECK(!strcmp(v[3], "--allow=a") && !strcmp(v[4], "--allow=b,c"));
        CHECK(!strcmp(v[5], "--config") && !strcmp(v[7], "--port=9") && v[8] == NULL);
        const char *o = pl_args_origin(a, 1);
        CHECK(o && strstr(o, ":5") && !strncmp(o, "/tmp/pl_config_test_", 20));
        CHECK(pl_args_origin(a, 7) == NULL);
        /* parsed by getopt_long: the command line's port comes last and wins */
        int c, port = 0;
        bool sync = false;
        while ((c = getopt_long(pl_args_argc(a), v, "", s_opts, NULL)) != -1) {
            if (c == 'p')
                port = atoi(optarg);
            if (c == 's')
                sync = true;
            if (c == 'p' && port == 8)
                CHECK(!pl_args_from_cmdline(a));
            if (c == 'p' && port == 9)
                CHECK(pl_args_from_cmdline(a));
        }
        CHECK(port == 9 && sync);
    }
    pl_args_destroy(&a);

    /* false adds nothing */
    a = s_args("[gateway]\nsync = off\n", 0, NULL);
    CHECK(a && pl_args_argc(a) == 3);
    pl_args_destroy(&a);

    /* errors: NULL (the caller exits 2) */
    static const char *const bad[] = {
        "[gateway]\nprot = 1\n",     /* unknown key */
        "[gateway]\nconfig = x\n",   /* not a key */
        "[gateway]\nhelp = true\n",  /* not a key */
        "[gatway]\nport = 1\n",      /* unknown section */
        "port = 1\n",                /* outside a section */
        "[gateway]\nsync = maybe\n", /* not a boolean */
        "[gateway]\nport =\n",       /* empty value */
        "[gateway]\nport\n",         /* no = */
        "[gateway\nport = 1\n",      /* unclosed section */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        a = s_args(bad[i], 0, NULL);
        CHECK(a == NULL);
        pl_args_destroy(&a);
    }
    char longline[400];
    snprintf(longline, sizeof longline, "[gateway]\nallow = %0300d\n", 0);
    a = s_args(longline, 0, NULL);
    CHECK(a == NULL);
    char *missing[] = {"prog", "--config", "/nonexistent/parley.conf"};
    CHECK(pl_args_new("prog", "gateway", 3, missing, s_opts) == NULL);
    char *twice[] = {"prog", "--config", "/dev/null", "--config=/dev/null"};
    CHECK(pl_args_new("prog", "gateway", 4, twice, s_opts) == NULL);
}

/* Key files (pl_curve): what parley-keygen writes loads back; metadata binds the name. */
static void test_curve(void)
{
    char dir[] = "/tmp/test_proto-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char pub[64], sec[72], role[80];
    snprintf(pub, sizeof pub, "%s/gw", dir);
    snprintf(sec, sizeof sec, "%s/gw_secret", dir);
    zcert_t *c = zcert_new();
    zcert_set_meta(c, "role", "gateway");
    zcert_set_meta(c, "name", "gw-1");
    CHECK(zcert_save(c, pub) == 0);

    zcert_t *l = pl_curve_load_secret(sec);
    CHECK(l && !strcmp(zcert_secret_txt(l), zcert_secret_txt(c)));
    CHECK(l && pl_curve_role(l, role, sizeof role) == PL_ROLE_GATEWAY && !strcmp(role, "g/gw-1"));
    zcert_destroy(&l);
    l = pl_curve_load_secret(pub); /* FILE: zcert_load reads FILE_secret */
    CHECK(l != NULL);
    zcert_destroy(&l);
    char key[41];
    CHECK(pl_curve_load_public(pub, key) == 0 && !strcmp(key, zcert_public_txt(c)));
    CHECK(pl_curve_load_public("/nonexistent/key", key) == -1);
    CHECK(pl_curve_load_secret("/nonexistent/key") == NULL);
    unlink(sec); /* only the public file left: no secret key */
    CHECK(pl_curve_load_secret(pub) == NULL);
    unlink(pub);

    const char *bad[][2] = {{"gateway", ""}, {"gateway", "a b"}, {"gateway", "a/b"},
                            {"shard", "01"}, {"shard", "-1"},    {"shard", "65536"},
                            {"shard", "x"},  {"router2", "0"},   {NULL, NULL}};
    for (int i = 0; bad[i][0]; i++) {
        zcert_t *b = zcert_new();
        zcert_set_meta(b, "role", "%s", bad[i][0]);
        zcert_set_meta(b, !strcmp(bad[i][0], "gateway") ? "name" : "id", "%s", bad[i][1]);
        CHECK(pl_curve_role(b, role, sizeof role) == PL_ROLE_NONE);
        zcert_destroy(&b);
    }
    zcert_t *sh = zcert_new();
    zcert_set_meta(sh, "role", "shard");
    zcert_set_meta(sh, "id", "65535");
    CHECK(pl_curve_role(sh, role, sizeof role) == PL_ROLE_SHARD && !strcmp(role, "s/65535"));
    zcert_destroy(&sh);
    zcert_t *none = zcert_new();
    CHECK(pl_curve_role(none, role, sizeof role) == PL_ROLE_NONE);
    zcert_destroy(&none);
    zcert_destroy(&c);
    rmdir(dir);
}

int main(void)
{
    zsys_handler_set(NULL);
    pl_log_init("test_proto", PL_ERROR);
    test_curve();
    test_crc16();
    test_spread();
    test_table();
    test_utf8();
    test_names();
    test_config();
    printf("%d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
