/* types_test — unit test of the client request types (types.c, gw_types.def): every row is
 * found by its name, and nothing else is (unknown names, prefixes, extensions, other case,
 * a NUL inside); rows and names are unique; every type of PROTOCOL.md §3 has a row; each
 * row's columns agree with each other and with the op table (proto/pl_ops.def): what
 * requests.c, budget.c, validate.c and groups.c rely on when they read a row. */
#include "gw_types.h"

#include <stdio.h>
#include <string.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

static const gw_type_def_t *s_find(const char *name)
{
    return gw_type_find(name, strlen(name));
}

static void test_lookup(void)
{
    CHECK(gw_type_def(GW_TYPE_NONE) == NULL && gw_type_def(GW_TYPE__COUNT) == NULL &&
          gw_type_def(~0u) == NULL);
    for (unsigned i = 1; i < GW_TYPE__COUNT; i++) {
        const gw_type_def_t *t = gw_type_def(i);
        CHECK(t && t->id == (gw_type_t)i);
        if (!t)
            continue;
        CHECK(t->name_len == strlen(t->name) && t->name_len > 0);
        CHECK(s_find(t->name) == t);
        /* a name in a longer buffer, not NUL-terminated at n: found by its n bytes */
        char buf[64];
        snprintf(buf, sizeof buf, "%sXYZ", t->name);
        CHECK(gw_type_find(buf, t->name_len) == t);
        /* every prefix, every extension, any changed byte: not found */
        for (size_t n = 0; n < t->name_len; n++)
            CHECK(gw_type_find(t->name, n) == NULL);
        CHECK(gw_type_find(buf, t->name_len + 1) == NULL);
        snprintf(buf, sizeof buf, "%s ", t->name);
        CHECK(s_find(buf) == NULL);
        snprintf(buf, sizeof buf, " %s", t->name);
        CHECK(s_find(buf) == NULL);
        memcpy(buf, t->name, t->name_len + 1);
        buf[t->name_len] = '\0';
        buf[t->name_len + 1] = 'x'; /* "send\0x" with its length: a NUL inside */
        CHECK(gw_type_find(buf, t->name_len + 2) == NULL);
        for (size_t k = 0; k < t->name_len; k++) {
            memcpy(buf, t->name, t->name_len + 1);
            buf[k] ^= 0x20; /* other case ('_' becomes DEL) */
            CHECK(s_find(buf) == NULL);
        }
        /* unique: no other row has this name */
        for (unsigned j = 1; j < i; j++)
            CHECK(strcmp(gw_type_def(j)->name, t->name) != 0);
    }
    static const char *unknown[] = {"",     "x",         "logout", "pong",           "sendx",
                                    "sen",  "group",     "group_", "push_",          "SEND",
                                    "Auth", "send_",     "syncs",  "history ",       "typing\t",
                                    "conv", "presences", "hello",  "(holds U+0000)", NULL};
    for (int i = 0; unknown[i]; i++) {
        CHECK(s_find(unknown[i]) == NULL);
        if (s_find(unknown[i]))
            fprintf(stderr, "  found '%s'\n", unknown[i]);
    }
    CHECK(gw_type_find(NULL, 0) == NULL);
}

/* The contract's request types (PROTOCOL.md §3) all have a row. */
static void test_contract(void)
{
    static const char *types[] = {"auth",      "send",
                                  "sync",      "history",
                                  "convs",     "group_create",
                                  "group_add", "group_remove",
                                  "read",      "typing",
                                  "presence",  "push_register",
                                  "push_list", "push_unregister",
                                  "ping",      NULL};
    int n = 0;
    for (int i = 0; types[i]; i++, n++) {
        CHECK(s_find(types[i]) != NULL);
        if (!s_find(types[i]))
            fprintf(stderr, "  no row for '%s'\n", types[i]);
    }
    CHECK(n == GW_TYPE__COUNT - 1); /* and no row beyond them (an extension adds to both) */
}

