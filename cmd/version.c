/* cmd/version.c: `flotilla version`. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/version.h"

int cmd_version(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv)) {
        printf("Usage: flotilla version\n\nPrints Flotilla's version and the Kubernetes API "
               "version it speaks.\n");
        return 0;
    }
    printf("flotilla %s (Kubernetes API v1.26)\n", FLOTILLA_VERSION);
    return 0;
}
