/*
 * clusterapi.h - the SureHA agent API (libhaapi).
 *
 * Build an agent with:
 *   cc agent.c -o agent.x -I$HAHOME/include -L$HAHOME/lib -lhaapi
 *
 * Every call returns 0 on success. -1 means: stop, this agent is no longer wanted
 * (the service is not running here, was brought out, or hasvrd stayed away too long).
 * apiok() is paced by hasvrd: it returns about once a check_interval, so an agent that
 * calls it in a loop costs no CPU. Calls open their own descriptors, so an agent may close
 * every descriptor before apiopen() and may run without a controlling terminal.
 */
#ifndef SUREHA_CLUSTERAPI_H
#define SUREHA_CLUSTERAPI_H

#ifdef __cplusplus
extern "C" {
#endif

int apiopen(char *svc);            /* start monitoring svc; begin accepting its heartbeats */
int apiok(char *svc);              /* svc is well */
int apierr(char *svc);             /* svc failed: restart locally or fail over */
int apiclose(char *svc);           /* stop monitoring svc */
int apicmd(char *cmd, char *svc);  /* "BRINGIN" "BRINGOUT" "FAILOVER" "TAKEOVER" */

#ifdef __cplusplus
}
#endif

#endif
