/*
 * tests/apiserver/test_prune.c: custom resources' unknown fields
 * (apiserver/prune.c) against kube-apiserver's structural pruning and
 * strict decoding: what is removed, what is kept, the paths reported and
 * their order, with and without x-kubernetes-preserve-unknown-fields,
 * additionalProperties, arrays, embedded resources and metadata.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "tests/test.h"

typedef struct pcase {
    const char *what;
    const char *schema; /* openAPIV3Schema */
    const char *obj;    /* the object sent */
    const char *kept;   /* the object after pruning */
    const char *paths;  /* the unknown paths, "|"-joined, in order */
} pcase;

#define ROOT(props) "{\"type\":\"object\",\"properties\":{" props "}}"
#define OBJ(spec)                                                                                  \
    "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"w\"},\"spec\":" spec "}"

static const pcase cases[] = {
    {"undeclared members go; the root's apiVersion, kind and metadata stay undeclared",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}"),
     OBJ("{\"a\":1,\"b\":2}"), OBJ("{\"a\":1}"), "spec.b"},
    {"an object schema without properties keeps nothing", ROOT("\"spec\":{\"type\":\"object\"}"),
     OBJ("{\"a\":{\"b\":1},\"c\":2}"), OBJ("{}"), "spec.a|spec.c"},
    {"preserve-unknown-fields keeps what it does not declare, prunes inside what it does",
     ROOT("\"spec\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
          "\"properties\":{\"known\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
          "\"integer\"}}}}}"),
     OBJ("{\"free\":{\"any\":[1,{\"x\":2}]},\"known\":{\"n\":1,\"bogus\":2}}"),
     OBJ("{\"free\":{\"any\":[1,{\"x\":2}]},\"known\":{\"n\":1}}"), "spec.known.bogus"},
    {"declared arrays under preserve-unknown-fields: items pruned by their schema",
     ROOT("\"spec\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
          "\"properties\":{\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
          "\"properties\":{\"a\":{\"type\":\"string\"}}}}}}"),
     OBJ("{\"list\":[{\"a\":\"x\"},{\"a\":\"y\",\"b\":1}]}"),
     OBJ("{\"list\":[{\"a\":\"x\"},{\"a\":\"y\"}]}"), "spec.list[1].b"},
    {"an array whose items preserve: each item's declared members are pruned",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{\"list\":{\"type\":\"array\","
          "\"x-kubernetes-preserve-unknown-fields\":true,\"items\":{\"type\":\"object\","
          "\"x-kubernetes-preserve-unknown-fields\":true,\"properties\":{\"k\":{\"type\":"
          "\"object\",\"properties\":{}}}}}}}"),
     OBJ("{\"list\":[{\"k\":{\"z\":1},\"free\":1}]}"), OBJ("{\"list\":[{\"k\":{},\"free\":1}]}"),
     "spec.list[0].k.z"},
    {"additionalProperties with a schema: every key, each pruned by it",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\","
          "\"additionalProperties\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":"
          "\"string\"}}}}}}"),
     OBJ("{\"m\":{\"one\":{\"v\":\"a\",\"w\":1},\"two\":{}}}"),
     OBJ("{\"m\":{\"one\":{\"v\":\"a\"},\"two\":{}}}"), "spec.m.one.w"},
    {"additionalProperties: true keeps every key and no member of an object below it",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\","
          "\"additionalProperties\":true}}}"),
     OBJ("{\"m\":{\"s\":1,\"o\":{\"y\":1,\"z\":[{\"q\":1}]}}}"), OBJ("{\"m\":{\"s\":1,\"o\":{}}}"),
     "spec.m.o.y|spec.m.o.z"},
    {"an array without items: objects in it lose every member",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{\"arr\":{\"type\":\"array\"}}}"),
     OBJ("{\"arr\":[{\"a\":1},2]}"), OBJ("{\"arr\":[{},2]}"), "spec.arr[0].a"},
    {"preserve-unknown-fields below a pruned object below a preserving one",
     ROOT("\"spec\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
          "\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"object\","
          "\"x-kubernetes-preserve-unknown-fields\":true,\"properties\":{\"c\":{\"type\":"
          "\"object\",\"properties\":{}}}}}}}}"),
     OBJ("{\"top\":1,\"a\":{\"x\":1,\"b\":{\"free\":1,\"c\":{\"d\":1}}}}"),
     OBJ("{\"top\":1,\"a\":{\"b\":{\"free\":1,\"c\":{}}}}"), "spec.a.b.c.d|spec.a.x"},
    {"a preserving root keeps everything it does not declare",
     "{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,\"properties\":{"
     "\"spec\":{\"type\":\"object\",\"properties\":{}}}}",
     "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"w\"},\"spec\":{\"a\":1},"
     "\"other\":{\"b\":2}}",
     "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"w\"},\"spec\":{},"
     "\"other\":{\"b\":2}}",
     "spec.a"},
    {"an embedded resource: its apiVersion, kind and metadata stay, metadata is ObjectMeta",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{\"template\":{\"type\":\"object\","
          "\"x-kubernetes-embedded-resource\":true,\"properties\":{\"spec\":{\"type\":"
          "\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}}}"),
     OBJ("{\"template\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
         "\"bogus\":1},\"spec\":{\"any\":1},\"extra\":1}}"),
     OBJ("{\"template\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
         "\"spec\":{\"any\":1}}}"),
     "spec.template.extra|spec.template.metadata.bogus"},
    {"embedded resources below additionalProperties and preserve-unknown-fields: [key] paths",
     ROOT("\"spec\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
          "\"properties\":{\"templates\":{\"type\":\"object\",\"additionalProperties\":{"
          "\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
          "\"x-kubernetes-preserve-unknown-fields\":true}}}}"),
     OBJ("{\"templates\":{\"a\":{\"kind\":\"Pod\",\"metadata\":{\"labels\":{\"x\":\"y\"},"
         "\"nope\":true},\"free\":1}}}"),
     OBJ("{\"templates\":{\"a\":{\"kind\":\"Pod\",\"metadata\":{\"labels\":{\"x\":\"y\"}},"
         "\"free\":1}}}"),
     "spec.templates[a].metadata.nope"},
    {"the root's metadata is ObjectMeta, first, in document order; fieldsV1 is free",
     ROOT("\"spec\":{\"type\":\"object\",\"properties\":{}}"),
     "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"w\",\"zz\":1,"
     "\"ownerReferences\":[{\"kind\":\"A\",\"name\":\"a\",\"uid\":\"u\",\"apiVersion\":\"v1\","
     "\"weird\":1}],\"managedFields\":[{\"manager\":\"m\",\"fieldsV1\":{\"f:spec\":{}}}]},"
     "\"spec\":{\"a\":1}}",
     "{\"apiVersion\":\"x.io/v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"w\","
     "\"ownerReferences\":[{\"kind\":\"A\",\"name\":\"a\",\"uid\":\"u\",\"apiVersion\":\"v1\"}],"
     "\"managedFields\":[{\"manager\":\"m\",\"fieldsV1\":{\"f:spec\":{}}}]},\"spec\":{}}",
     "metadata.zz|metadata.ownerReferences[0].weird|spec.a"},
};

