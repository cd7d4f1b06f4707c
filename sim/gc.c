/*
 * sim/gc.c: the garbage collector of a member cluster, run on the
 * controller thread each tick (sim_gc_run). Owners are the workload kinds
 * (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job); dependents are
 * ReplicaSets and Pods carrying ownerReferences to them.
 *   background: a dependent whose owners are all gone is deleted (owners
 *               still present keep it; only dangling references go);
 *   foreground: an owner terminating with the foregroundDeletion
 *               finalizer has its dependents deleted, and loses the
 *               finalizer (so goes away) once none are left;
 *   orphan:     an owner terminating with the orphan finalizer has its
 *               references removed from its dependents, then the finalizer.
 * Dependents are listed before owners, so an owner created after its
 * dependent is always seen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

typedef struct owners {
    char **uid; /* sorted */
    size_t n, cap;
} owners;

typedef struct dep_list {
    const fl_apiserver_res *r;
    fl_apiserver_list l;
} dep_list;

static const char *const owner_res[][2] = {
    {"apps", "deployments"}, {"apps", "replicasets"}, {"apps", "statefulsets"},
    {"apps", "daemonsets"},  {"batch", "jobs"},
};

static bool owner_kind(const char *kind)
{
    static const char *const kinds[] = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet",
                                        "Job"};
    for (size_t i = 0; i < FL_ARRAY_LEN(kinds); i++)
        if (!strcmp(kind, kinds[i]))
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool alive(const owners *ow, const char *uid)
{
    return ow->n && bsearch(&uid, ow->uid, ow->n, sizeof(char *), cmp_str) != NULL;
}

static bool has_finalizer(const json_t *obj, const char *f)
{
    size_t i;
    json_t *v;
    json_array_foreach(fl_obj_get(obj, "metadata.finalizers"), i, v)
        if (!strcmp(json_string_value(v) ? json_string_value(v) : "", f))
            return true;
    return false;
}

static void drop_finalizer(json_t *obj, const char *f)
{
    json_t *list = fl_obj_get(obj, "metadata.finalizers");
    for (size_t i = json_array_size(list); i-- > 0;)
        if (!strcmp(json_string_value(json_array_get(list, i)) ?: "", f))
            json_array_remove(list, i);
    if (json_array_size(list) == 0)
        json_object_del(json_object_get(obj, "metadata"), "finalizers");
}

static bool refers_to(const json_t *obj, const char *uid)
{
    size_t i;
    json_t *ref;
    json_array_foreach(fl_obj_get(obj, "metadata.ownerReferences"), i, ref)
        if (!strcmp(fl_obj_str_or(ref, "uid", ""), uid))
            return true;
    return false;
}

/* Remove references matching uid (or, uid NULL, the dangling ones to
 * owner kinds). Returns how many remain. */
static size_t prune_refs(json_t *obj, const owners *ow, const char *uid, size_t *removed)
{
    json_t *refs = fl_obj_get(obj, "metadata.ownerReferences");
    *removed = 0;
    for (size_t i = json_array_size(refs); i-- > 0;) {
        json_t *ref = json_array_get(refs, i);
        const char *u = fl_obj_str_or(ref, "uid", "");
        bool drop = uid ? !strcmp(u, uid)
                        : ow && owner_kind(fl_obj_str_or(ref, "kind", "")) && !alive(ow, u);
        if (drop) {
            json_array_remove(refs, i);
            (*removed)++;
        }
    }
    size_t left = json_array_size(refs);
    if (refs && left == 0)
        json_object_del(json_object_get(obj, "metadata"), "ownerReferences");
    return left;
}

/* ------------------------------------------------------------ collection */

static int load_owners(sim_tick *t, owners *ow, fl_apiserver_list *lists,
                       const fl_apiserver_res **rs)
{
    fl_apiserver_list_req q = {0};
    for (size_t k = 0; k < FL_ARRAY_LEN(owner_res); k++) {
        rs[k] = fl_apiserver_store_find(t->c->st, owner_res[k][0], "v1", owner_res[k][1]);
        if (!rs[k] || fl_apiserver_store_list(t->c->st, rs[k], &q, &lists[k]) != 0)
            continue;
        for (size_t i = 0; i < lists[k].n; i++) {
            json_t *o = fl_apiserver_obj_parse(lists[k].items[i]);
            const char *uid = fl_obj_str(o, "metadata.uid");
            if (uid && fl_grow(&ow->uid, &ow->cap, ow->n + 1, sizeof *ow->uid) != 0) {
                json_decref(o);
                return -ENOMEM;
            }
            if (uid && (ow->uid[ow->n] = strdup(uid)))
                ow->n++;
            json_decref(o);
        }
    }
    if (ow->n > 1)
        qsort(ow->uid, ow->n, sizeof(char *), cmp_str);
    return 0;
}

