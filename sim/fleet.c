/*
 * sim/fleet.c: deterministic generated workloads for `--pods N
 * --namespaces N`: namespaces named after teams, Deployments with their
 * ReplicaSets (ownerReferences that resolve), and Running pods bound to
 * the cluster's Nodes, with the labels, managedFields, requests/limits,
 * images and statuses a busy production cluster has. Everything —
 * including uids and timestamps — derives from the cluster's seed, so the
 * same seed gives byte-identical objects.
 *
 * Memory: Karmada's 100 clusters x (5,000 nodes + 20,000 pods) must fit in
 * a few GB, so Pods, Deployments and ReplicaSets are stored as compact
 * records (fl_apiserver_obj's generated form: key, labels, node, phase and a pod
 * number) sharing one recipe (sim_gen) per workload, and their JSON is
 * rendered on demand by sim_fleet_render — straight into the caller's
 * buffer with a small emitter, no printf, no jansson — byte for byte what
 * storing the JSON would have served (tests/sim/test_compact.c holds the
 * hashes). Records enter through fl_apiserver_store_create_rec, so watches see the
 * same ADDED events as for any create. A write turns an object ordinary.
 *
 * Threads: seeding runs on the fleet's construction threads (one per CPU,
 * a cluster at a time), churn.c on its thread; rendering on any thread
 * (records and recipes are immutable; recipes are reference-counted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim_int.h"

enum { SIM_GEN_POD = 1, SIM_GEN_DEPLOY, SIM_GEN_RS };

static const char *const teams[] = {"payments", "search", "checkout", "identity",
                                    "ml",       "data",   "platform", "web"};
static const char *const apps[] = {"api",     "web",     "worker",   "cache",    "gateway",
                                   "indexer", "cron",    "notifier", "frontend", "ledger"};
static const char *const tiers[] = {"frontend", "backend", "cache", "batch"};
static const char *const sidecars[] = {"docker.io/envoyproxy/envoy:v1.27.2",
                                       "cr.fluentbit.io/fluent/fluent-bit:2.1.10",
                                       "quay.io/prometheus/statsd-exporter:v0.26.0"};
static const char *const side_names[] = {"envoy", "fluent-bit", "statsd-exporter"};
static const char hash_chars[] = "bcdfghjklmnpqrstvwxz2456789";
static const char hex_digits[] = "0123456789abcdef";

#define BASE_EPOCH 1767225600LL /* 2026-01-01T00:00:00Z */
#define RENDER_MAX (1u << 20)   /* a generated object is ~5 KB */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t h3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix(mix(mix(a) ^ b) ^ c);
}

/* ------------------------------------------------------------ formatting */

/* digits lowercase hex digits of v (the low 4*digits bits) at p; two
 * digits a step. */
static char *hex_at(char *p, uint64_t v, int digits)
{
    int i = digits - 1;
    for (; i > 0; i -= 2, v >>= 8) {
        p[i] = hex_digits[v & 15];
        p[i - 1] = hex_digits[(v >> 4) & 15];
    }
    if (i == 0)
        p[0] = hex_digits[v & 15];
    return p + digits;
}

/* v as exactly width decimal digits at p (zero-padded); returns the end. */
static char *dec_at(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

static void fake_uid(uint64_t h, char out[37])
{
    h = mix(h);
    uint64_t g = mix(h);
    char *p = hex_at(out, h >> 32, 8);
    *p++ = '-';
    p = hex_at(p, h >> 16, 4);
    *p++ = '-';
    *p++ = '4';
    p = hex_at(p, h, 3);
    *p++ = '-';
    *p++ = 'a';
    p = hex_at(p, g >> 52, 3);
    *p++ = '-';
    p = hex_at(p, g, 12);
    *p = 0;
}

/* t (seconds since the epoch, UTC) as "2006-01-02T15:04:05Z": the civil
 * date by Hinnant's days-to-civil, no tz or locale lookups. */
static void rfc3339(int64_t t, char out[32])
{
    int64_t days = t / 86400, s = t % 86400;
    if (s < 0) {
        s += 86400;
        days--;
    }
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    char *p = dec_at(out, (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y), 4);
    *p++ = '-';
    p = dec_at(p, m, 2);
    *p++ = '-';
    p = dec_at(p, d, 2);
    *p++ = 'T';
    p = dec_at(p, (unsigned)(s / 3600), 2);
    *p++ = ':';
    p = dec_at(p, (unsigned)(s / 60 % 60), 2);
    *p++ = ':';
    p = dec_at(p, (unsigned)(s % 60), 2);
    *p++ = 'Z';
    *p = 0;
}

/* A time up to 90 days before BASE_EPOCH, plus after seconds. */
static void fake_time(uint64_t h, int64_t after, char out[32])
{
    rfc3339(BASE_EPOCH - (int64_t)(h % (90 * 86400)) + after, out);
}

static void hash_str(uint64_t h, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++, h = mix(h))
        out[i] = hash_chars[h % (sizeof(hash_chars) - 1)];
    out[n] = 0;
}

/* The emitter: appends to b; the first failure sticks in rc and later
 * calls do nothing. Writes into b's reserved room directly (a render
 * makes ~150 appends) and restores b's NUL terminator in em_end. */
