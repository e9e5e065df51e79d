/* frames_test — unit test of the gateway's frame codec (frames.c): ok-body splicing, error
 * frames (escaping, id or no id), the conversation tag of event frames, and blob
 * reference counting. Every produced frame is re-parsed with jansson and compared. */
#include "gw.h"
#include "gw_frames.h"

#include <stdio.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

/* Parse a blob as one JSON object (NULL if it is not). */
static json_t *s_parse(const gw_blob_t *b)
{
    return b ? json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
}

static void test_splice(void)
{
    gw_blob_t *b = gw_frame_ok_splice("\"7\"", "{\"seq\":3,\"ts\":12}", 17);
    json_t *j = s_parse(b);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "type")), "ok"));
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "id")), "7"));
    CHECK(j && json_integer_value(json_object_get(j, "seq")) == 3);
    CHECK(j && json_object_size(j) == 4);
    json_decref(j);
    gw_blob_unref(&b);
    CHECK(b == NULL);

    /* empty bodies, with and without white space */
    const char *empties[] = {"{}", " { } ", "{\n}"};
    for (int i = 0; i < 3; i++) {
        b = gw_frame_ok_splice("\"a\\\"b\"", empties[i], strlen(empties[i]));
        j = s_parse(b);
        CHECK(j && json_object_size(j) == 2);
        CHECK(j && !strcmp(json_string_value(json_object_get(j, "id")), "a\"b"));
        json_decref(j);
        gw_blob_unref(&b);
    }
    /* not an object: refused */
    CHECK(gw_frame_ok_splice("\"1\"", "[1]", 3) == NULL);
    CHECK(gw_frame_ok_splice("\"1\"", "{", 1) == NULL);
    CHECK(gw_frame_ok_splice("\"1\"", "", 0) == NULL);
}

static void test_error(void)
{
    const char msg[] = "bad \"quote\" and \\ and \xF0\x9F\x98\x80";
    gw_blob_t *b = gw_frame_error("\"x\"", "bad_request", msg, strlen(msg));
    json_t *j = s_parse(b);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "type")), "error"));
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "code")), "bad_request"));
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "message")), msg));
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "id")), "x"));
    json_decref(j);
    gw_blob_unref(&b);

    /* no id: the frame has no id member */
    b = gw_frame_error(NULL, "unauthenticated", "who are you", 11);
    j = s_parse(b);
    CHECK(j && json_object_get(j, "id") == NULL);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "code")), "unauthenticated"));
    json_decref(j);
    gw_blob_unref(&b);

    /* a message that is not UTF-8 falls back to the code, still valid JSON */
    b = gw_frame_error(NULL, "internal", "\xFF\xFE", 2);
    j = s_parse(b);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "message")), "internal"));
    json_decref(j);
    gw_blob_unref(&b);
}

static void test_tag(void)
{
    const char *ev = "{\"type\":\"msg\",\"conv\":\"g:abc_DEF-1\",\"seq\":1}";
    gw_blob_t *b = gw_blob_new(ev, strlen(ev));
    gw_blob_tag_conv(b);
    CHECK(b->conv_len == strlen("g:abc_DEF-1"));
    CHECK(!memcmp(b->data + b->conv_off, "g:abc_DEF-1", b->conv_len));
    /* shared by two queues, freed by the last */
    gw_blob_t *r = gw_blob_ref(b);
    CHECK(r == b && b->refs == 2);
    gw_blob_unref(&r);
    CHECK(b->refs == 1);
    gw_blob_unref(&b);

    /* anything else is left untagged */
    const char *bad[] = {"{\"type\":\"ok\",\"id\":\"1\"}",
                         "{\"conv\":\"x\",\"type\":\"msg\"}",
                         "{\"type\":\"msg\",\"conv\":\"\"}",
                         "{\"type\":\"msg\",\"conv\":\"a",
                         "{\"type\":\"m\\\"sg\",\"conv\":\"x\"}",
                         "",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        b = gw_blob_new(bad[i], strlen(bad[i]));
        gw_blob_tag_conv(b);
        CHECK(b->conv_len == 0);
        gw_blob_unref(&b);
    }
}

int main(void)
{
    test_splice();
    test_error();
    test_tag();
    printf("%d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