/* Background: dependents whose owners are gone. */
static void collect_orphans(sim_tick *t, dep_list *deps, size_t nd, const owners *ow)
{
    for (size_t d = 0; d < nd; d++)
        for (size_t i = 0; i < deps[d].l.n; i++) {
            const fl_apiserver_obj *o = deps[d].l.items[i];
            const sim_podinfo *pi = d == 0 && t->pi ? &t->pi[i] : NULL;
            if (sim_ctrl_churn_pod(o))
                continue; /* churn pods live and die by churn.c */
            /* no owners, or a live controller: nothing to collect */
            if (pi && pi->ok && (!pi->has_refs || (pi->ctrl_uid[0] && alive(ow, pi->ctrl_uid))))
                continue;
            json_t *obj = fl_apiserver_obj_parse(o);
            size_t removed = 0;
            size_t left = obj && fl_obj_get(obj, "metadata.ownerReferences")
                              ? prune_refs(obj, ow, NULL, &removed)
                              : 1;
            if (removed && left == 0)
                fl_apiserver_store_delete(t->c->st, deps[d].r, o->ns, o->name, 0, NULL, NULL);
            else if (removed)
                sim_ctrl_put(t, deps[d].r, o, obj);
            json_decref(obj);
        }
}

/* Foreground and orphan finalizers of one terminating owner. */
static void finish_owner(sim_tick *t, const fl_apiserver_res *r, const fl_apiserver_obj *oo,
                         dep_list *deps, size_t nd)
{
    json_t *owner = fl_apiserver_obj_parse(oo);
    bool fg = owner && has_finalizer(owner, "foregroundDeletion");
    bool orphan = owner && has_finalizer(owner, "orphan");
    const char *uid = fl_obj_str_or(owner, "metadata.uid", "");
    size_t pending = 0;
    if (!fg && !orphan)
        goto out;
    for (size_t d = 0; d < nd; d++)
        for (size_t i = 0; i < deps[d].l.n; i++) {
            const fl_apiserver_obj *o = deps[d].l.items[i];
            json_t *obj = fl_apiserver_obj_parse(o);
            size_t removed = 0;
            if (obj && refers_to(obj, uid)) {
                if (orphan) {
                    prune_refs(obj, NULL, uid, &removed);
                    sim_ctrl_put(t, deps[d].r, o, obj);
                } else {
                    fl_apiserver_store_delete(t->c->st, deps[d].r, o->ns, o->name, 0, NULL, NULL);
                }
                pending++;
            }
            json_decref(obj);
        }
    if (pending == 0 || orphan) {
        drop_finalizer(owner, fg ? "foregroundDeletion" : "orphan");
        sim_ctrl_put(t, r, oo, owner);
    }
out:
    json_decref(owner);
}

void sim_gc_run(sim_tick *t)
{
    owners ow = {0};
    fl_apiserver_list lists[FL_ARRAY_LEN(owner_res)] = {{0}};
    const fl_apiserver_res *rs[FL_ARRAY_LEN(owner_res)] = {0};
    dep_list deps[2] = {{t->pods_r, t->pods}, {NULL, {0}}};
    fl_apiserver_list_req q = {0};
    deps[1].r = fl_apiserver_store_find(t->c->st, "apps", "v1", "replicasets");
    if (!deps[1].r || fl_apiserver_store_list(t->c->st, deps[1].r, &q, &deps[1].l) != 0)
        deps[1].r = NULL;
    if (load_owners(t, &ow, lists, rs) == 0) {
        collect_orphans(t, deps, deps[1].r ? 2 : 1, &ow);
        for (size_t k = 0; k < FL_ARRAY_LEN(owner_res); k++)
            for (size_t i = 0; rs[k] && i < lists[k].n; i++)
                if (fl_apiserver_obj_contains(lists[k].items[i], "\"deletionTimestamp\""))
                    finish_owner(t, rs[k], lists[k].items[i], deps, deps[1].r ? 2 : 1);
    }
    for (size_t k = 0; k < FL_ARRAY_LEN(owner_res); k++)
        fl_apiserver_list_done(&lists[k]);
    fl_apiserver_list_done(&deps[1].l);
    for (size_t i = 0; i < ow.n; i++)
        free(ow.uid[i]);
    free(ow.uid);
}
