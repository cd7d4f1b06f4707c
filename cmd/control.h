/*
 * cmd/control.h: the daemon's own control-plane API (cmd/control.c), served
 * when flotilla.yaml has no host:.
 */
#ifndef FL_CMD_CONTROL_H
#define FL_CMD_CONTROL_H

#include "base/base.h"
#include "cmd/config.h"
#include "query/query.h"
#include "server/server.h"

typedef struct cmd_control cmd_control;

/* Open dataDir/control.db (created when absent; refused, naming the file
 * and SQLite's error, when it is not a healthy database), load the
 * built-in kinds and deploy/crds/, and the admin token (dataDir/
 * control.token, made on first start). 0 or a code with err set. */
int cmd_control_open(const fl_config *cfg, cmd_control **out, fl_err *err);
/* Route /api, /apis, /openapi and /version on srv to it; q authenticates
 * users of the tokens file (borrowed; outlives the server). */
int cmd_control_route(cmd_control *c, fl_server *srv, fl_query *q);
/* Write dataDir/flotilla.kubeconfig (server URL with port, CA when TLS,
 * the admin token); path gets its path. 0 or a code with err set. */
int cmd_control_write_kubeconfig(cmd_control *c, unsigned port, char *path, size_t n, fl_err *err);
/* After the server that routes to it is freed. Accepts NULL. */
void cmd_control_free(cmd_control *c);

/* `flotilla backup FILE` and `flotilla restore FILE` (cmd/control.c). */
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);

#endif
