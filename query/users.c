/*
 * query/users.c: per-user-name counts of a bounded resource (watches,
 * proxied logs), so one user cannot take what others need. The owner
 * holds its own lock around each call.
 */
#include <string.h>

#include "query/query_int.h"

bool query_user_take(query_user_count *slots, size_t nslots, const char *name, int cap)
{
    char user[sizeof slots[0].name]; /* names are counted by this prefix */
    fl_strlcpy(user, name ? name : "", sizeof user);
    query_user_count *free_slot = NULL;
    for (size_t i = 0; i < nslots; i++) {
        query_user_count *e = &slots[i];
        if (e->n && !strcmp(e->name, user)) {
            if (e->n >= cap)
                return false;
            e->n++;
            return true;
        }
        if (!e->n && !free_slot)
            free_slot = e;
    }
    if (!free_slot)
        return false;
    fl_strlcpy(free_slot->name, user, sizeof free_slot->name);
    free_slot->n = 1;
    return true;
}

void query_user_put(query_user_count *slots, size_t nslots, const char *name)
{
    char user[sizeof slots[0].name];
    fl_strlcpy(user, name ? name : "", sizeof user);
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].n && !strcmp(slots[i].name, user)) {
            slots[i].n--;
            return;
        }
}