typedef struct em {
    fl_buf *b;
    int rc;
} em;

static void put_slow(em *e, const char *s, size_t n)
{
    if (e->rc == 0)
        e->rc = fl_buf_append(e->b, s, n);
}

static inline void put(em *e, const char *s, size_t n)
{
    fl_buf *b = e->b;
    if (e->rc != 0 || n >= b->cap - b->len || n > b->max - b->len) {
        put_slow(e, s, n);
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static int em_end(em *e)
{
    if (e->b->data)
        e->b->data[e->b->len] = 0;
    return e->rc;
}

/* Small string building into a fixed char array (names, addresses). */
static char *cat(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *cat_u(char *p, unsigned v)
{
    char t[12];
    int i = sizeof(t);
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(p, t + i, sizeof(t) - (size_t)i);
    return p + sizeof(t) - i;
}

/* "a.b.c.d" at out (room for 16). */
static void ipv4(char *out, unsigned a, unsigned b, unsigned c, unsigned d)
{
    char *p = cat_u(out, a);
    *p++ = '.';
    p = cat_u(p, b);
    *p++ = '.';
    p = cat_u(p, c);
    *p++ = '.';
    p = cat_u(p, d);
    *p = 0;
}

#define PUT(e, lit) put((e), "" lit, sizeof(lit) - 1)

static void str(em *e, const char *s)
{
    put(e, s, strlen(s));
}

static void num(em *e, uint64_t v)
{
    char t[24];
    size_t i = sizeof(t);
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(e, t + i, sizeof(t) - i);
}

/* "lit" "s" "lit2": the common key/value step. */
static void kv(em *e, const char *lit, size_t n, const char *s)
{
    put(e, lit, n);
    str(e, s);
}

#define KV(e, lit, s) kv((e), "" lit, sizeof(lit) - 1, (s))

/* ---------------------------------------------------------------- recipes */

void sim_fleet_ns_name(unsigned k, char *out, size_t n)
{
    snprintf(out, n, "%s-%u", teams[k % FL_ARRAY_LEN(teams)], (unsigned)(k / FL_ARRAY_LEN(teams)) + 1);
}

static void ns_name(const sim_cluster *c, unsigned k, char *out, size_t n)
{
    if (c->namespaces)
        sim_fleet_ns_name(k, out, n);
    else
        snprintf(out, n, "default");
}

/* One workload: a Deployment d of namespace ns. */
typedef struct wl {
    char ns[64], deploy[96], rs[128], hash[16];
    char dep_uid[37], rs_uid[37], created[32];
    uint64_t h;
    const char *team, *tier, *app;
    unsigned containers, cpu_m, mem_mi, image_minor;
} wl;

/* A generated workload's recipe, shared by its Deployment, ReplicaSet and
 * pods (and by churn's pods of the same workload, one recipe each).
 * Invariant: immutable once built, but for refs. labels holds
 * "pod-template-hash\0H\0app\0...\0\0": the pods' and the ReplicaSet's
 * labels; the Deployment's (without the hash) start at dep_labels. After
 * them, at frag, two JSON fragments every object of the workload renders
 * the same: "labels":{...,"pod-template-hash":"H"} (frag_labels bytes; the
 * Deployment's end before frag_nohash, then "}") and "containers":[...]
 * (frag_cont bytes). */
struct sim_gen {
    fl_apiserver_gen base; /* first: the store reaches the recipe through it */
    atomic_int refs;
    uint64_t seed;         /* the cluster's */
    unsigned nodes;        /* the cluster's node count (pods bind to h % nodes) */
    unsigned ns;           /* namespace index */
    unsigned replicas;     /* the Deployment's and ReplicaSet's spec.replicas */
    uint64_t ip_base;      /* pod IP slot of pod 0 of namespace ns (pod_ip_slot) */
    int64_t born_s;        /* a churn pod's creation (wall clock s); 0 = seed-derived */
    size_t dep_labels;
    const char *frag;
    size_t frag_labels, frag_nohash, frag_cont;
    wl w;
    char labels[];
};

/* A record's recipe (its base is the first member). */
#define GEN(o) ((sim_gen *)(o)->gen)

static void gen_unref_base(fl_apiserver_gen *g)
{
    sim_gen_unref((sim_gen *)g);
}

static const fl_apiserver_gen_ops gen_ops = {sim_fleet_render, sim_fleet_rec_copy, gen_unref_base};

/* A workload's size from its hash: containers (the first is the app, the
 * others 50m / 64Mi sidecars) and the app container's requests. */
static void wl_size(uint64_t h, unsigned *containers, unsigned *cpu_m, unsigned *mem_mi)
{
    *containers = 1 + (unsigned)((h >> 32) % 3);
    *cpu_m = 100 * (1 + (unsigned)((h >> 36) % 10));
    *mem_mi = 128u << ((h >> 40) % 5);
}

/* Pod IPs: slot k of 100.64.0.0/11 (2..251 in each /24), so every seeded
 * pod of a cluster has its own (slot = the pod's number in the cluster) and
 * churn's pods follow (slots from c->pods on). 100.96.0.0/11 is the
 * kubelet stand-in's (controller.c), for pods created through the API. */
#define POD_IP_SLOTS (250ull * 256 * 32)

static uint64_t ns_first_pod(const sim_cluster *c, unsigned ns)
{
    unsigned nns = c->namespaces ? c->namespaces : 1;
    uint64_t per = c->pods / nns, rem = c->pods % nns;
    return ns * per + (ns < rem ? ns : rem);
}

static void pod_ip(uint64_t slot, char out[32])
{
    slot %= POD_IP_SLOTS;
    ipv4(out, 100, 64 + (unsigned)(slot / 250 / 256), (unsigned)(slot / 250 % 256),
         2 + (unsigned)(slot % 250));
}

static void wl_init(const sim_cluster *c, unsigned ns, uint64_t d, wl *w)
{
    uint64_t h = h3(c->seed, ns, d);
    ns_name(c, ns, w->ns, sizeof(w->ns));
    w->team = c->namespaces ? teams[ns % FL_ARRAY_LEN(teams)] : teams[h % FL_ARRAY_LEN(teams)];
    w->app = apps[(h >> 8) % FL_ARRAY_LEN(apps)];
    w->tier = tiers[(h >> 16) % FL_ARRAY_LEN(tiers)];
    snprintf(w->deploy, sizeof(w->deploy), "%s-%s-%llu", w->team, w->app, (unsigned long long)d);
    hash_str(h ^ 0x5a5a, 10, w->hash);
    snprintf(w->rs, sizeof(w->rs), "%s-%s", w->deploy, w->hash);
    fake_uid(h ^ 1, w->dep_uid);
    fake_uid(h ^ 2, w->rs_uid);
    fake_time(h, 0, w->created);
    w->h = h;
    wl_size(h, &w->containers, &w->cpu_m, &w->mem_mi);
    w->image_minor = (unsigned)((h >> 44) % 30);
}

static char *put0(char *p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(p, s, n);
    return p + n;
}

static void labels_json(em *e, const wl *w);
static void containers(em *e, const wl *w);

/* The recipe's JSON fragments into f; *nohash = where the hash label starts. */
static int gen_frags(const wl *w, fl_buf *f, size_t *labels, size_t *nohash)
{
    em e = {f, 0};
    labels_json(&e, w);
    em_end(&e); /* put's fast path leaves no NUL for strstr */
    const char *h = f->data ? strstr(f->data, ",\"pod-template-hash\"") : NULL;
    *labels = f->len;
    *nohash = h ? (size_t)(h - f->data) : 0;
    containers(&e, w);
    return e.rc ? e.rc : h ? 0 : -EINVAL;
}

/* A new recipe (one reference) or NULL. */
static sim_gen *gen_new(const sim_cluster *c, unsigned ns, uint64_t d, unsigned replicas)
{
    wl w;
    wl_init(c, ns, d, &w);
    const char *kv_[] = {"pod-template-hash", w.hash, "app", w.deploy, "app.kubernetes.io/name",
                         w.app, "app.kubernetes.io/part-of", w.team, "team", w.team, "tier",
                         w.tier, "environment", "production"};
    fl_buf f = FL_BUF_INIT(64 * 1024);
    size_t n = 1, fl = 0, fnh = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(kv_); i++)
        n += strlen(kv_[i]) + 1;
    sim_gen *g = gen_frags(&w, &f, &fl, &fnh) == 0 ? malloc(sizeof(*g) + n + f.len) : NULL;
    if (g) {
        g->base.ops = &gen_ops;
        atomic_init(&g->refs, 1);
        g->seed = c->seed;
        g->nodes = c->nodes;
        g->ns = ns;
        g->replicas = replicas;
        g->ip_base = ns_first_pod(c, ns);
        g->born_s = 0;
        g->w = w;
        char *p = g->labels;
        for (size_t i = 0; i < FL_ARRAY_LEN(kv_); i++) {
            if (i == 2)
                g->dep_labels = (size_t)(p - g->labels);
            p = put0(p, kv_[i]);
        }
        *p++ = 0;
        memcpy(p, f.data, f.len);
        g->frag = p;
        g->frag_labels = fl;
        g->frag_nohash = fnh;
        g->frag_cont = f.len - fl;
    }
    fl_buf_done(&f);
    return g;
}

void sim_gen_unref(sim_gen *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        free(g);
}

/* A record of kind for recipe g (takes the reference), named name, with
 * room for node (NULL = none). NULL on ENOMEM (g released). */
static fl_apiserver_obj *rec_new(sim_gen *g, int kind, const char *name, const char *node)
{
    size_t nsl = strlen(g->w.ns), nl = strlen(name), nodel = node ? strlen(node) : 0;
    fl_apiserver_obj *o = malloc(sizeof(*o) + nsl + 1 + nl + 1 + nodel + 1);
    if (!o) {
        sim_gen_unref(g);
        return NULL;
    }
    char *p = (char *)(o + 1);
    *o = (fl_apiserver_obj){.gen_kind = (uint8_t)kind, .gen = &g->base};
    atomic_init(&o->refs, 1);
    memcpy(p, g->w.ns, nsl);
    p[nsl] = '/';
    memcpy(p + nsl + 1, name, nl + 1);
    o->key = p;
    o->ns = g->w.ns;
    o->name = p + nsl + 1;
    o->labels = kind == SIM_GEN_DEPLOY ? g->labels + g->dep_labels : g->labels;
    o->node = memcpy(p + nsl + 1 + nl + 1, node ? node : "", nodel + 1);
    o->phase = kind != SIM_GEN_POD ? "" : node ? "Running" : "Pending";
    return o;
}

fl_apiserver_obj *sim_fleet_rec_copy(const fl_apiserver_obj *o)
{
    atomic_fetch_add(&GEN(o)->refs, 1);
    fl_apiserver_obj *c = rec_new(GEN(o), o->gen_kind, o->name, o->node[0] ? o->node : NULL);
    if (c)
        c->gen_id = o->gen_id;
    return c;
}

/* ------------------------------------------------------------- rendering */

/* The per-pod values derived from the seed. */
typedef struct pod_vals {
    uint64_t h;
    char uid[37], started[32], hostip[32], ip[32];
} pod_vals;

static void pod_vals_init(const sim_gen *g, uint64_t id, pod_vals *v)
{
    v->h = h3(g->seed ^ 0x90d, g->ns, id);
    uint64_t h = v->h;
    fake_uid(h, v->uid);
    if (g->born_s)
        rfc3339(g->born_s, v->started);
    else
        fake_time(g->w.h, (int64_t)(h % 86400), v->started);
    v->hostip[0] = v->ip[0] = 0;
    if (g->nodes) {
        unsigned n = (unsigned)(h % g->nodes);
        ipv4(v->hostip, 10, (unsigned)(g->seed % 200) + 10, n / 250, n % 250 + 2);
        pod_ip(g->ip_base + (g->born_s ? 0 : id), v->ip);
    }
}

/* "labels":{...} of the pods (with pod-template-hash). */
static void labels_json(em *e, const wl *w)
{
    KV(e, "\"labels\":{\"app\":\"", w->deploy);
    KV(e, "\",\"app.kubernetes.io/name\":\"", w->app);
    KV(e, "\",\"app.kubernetes.io/part-of\":\"", w->team);
    KV(e, "\",\"team\":\"", w->team);
    KV(e, "\",\"tier\":\"", w->tier);
    KV(e, "\",\"environment\":\"production\",\"pod-template-hash\":\"", w->hash);
    PUT(e, "\"}");
}

/* The recipe's labels, with or without the pod-template-hash. */
static void labels(em *e, const sim_gen *g, bool hash)
{
    if (hash) {
        put(e, g->frag, g->frag_labels);
        return;
    }
    put(e, g->frag, g->frag_nohash);
    PUT(e, "}");
}

/* Container i of workload w: its name and image (room for 160). */
static const char *container(const wl *w, unsigned i, char *image)
{
    if (i) {
        *cat(image, sidecars[(i - 1 + w->image_minor) % 3]) = 0;
        return side_names[(i - 1 + w->image_minor) % 3];
    }
    char *p = cat(image, "registry.example.com/");
    p = cat(p, w->team);
    *p++ = '/';
    p = cat(p, w->app);
    p = cat(p, ":v1.");
    p = cat_u(p, w->image_minor);
    p = cat(p, ".0");
    *p = 0;
    return w->app;
}

static void containers(em *e, const wl *w)
{
    PUT(e, "\"containers\":[");
    for (unsigned i = 0; i < w->containers; i++) {
        char image[160];
        const char *cname = container(w, i, image);
        unsigned cpu = i ? 50 : w->cpu_m, mem = i ? 64 : w->mem_mi;
        if (i)
            PUT(e, ",");
        KV(e, "{\"name\":\"", cname);
        KV(e, "\",\"image\":\"", image);
        PUT(e, "\",\"ports\":[{\"name\":\"http\",\"containerPort\":");
        num(e, 8080 + i);
        KV(e, ",\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"TEAM\",\"value\":\"", w->team);
        PUT(e, "\"},{\"name\":\"LOG_LEVEL\",\"value\":\"info\"}],\"resources\":{\"limits\":"
               "{\"cpu\":\"");
        num(e, cpu * 2);
        PUT(e, "m\",\"memory\":\"");
        num(e, mem * 2);
        PUT(e, "Mi\"},\"requests\":{\"cpu\":\"");
        num(e, cpu);
        PUT(e, "m\",\"memory\":\"");
        num(e, mem);
        PUT(e, "Mi\"}},\"terminationMessagePath\":\"/dev/termination-log\","
               "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\"}");
    }
    PUT(e, "]");
}

static void rv_member(em *e, uint64_t rv)
{
    if (rv) { /* what the store adds at the end of metadata */
        PUT(e, ",\"resourceVersion\":\"");
        num(e, rv);
        PUT(e, "\"");
    }
}

static void pod_metadata(em *e, const fl_apiserver_obj *o, const sim_gen *g, const pod_vals *v)
{
    const wl *w = &g->w;
    KV(e, "\"metadata\":{\"name\":\"", o->name);
    KV(e, "\",\"generateName\":\"", w->rs);
    KV(e, "-\",\"namespace\":\"", w->ns);
    KV(e, "\",\"uid\":\"", v->uid);
    KV(e, "\",\"creationTimestamp\":\"", v->started);
    PUT(e, "\",");
    labels(e, g, true);
    KV(e, ",\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"8080\","
          "\"kubectl.kubernetes.io/default-container\":\"", w->app);
    KV(e, "\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
          "\"name\":\"", w->rs);
    KV(e, "\",\"uid\":\"", w->rs_uid);
    KV(e, "\",\"controller\":true,\"blockOwnerDeletion\":true}],\"managedFields\":[{\"manager\":"
          "\"kube-controller-manager\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"",
       v->started);
    KV(e, "\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:generateName\":{},"
          "\"f:labels\":{\".\":{},\"f:app\":{},\"f:pod-template-hash\":{},\"f:team\":{},"
          "\"f:tier\":{}},\"f:ownerReferences\":{\".\":{},\"k:{\\\"uid\\\":\\\"", w->rs_uid);
    PUT(e, "\\\"}\":{}}},\"f:spec\":{\"f:containers\":{},\"f:dnsPolicy\":{},"
           "\"f:enableServiceLinks\":{},\"f:restartPolicy\":{},\"f:schedulerName\":{},"
           "\"f:securityContext\":{},\"f:terminationGracePeriodSeconds\":{}}}}]");
    rv_member(e, o->rv);
    PUT(e, "}");
}

/* status.containerStatuses of a Running pod started at t. */
static void container_statuses(em *e, const wl *w, uint64_t h, const char *t)
{
    PUT(e, ",\"containerStatuses\":[");
    for (unsigned i = 0; i < w->containers; i++) {
        char image[160], ids[4][17];
        const char *cname = container(w, i, image);
        uint64_t x[4] = {mix(h + i), mix(h + i + 7), mix(h ^ i), mix(h ^ (i + 99))};
        for (int k = 0; k < 4; k++)
            *hex_at(ids[k], x[k], 16) = 0;
        if (i)
            PUT(e, ",");
        KV(e, "{\"name\":\"", cname);
        KV(e, "\",\"state\":{\"running\":{\"startedAt\":\"", t);
        KV(e, "\"}},\"lastState\":{},\"ready\":true,\"restartCount\":0,\"image\":\"", image);
        KV(e, "\",\"imageID\":\"", image);
        KV(e, "@sha256:", ids[0]);
        str(e, ids[1]);
        KV(e, "\",\"containerID\":\"containerd://", ids[2]);
        str(e, ids[3]);
        PUT(e, "\",\"started\":true}");
    }
    PUT(e, "]");
}

static void pod_status(em *e, const fl_apiserver_obj *o, const wl *w, const pod_vals *v)
{
    if (!o->node[0]) {
        PUT(e, "\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
               "\"status\":\"False\",\"reason\":\"Unschedulable\",\"message\":\"0/0 nodes are "
               "available.\"}],\"qosClass\":\"Burstable\"}}");
        return;
    }
    static const char *const conds[] = {"Initialized", "Ready", "ContainersReady",
                                        "PodScheduled"};
    PUT(e, "\"status\":{\"phase\":\"Running\",\"conditions\":[");
    for (size_t i = 0; i < FL_ARRAY_LEN(conds); i++) {
        if (i)
            PUT(e, ",");
        KV(e, "{\"type\":\"", conds[i]);
        KV(e, "\",\"status\":\"True\",\"lastTransitionTime\":\"", v->started);
        PUT(e, "\"}");
    }
    KV(e, "],\"hostIP\":\"", v->hostip);
    KV(e, "\",\"podIP\":\"", v->ip);
    KV(e, "\",\"podIPs\":[{\"ip\":\"", v->ip);
    KV(e, "\"}],\"startTime\":\"", v->started);
    PUT(e, "\",\"qosClass\":\"Burstable\"");
    container_statuses(e, w, v->h, v->started);
    PUT(e, "}}");
}

static void render_pod(em *e, const fl_apiserver_obj *o, bool item)
{
    const wl *w = &GEN(o)->w;
    pod_vals v;
    pod_vals_init(GEN(o), o->gen_id, &v);
    PUT(e, "{");
    if (!item)
        PUT(e, "\"kind\":\"Pod\",\"apiVersion\":\"v1\",");
    pod_metadata(e, o, GEN(o), &v);
    PUT(e, ",\"spec\":{");
    put(e, GEN(o)->frag + GEN(o)->frag_labels, GEN(o)->frag_cont);
    PUT(e, ",\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
           "\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":\"default\","
           "\"serviceAccount\":\"default\",");
    if (o->node[0]) {
        KV(e, "\"nodeName\":\"", o->node);
        PUT(e, "\",");
    }
    PUT(e, "\"securityContext\":{},\"schedulerName\":\"default-scheduler\",\"priority\":0,"
           "\"enableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\"},");
    pod_status(e, o, w, &v);
}

static void workload_metadata(em *e, const fl_apiserver_obj *o, const sim_gen *g, bool rs,
                              unsigned replicas)
{
    const wl *w = &g->w;
    KV(e, "\"metadata\":{\"name\":\"", o->name);
    KV(e, "\",\"namespace\":\"", w->ns);
    KV(e, "\",\"uid\":\"", rs ? w->rs_uid : w->dep_uid);
    KV(e, "\",\"generation\":1,\"creationTimestamp\":\"", w->created);
    PUT(e, "\",");
    labels(e, g, rs);
    if (!rs) {
        KV(e, ",\"annotations\":{\"deployment.kubernetes.io/revision\":\"1\","
              "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"apiVersion\\\":"
              "\\\"apps/v1\\\",\\\"kind\\\":\\\"Deployment\\\",\\\"metadata\\\":{\\\"name\\\":\\\"",
           w->deploy);
        KV(e, "\\\",\\\"namespace\\\":\\\"", w->ns);
        PUT(e, "\\\"},\\\"spec\\\":{\\\"replicas\\\":");
        num(e, replicas);
        PUT(e, "}}\\n\"}");
    } else {
        KV(e, ",\"annotations\":{\"deployment.kubernetes.io/revision\":\"1\"},\"ownerReferences\":"
              "[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"", w->deploy);
        KV(e, "\",\"uid\":\"", w->dep_uid);
        PUT(e, "\",\"controller\":true,\"blockOwnerDeletion\":true}]");
    }
    rv_member(e, o->rv);
    PUT(e, "}");
}

/* A rolled-out Deployment's status.conditions, as the deployment
 * controller leaves them (so controller.c finds nothing to change). */
static void dep_conditions(em *e, const wl *w)
{
    KV(e, ",\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"lastUpdateTime\":\"",
       w->created);
    KV(e, "\",\"lastTransitionTime\":\"", w->created);
    PUT(e, "\",\"reason\":\"MinimumReplicasAvailable\",\"message\":\"Deployment has minimum "
           "availability.\"},{\"type\":\"Progressing\",\"status\":\"True\",\"lastUpdateTime\":\"");
    str(e, w->created);
    KV(e, "\",\"lastTransitionTime\":\"", w->created);
    KV(e, "\",\"reason\":\"NewReplicaSetAvailable\",\"message\":\"ReplicaSet \\\"", w->rs);
    PUT(e, "\\\" has successfully progressed.\"}]");
}

static void render_workload(em *e, const fl_apiserver_obj *o, bool item)
{
    const wl *w = &GEN(o)->w;
    bool rs = o->gen_kind == SIM_GEN_RS;
    unsigned r = GEN(o)->replicas;
    PUT(e, "{");
    if (!item && rs)
        PUT(e, "\"kind\":\"ReplicaSet\",\"apiVersion\":\"apps/v1\",");
    else if (!item)
        PUT(e, "\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",");
    workload_metadata(e, o, GEN(o), rs, r);
    PUT(e, ",\"spec\":{\"replicas\":");
    num(e, r);
    KV(e, ",\"selector\":{\"matchLabels\":{\"app\":\"", w->deploy);
    if (rs)
        KV(e, "\",\"pod-template-hash\":\"", w->hash);
    PUT(e, "\"}},\"template\":{\"metadata\":{");
    labels(e, GEN(o), rs);
    PUT(e, "},\"spec\":{");
    put(e, GEN(o)->frag + GEN(o)->frag_labels, GEN(o)->frag_cont);
    PUT(e, ",\"restartPolicy\":\"Always\"}}},\"status\":{\"observedGeneration\":1,\"replicas\":");
    num(e, r);
    PUT(e, ",\"readyReplicas\":");
    num(e, r);
    PUT(e, ",\"availableReplicas\":");
    num(e, r);
    if (rs) {
        PUT(e, ",\"fullyLabeledReplicas\":");
        num(e, r);
    } else {
        PUT(e, ",\"updatedReplicas\":");
        num(e, r);
        dep_conditions(e, w);
    }
    PUT(e, "}}");
}

int sim_fleet_render(const fl_apiserver_obj *o, bool item, fl_buf *out)
{
    em e = {out, fl_buf_reserve(out, 8192)};
    if (o->gen_kind == SIM_GEN_POD)
        render_pod(&e, o, item);
    else if (o->gen_kind == SIM_GEN_DEPLOY || o->gen_kind == SIM_GEN_RS)
        render_workload(&e, o, item);
    else
        e.rc = -EINVAL;
    return em_end(&e);
}

/* ------------------------------------------------------------------ pods */

/* Pod id of namespace ns belongs to workload id / 8 (recipe g, one
 * reference taken); named name (a valid object name: rendering does not
 * escape it), or (suffix) the workload's generateName
 * plus suffix, or (both NULL) generateName plus 5 seed-derived chars —
 * other ones on a later attempt (when two pods of a ReplicaSet drew the
 * same, as the apiserver's generateName retries). */
static fl_apiserver_obj *pod_rec(const sim_cluster *c, sim_gen *g, uint64_t id, const char *name,
                        const char *suffix, unsigned attempt)
{
    uint64_t h = h3(g->seed ^ 0x90d, g->ns, id);
    char pod[256], node[96];
    if (!name) {
        char sfx[8];
        if (!suffix) {
            hash_str(attempt ? mix(h + attempt) : h, 5, sfx);
            suffix = sfx;
        }
        snprintf(pod, sizeof(pod), "%s-%s", g->w.rs, suffix);
        name = pod;
    }
    if (g->nodes)
        snprintf(node, sizeof(node), "%s-node-%u", c->name, (unsigned)(h % g->nodes) + 1);
    fl_apiserver_obj *o = rec_new(g, SIM_GEN_POD, name, g->nodes ? node : NULL);
    if (o)
        o->gen_id = id;
    return o;
}

static fl_apiserver_obj *pod_new(const sim_cluster *c, unsigned ns, uint64_t id, const char *name,
                        const char *suffix)
{
    sim_gen *g = gen_new(c, ns, id / 8, 0);
    return g ? pod_rec(c, g, id, name, suffix, 0) : NULL;
}

json_t *sim_fleet_pod(const sim_cluster *c, unsigned ns, uint64_t id, const char *name)
{
    fl_buf b = FL_BUF_INIT(RENDER_MAX);
    json_t *obj = NULL;
    fl_apiserver_obj *o = pod_new(c, ns, id, name, NULL);
    fl_err err = FL_ERR_INIT;
    if (o && sim_fleet_render(o, false, &b) == 0)
        fl_json_parse(b.data, b.len, &obj, &err);
    fl_apiserver_obj_unref(o);
    fl_buf_done(&b);
    return obj;
}

int sim_fleet_pod_rec(const sim_cluster *c, const fl_apiserver_res *r, unsigned ns, uint64_t id,
                      const char *suffix, uint64_t serial, fl_apiserver_obj **out)
{
    sim_gen *g = gen_new(c, ns, id / 8, 0);
    if (g && serial) { /* a pod created now: its own recipe, time and IP */
        g->born_s = fl_now_ms() / 1000;
        g->ip_base = c->pods + (serial - 1) % (POD_IP_SLOTS - c->pods);
    }
    fl_apiserver_obj *o = g ? pod_rec(c, g, id, NULL, suffix, 0) : NULL;
    if (!o)
        return -ENOMEM;
    o->res = r;
    *out = o;
    return 0;
}

/* ------------------------------------------------------------ node shape */

/* Size the cluster's nodes for the pods seeding will bind to them: the
 * busiest node's requests (cpu, memory, pod count) take at most 65% of its
 * allocatable, so generated fleets schedule and have headroom. One shape
 * for every node of a cluster (a node pool), at least 8 cores / 32 GiB /
 * 110 pods (kubelet's default max). */
void sim_fleet_node_shape(const sim_cluster *c, sim_node_shape *out)
{
    unsigned nodes = c->nodes, nns = c->namespaces ? c->namespaces : 1;
    uint64_t *cpu = calloc(nodes ? nodes : 1, sizeof(*cpu) * 3), *mem = cpu + (nodes ? nodes : 1),
             *pods = mem + (nodes ? nodes : 1);
    uint64_t max_cpu = 0, max_mem = 0, max_pods = 0;
    for (unsigned k = 0; cpu && nodes && c->pods && k < nns; k++) {
        uint64_t np = ns_first_pod(c, k + 1) - ns_first_pod(c, k);
        for (uint64_t i = 0; i < np; i++) {
            unsigned nc, cm, mm, n = (unsigned)(h3(c->seed ^ 0x90d, k, i) % nodes);
            wl_size(h3(c->seed, k, i / 8), &nc, &cm, &mm);
            cpu[n] += cm + 50u * (nc - 1);
            mem[n] += mm + 64u * (nc - 1);
            pods[n]++;
        }
    }
    for (unsigned n = 0; cpu && n < nodes; n++) {
        max_cpu = cpu[n] > max_cpu ? cpu[n] : max_cpu;
        max_mem = mem[n] > max_mem ? mem[n] : max_mem;
        max_pods = pods[n] > max_pods ? pods[n] : max_pods;
    }
    free(cpu);
    /* allocatable = 97.5% of the cores, capacity minus 1/32 (at least
     * 1 GiB) of the memory; requests <= 65% of allocatable */
    uint64_t cores = 8, mem_gi = 32;
    while (max_cpu * 100 > cores * 975 * 65 ||
           max_mem * 100 > (mem_gi - (mem_gi / 32 ? mem_gi / 32 : 1)) * 1024 * 65)
        cores *= 2, mem_gi *= 2;
    uint64_t pod_cap = max_pods * 100 <= 110 * 65   ? 110
                       : max_pods * 100 <= 250 * 65 ? 250
                                                    : (max_pods * 100 / 65 + 10) / 10 * 10;
    out->cores = (unsigned)cores;
    out->mem_gi = (unsigned)mem_gi;
    out->alloc_cpu_m = (unsigned)(cores * 975);
    out->alloc_mem_gi = (unsigned)(mem_gi - (mem_gi / 32 ? mem_gi / 32 : 1));
    out->pods = (unsigned)pod_cap;
}

/* --------------------------------------------------------------- seeding */

static int add_namespace(sim_cluster *c, unsigned k, fl_buf *b)
{
    char name[64], uid[37], t[32];
    uint64_t h = h3(c->seed, 0x5e, k);
    sim_fleet_ns_name(k, name, sizeof(name));
    fake_uid(h, uid);
    fake_time(h, -90 * 86400, t);
    fl_buf_reset(b);
    fl_buf_printf(b, "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
                     "\"%s\",\"uid\":\"%s\",\"creationTimestamp\":\"%s\",\"labels\":{"
                     "\"kubernetes.io/metadata.name\":\"%s\",\"team\":\"%s\"}},\"spec\":{"
                     "\"finalizers\":[\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}}",
                  name, uid, t, name, teams[k % FL_ARRAY_LEN(teams)]);
    const fl_apiserver_res *r = fl_apiserver_store_find(c->st, "", "v1", "namespaces");
    json_t *obj = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = b->len >= b->max ? -E2BIG : fl_json_parse(b->data, b->len, &obj, &err);
    if (rc == 0)
        rc = r ? fl_apiserver_store_create(c->st, r, obj, NULL) : FL_ENOTFOUND;
    json_decref(obj);
    return rc;
}

/* The Deployment and ReplicaSet records of recipe g (a reference each). */
static int add_workload(sim_cluster *c, const fl_apiserver_res *dr, const fl_apiserver_res *rr, sim_gen *g)
{
    atomic_fetch_add(&g->refs, 2);
    fl_apiserver_obj *d = rec_new(g, SIM_GEN_DEPLOY, g->w.deploy, NULL);
    fl_apiserver_obj *s = rec_new(g, SIM_GEN_RS, g->w.rs, NULL);
    int rc = d ? fl_apiserver_store_create_rec(c->st, dr, d, NULL) : -ENOMEM;
    if (rc == 0)
        rc = s ? fl_apiserver_store_create_rec(c->st, rr, s, NULL) : -ENOMEM;
    else
        fl_apiserver_obj_unref(s);
    return rc;
}

/* Namespace ns: its workloads first (Deployment, ReplicaSet), then its
 * pods, pod i owned by workload i / 8 (8 replicas per ReplicaSet; the
 * last one of a namespace may have fewer). */
static int seed_namespace(sim_cluster *c, unsigned ns, unsigned pods)
{
    const fl_apiserver_res *pr = fl_apiserver_store_find(c->st, "", "v1", "pods");
    const fl_apiserver_res *dr = fl_apiserver_store_find(c->st, "apps", "v1", "deployments");
    const fl_apiserver_res *rr = fl_apiserver_store_find(c->st, "apps", "v1", "replicasets");
    size_t nw = (pods + 7) / 8;
    sim_gen **g = calloc(nw ? nw : 1, sizeof(*g));
    int rc = !pr || !dr || !rr ? FL_ENOTFOUND : g ? 0 : -ENOMEM;
    for (unsigned d = 0; rc == 0 && d < nw; d++) {
        g[d] = gen_new(c, ns, d, pods - d * 8 < 8 ? pods - d * 8 : 8);
        rc = g[d] ? add_workload(c, dr, rr, g[d]) : -ENOMEM;
    }
    for (unsigned i = 0; rc == 0 && i < pods; i++) {
        rc = -EEXIST;
        for (unsigned a = 0; rc == -EEXIST && a < 8; a++) {
            atomic_fetch_add(&g[i / 8]->refs, 1);
            fl_apiserver_obj *o = pod_rec(c, g[i / 8], i, NULL, NULL, a);
            rc = o ? fl_apiserver_store_create_rec(c->st, pr, o, NULL) : -ENOMEM;
        }
    }
    for (size_t d = 0; g && d < nw; d++)
        sim_gen_unref(g[d]);
    free(g);
    return rc;
}

int sim_fleet_seed(sim_cluster *c, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(64 * 1024);
    unsigned nns = c->namespaces ? c->namespaces : 1;
    int rc = 0;
    for (unsigned k = 0; rc == 0 && k < c->namespaces; k++)
        rc = add_namespace(c, k, &b);
    for (unsigned k = 0; rc == 0 && c->pods && k < nns; k++)
        rc = seed_namespace(c, k, c->pods / nns + (k < c->pods % nns));
    fl_buf_done(&b);
    return rc ? fl_err_set(err, rc, "cluster %s: generating objects: %s", c->name,
                           fl_strerror(rc))
              : 0;
}

/* Parallel seeding: clusters are independent (a store each). */
typedef struct seed_job {
    sim_cluster **c;
    size_t n;
    atomic_size_t next;
    pthread_mutex_t mu;
    int rc;
    fl_err err;
} seed_job;

static void *seed_worker(void *arg)
{
    seed_job *j = arg;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        fl_err e = FL_ERR_INIT;
        int rc = j->c[i]->is_host ? 0 : sim_fleet_seed(j->c[i], &e);
        pthread_mutex_lock(&j->mu);
        if (rc != 0 && j->rc == 0) {
            j->rc = rc;
            j->err = e;
        }
        pthread_mutex_unlock(&j->mu);
        if (rc != 0)
            break;
    }
    return NULL;
}

int sim_fleet_seed_all(sim_cluster **c, size_t n, fl_err *err)
{
    pthread_t t[16];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus < 1 ? 1 : cpus > 16 ? 16 : (size_t)cpus, started = 0;
    seed_job j = {.c = c, .n = n};
    atomic_init(&j.next, 0);
    pthread_mutex_init(&j.mu, NULL);
    for (size_t i = 0; i < nt && i < n; i++)
        started += pthread_create(&t[started], NULL, seed_worker, &j) == 0;
    if (!started)
        seed_worker(&j);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.rc != 0 && err)
        *err = j.err;
    return j.rc;
}
