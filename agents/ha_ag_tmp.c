/*
 * ha_ag_tmp.c - template of a SureHA agent in C.
 *
 * The "service" this template watches is the file $HAHOME/tmp/agent: it is well while the
 * file exists. Replace check_service() with a real check of your service.
 *
 * Started by hasvrd as:  ha_ag_tmp.x SERVICENAME INTERVAL
 *   INTERVAL 0: check once, exit 1 if the service is available, 0 if not.
 *   otherwise:  report every INTERVAL seconds until told to stop.
 *
 * Build: cc ha_ag_tmp.c -o ha_ag_tmp.x -I$HAHOME/include -L$HAHOME/lib -lhaapi
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "clusterapi.h"
#include "hafile.h"

static char watched[HA_PATH_MAX];

static int check_service(void)
{
    return access(watched, F_OK) == 0;
}

int main(int argc, char *argv[])
{
    char *svc;
    char *home;
    int interval;
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVICENAME INTERVAL\n", argv[0]);
        exit(2);
    }
    svc = argv[1];
    interval = atoi(argv[2]);
    home = getenv(CLUSTERHOME);
    if (home == NULL) {
        fprintf(stderr, "%s: %s is not set\n", argv[0], CLUSTERHOME);
        exit(2);
    }
    snprintf(watched, sizeof watched, "%s/%s/agent", home, HA_TMP_DIR);

    if (interval == 0)
        exit(check_service() ? 1 : 0);

    /* An agent runs detached: close every descriptor it inherited. */
    for (fd = 0; fd < 256; fd++)
        close(fd);

    if (apiopen(svc) < 0)
        exit(1);
    for (;;) {
        if (check_service()) {
            if (apiok(svc) < 0)
                break;
        } else {
            if (apierr(svc) < 0)
                break;
        }
        sleep(interval - 1);
    }
    apiclose(svc);
    exit(0);
}