static void run(const pcase *c, bool prune)
{
    json_error_t je;
    json_t *schema = json_loads(c->schema, 0, &je), *obj = json_loads(c->obj, 0, &je),
           *kept = json_loads(c->kept, 0, &je), *orig = json_loads(c->obj, 0, &je);
    T_CHECK(schema && obj && kept);
    if (!schema || !obj || !kept)
        goto out;
    fl_apiserver_unknown u = {.prune = prune};
    fl_apiserver_prune_cr(schema, obj, &u);
    char got[2000] = "";
    for (size_t i = 0; i < u.n; i++) {
        if (i)
            strncat(got, "|", sizeof(got) - strlen(got) - 1);
        strncat(got, u.paths[i], sizeof(got) - strlen(got) - 1);
    }
    if (strcmp(got, c->paths)) {
        T_CHECK(!"unknown paths");
        fprintf(stderr, "  %s (prune %d)\n  got  %s\n  want %s\n", c->what, prune, got, c->paths);
    }
    if (!json_equal(obj, prune ? kept : orig)) {
        char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
        T_CHECK(!"pruned object");
        fprintf(stderr, "  %s (prune %d)\n  got  %s\n  want %s\n", c->what, prune, s,
                prune ? c->kept : c->obj);
        free(s);
    }
    fl_apiserver_unknown_done(&u);
out:
    json_decref(schema);
    json_decref(obj);
    json_decref(kept);
    json_decref(orig);
}

/* More unknown members than are reported: the first ones, and "more". */
static void test_many(void)
{
    json_t *schema = json_loads(ROOT("\"spec\":{\"type\":\"object\"}"), 0, NULL);
    json_t *spec = json_object();
    char k[16];
    for (int i = 0; i < FL_APISERVER_MAX_UNKNOWN + 5; i++) {
        snprintf(k, sizeof k, "f%03d", i);
        json_object_set_new(spec, k, json_integer(i));
    }
    json_t *obj = json_pack("{s:s,s:s,s:o}", "apiVersion", "x.io/v1", "kind", "W", "spec", spec);
    fl_apiserver_unknown u = {.prune = true};
    fl_apiserver_prune_cr(schema, obj, &u);
    T_EQ_INT(u.n, FL_APISERVER_MAX_UNKNOWN);
    T_CHECK(u.more);
    T_EQ_INT(json_object_size(json_object_get(obj, "spec")), 0);
    fl_apiserver_unknown_done(&u);
    json_decref(obj);
    json_decref(schema);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run(&cases[i], true);
        run(&cases[i], false); /* Strict: the same findings, nothing removed */
    }
    test_many();
    return t_done();
}
