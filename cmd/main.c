/* cmd/main.c: `flotilla` entry point and subcommand dispatch. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cmd/cmd.h"
#include "cmd/control.h"

/* Subcommands, in the order --help lists them. */
static const fl_command commands[] = {
    {"version", "print the version", cmd_version},
    {"certs", "make a CA, serving and client certificates (PEM files)", cmd_certs},
    {"debug", "check Kubernetes primitives: JSON lines in, JSON lines out", cmd_debug},
    {"sim", "serve N virtual Kubernetes clusters for demos and tests", cmd_sim},
    {"serve", "run the daemon: watch the members of flotilla.yaml, serve the API", cmd_serve},
    {"clusters", "show the member clusters the daemon watches", cmd_clusters},
    {"place", "dry-run a placement: where would this workload go, and why", cmd_place},
    {"capacity", "show fleet capacity: requested / allocatable per cluster, region, ...",
     cmd_capacity},
    {"quota", "show fleet-wide quotas (used, hard); `quota recount`: recount usage now", cmd_quota},
    {"backup", "copy the control-plane store (dataDir/control.db) while the daemon runs",
     cmd_backup},
    {"restore", "make a backup the control-plane store of a fresh data dir", cmd_restore},
    {"query", "run a SQL-like query over every cluster (query/SQL.md)", cmd_query},
};

bool cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

static void usage(FILE *f)
{
    fprintf(f, "flotilla: search, quota and scheduling across a fleet of Kubernetes clusters.\n\n"
               "Usage: flotilla <command> [options]\n\nCommands:\n");
    for (size_t i = 0; i < FL_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'flotilla <command> --help' for a command's options.\n"
               "Environment: FLOTILLA_LOG=debug|info|warn|error sets the log level.\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    fl_log_level lvl;
    const char *env = getenv("FLOTILLA_LOG");
    if (env && fl_log_level_parse(env, &lvl) == 0)
        fl_log_set_level(lvl);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < FL_ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "flotilla: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
