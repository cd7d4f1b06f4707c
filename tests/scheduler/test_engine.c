/*
 * tests/scheduler/test_engine.c: the typed engine, linked only against
 * scheduler/. Webster's heap against a naive reference on random inputs
 * (same tie-breaks), fnv32a against Go's values, division invariants
 * (every replica handed out, scale up keeps what was placed, scale down
 * never grows a cluster), selection invariants (no duplicates, within
 * maxGroups), and capacity from node and pod JSON.
 */
#include <errno.h>
#include <stdlib.h>

#include "scheduler/scheduler.h"
#include "tests/test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? rng % n : 0;
}

static const char *const NAMES[] = {"a", "b", "c", "d", "e", "f", "g", "h"};

/* The obvious O(seats × parties) Webster with the same order. */
static void naive(fl_sched_party *p, size_t n, int64_t seats, bool desc)
{
    for (int64_t s = 0; s < seats; s++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (best == SIZE_MAX) { /* 0-vote parties compete too (priority 0) */
                best = i;
                continue;
            }
            const fl_sched_party *x = &p[i], *y = &p[best];
            __int128 l = (__int128)x->votes * (2 * y->seats + 1);
            __int128 r = (__int128)y->votes * (2 * x->seats + 1);
            int c = strcmp(x->name, y->name);
            if (l > r || (l == r && (x->seats < y->seats ||
                                     (x->seats == y->seats && (desc ? c > 0 : c < 0)))))
                best = i;
        }
        if (best == SIZE_MAX)
            return;
        p[best].seats++;
    }
}

static void test_webster_random(void)
{
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = 1 + rnd(8);
        fl_sched_party a[8], b[8];
        for (size_t i = 0; i < n; i++) {
            a[i].name = NAMES[i];
            a[i].votes = (int64_t)rnd(iter % 2 ? 5 : 1000);
            a[i].seats = (int64_t)rnd(4);
            b[i] = a[i];
        }
        int64_t seats = (int64_t)rnd(60);
        const char *uid = iter % 3 == 0 ? "uid-a" : "uid-b"; /* odd / even fnv32a */
        T_EQ_INT(fl_sched_webster(a, n, seats, uid), 0);
        naive(b, n, seats, iter % 3 == 0);
        for (size_t i = 0; i < n; i++)
            T_EQ_INT(a[i].seats, b[i].seats);
    }
    fl_sched_party p = {"x", -1, 0};
    T_EQ_INT(fl_sched_webster(&p, 1, 1, ""), -EINVAL);
    T_EQ_INT(fl_sched_webster(NULL, 0, FL_SCHED_MAX_SEATS + 1, ""), -EINVAL);
}

static void test_fnv(void)
{
    T_EQ_INT(fl_sched_fnv32a(""), 2166136261u);
    T_EQ_INT(fl_sched_fnv32a("uid-a"), 2160371155u);
    T_EQ_INT(fl_sched_fnv32a("abc"), 440920331u);
}

static int64_t sum_targets(const fl_sched_target *t, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += t[i].replicas;
    return s;
}

static int64_t target_of(const fl_sched_target *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].replicas;
    return 0;
}

static void test_assign_random(void)
{
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 1 + rnd(6);
        fl_sched_cluster c[8];
        memset(c, 0, sizeof c);
        for (size_t i = 0; i < n; i++) {
            c[i].name = NAMES[i];
            c[i].weight = (int64_t)rnd(4) - 1;
            c[i].available = (int64_t)rnd(30) - 1;
            c[i].current = (int64_t)rnd(6);
        }
        fl_sched_assign_in in = {
            (fl_sched_strategy)rnd(4), (int64_t)rnd(50), "u", rnd(4) == 0, c, n, NULL, 0};
        fl_sched_target *t = NULL;
        size_t nt = 0;
        fl_err err = FL_ERR_INIT;
        int rc = fl_sched_assign(&in, &t, &nt, &err);
        if (rc == FL_ESCHED) {
            T_CHECK(err.msg[0] != 0);
            T_CHECK(in.strategy == FL_SCHED_DYNAMIC_WEIGHT || in.strategy == FL_SCHED_AGGREGATED);
            continue;
        }
        T_EQ_INT(rc, 0);
        if (in.strategy == FL_SCHED_DUPLICATED)
            T_EQ_INT(sum_targets(t, nt), in.replicas * (int64_t)(in.replicas ? nt : 0));
        else
            T_EQ_INT(sum_targets(t, nt), in.replicas);
        int64_t assigned = 0;
        for (size_t i = 0; i < n; i++)
            assigned += c[i].current;
        bool dyn = in.strategy == FL_SCHED_DYNAMIC_WEIGHT || in.strategy == FL_SCHED_AGGREGATED;
        for (size_t i = 0; dyn && !in.fresh && i < n; i++) {
            int64_t got = target_of(t, nt, c[i].name);
            if (assigned < in.replicas) /* scale up never moves what was placed */
                T_CHECK(got >= c[i].current);
            if (assigned > in.replicas) /* scale down never grows a cluster */
                T_CHECK(got <= c[i].current);
        }
        for (size_t i = 1; i < nt; i++)
            T_CHECK(strcmp(t[i - 1].name, t[i].name) < 0);
        free(t);
    }
}

static void test_select_random(void)
{
    static const char *const REG[] = {"r1", "r2", "r3"};
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = 1 + rnd(8);
        fl_sched_cluster c[8];
        memset(c, 0, sizeof c);
        for (size_t i = 0; i < n; i++) {
            c[i].name = NAMES[i];
            c[i].region = REG[rnd(3)];
            c[i].zone = REG[rnd(3)];
            c[i].score = (int64_t)rnd(3) * 50;
            c[i].available = (int64_t)rnd(40);
        }
        fl_sched_spread sp[2] = {
            {FL_SCHED_SPREAD_CLUSTER, 1 + (int64_t)rnd(3), 0},
            {rnd(2) ? FL_SCHED_SPREAD_REGION : FL_SCHED_SPREAD_ZONE, 1 + (int64_t)rnd(2), 0}};
        sp[0].max_groups = sp[0].min_groups + (int64_t)rnd(4);
        sp[1].max_groups = sp[1].min_groups + (int64_t)rnd(2);
        fl_sched_select_in in = {rnd(2) == 0, false, (int64_t)rnd(80), sp, 1 + rnd(2), c, n};
        size_t *idx = NULL, ni = 0;
        fl_err err = FL_ERR_INIT;
        int rc = fl_sched_select(&in, &idx, &ni, &err);
        if (rc != 0) {
            T_EQ_INT(rc, FL_ESCHED);
            continue;
        }
        T_CHECK(in.n_spread == 2 || (int64_t)ni <= sp[0].max_groups);
        bool seen[8] = {false};
        for (size_t i = 0; i < ni; i++) {
            T_CHECK(idx[i] < n && !seen[idx[i]]);
            seen[idx[i]] = true;
        }
        free(idx);
    }
}

int main(void)
{
    test_fnv();
    test_webster_random();
    test_assign_random();
    test_select_random();
    return t_done();
}
