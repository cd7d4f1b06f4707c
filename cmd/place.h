/*
 * cmd/place.h: the daemon half of `flotilla place` (cmd/place.c), which
 * cmd/serve.c routes: POST /api/v1/place answers where a workload would go.
 */
#ifndef FL_CMD_PLACE_H
#define FL_CMD_PLACE_H

#include "cmd/config.h"
#include "collector/collector.h"
#include "index/index.h"
#include "query/query.h"
#include "quota/quota.h"
#include "server/server.h"

typedef struct cmd_placer cmd_placer;

/* cfg, idx, col and q are borrowed and must outlive the placer (free it
 * after the server). Only members the collector reports Ready are
 * candidates, as Karmada schedules onto Ready clusters only. 0 or -ENOMEM. */
int cmd_placer_new(const fl_config *cfg, fl_index *idx, fl_collector *col, fl_query *q,
                   cmd_placer **out);
void cmd_placer_free(cmd_placer *p); /* accepts NULL */
/* The quota ledger the dry run checks against (NULL: none); borrowed, set
 * before the route serves. Nothing is reserved. */
void cmd_placer_set_quota(cmd_placer *p, fl_quota *q);
/* The route handler (ud = the placer); server threads. */
void cmd_placer_handle(fl_request *r, void *ud);

/* Member clusters as the engine reads them (name, labels, region, zone,
 * provider, taints from the config; "health" from the collector's status):
 * the Ready ones, or all. A new array, NULL on ENOMEM. Any thread. */
json_t *cmd_members_json(const fl_config *cfg, const json_t *status, bool all);

#endif