static bool s_op_ok(unsigned op)
{
    const pl_opdef_t *d = pl_op_def(op);
    return d && !(d->flags & PL_OPF_FWD); /* a gateway sends no shard-to-shard op */
}

static void test_coherence(void)
{
    int first = 0;
    for (unsigned i = 1; i < GW_TYPE__COUNT; i++) {
        const gw_type_def_t *t = gw_type_def(i);
        if (!t)
            continue;
        unsigned f = t->flags;
        const pl_opdef_t *op = pl_op_def(t->op);
        CHECK((f & ~(unsigned)(GW_TF_FIRST | GW_TF_MEMBERS | GW_TF_CONV | GW_TF_LIMIT_OK)) == 0);
        /* the op and the other ops: request ops of pl_ops.def, each once */
        CHECK(t->op == PL_OP_NONE || s_op_ok(t->op));
        CHECK(!(t->also & 1)); /* bit 0 is PL_OP_NONE */
        for (unsigned o = 1; o < 64; o++)
            if (t->also & (UINT64_C(1) << o))
                CHECK(s_op_ok(o) && o != (unsigned)t->op);
        CHECK(t->op != PL_OP_NONE || t->also == 0); /* answered locally: sends nothing */
        if (f & GW_TF_FIRST) {
            first++;
            CHECK(strcmp(t->name, "auth") == 0);
            /* the caller is not known yet: an op that names no authenticated user */
            CHECK(op && !(op->flags & PL_OPF_AUTH) && op->key == PL_KEY_USER);
            CHECK(!(f & (GW_TF_MEMBERS | GW_TF_CONV | GW_TF_LIMIT_OK)));
        } else if (op) {
            /* after auth every op carries the authenticated caller */
            CHECK(op->flags & PL_OPF_AUTH);
        }
        if (f & GW_TF_CONV) {
            /* keyed c:<conv>: the conversation's shard */
            CHECK(op && op->key == PL_KEY_CONV);
        }
        if (f & GW_TF_MEMBERS) {
            /* only the conversation path reads the parsed members (gw_valid_conv_request) */
            CHECK((f & GW_TF_CONV) && strcmp(t->handler, "s_conv_request") == 0);
        }
        if (strcmp(t->handler, "s_conv_request") == 0) {
            /* validated by gw_valid_conv_request; a dm's other user is checked first */
            CHECK((f & GW_TF_CONV) && (t->also & GW_OPM(USER_EXISTS)));
            /* its op is the type's own (requests.c builds the body from the type) */
            CHECK(op && strcmp(op->name, t->name) == 0);
        }
        if (f & GW_TF_LIMIT_OK) {
            /* an ok without doing it is only honest for a request that stores nothing */
            CHECK(op && !(op->flags & PL_OPF_WRITE));
        }
        /* the budget: a page of stored messages has a default limit in 1..500 */
        CHECK(t->budget == GW_TB_SMALL || t->budget == GW_TB_PAGE || t->budget == GW_TB_CONVS);
        CHECK((t->budget == GW_TB_PAGE) == (t->page > 0));
        CHECK(t->page <= 500);
        CHECK(t->handler && t->handler[0]);
    }
    CHECK(first == 1);
    /* what the contract fixes (PROTOCOL.md §3) and the rows must say */
    CHECK(s_find("sync")->page == 100 && s_find("history")->page == 50);
    CHECK(s_find("typing")->flags & GW_TF_LIMIT_OK);
    CHECK(!(s_find("send")->flags & GW_TF_LIMIT_OK) && (s_find("send")->flags & GW_TF_MEMBERS));
    CHECK(s_find("ping")->op == PL_OP_NONE);
    CHECK(s_find("convs")->budget == GW_TB_CONVS);
}

int main(void)
{
    test_lookup();
    test_contract();
    test_coherence();
    printf("gateway_types_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
