/* json-parsers-jsonc — json-c's side of bench/json-parsers.c, in a file of its own: its
 * json_object and json_object_get clash with jansson's names. */
#include <json-c/json.h>
#include <stddef.h>

int json_parsers_jsonc(const char *s, size_t len);

/* 1 when json-c (strict, UTF-8 checked) accepts the len bytes at s as one value. */
int json_parsers_jsonc(const char *s, size_t len)
{
    json_tokener *t = json_tokener_new();
    if (!t)
        return 0;
    json_tokener_set_flags(t, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(t, s, (int)len);
    int ok = o && json_tokener_get_error(t) == json_tokener_success &&
             json_tokener_get_parse_end(t) == len;
    json_object_put(o);
    json_tokener_free(t);
    return ok;
}
