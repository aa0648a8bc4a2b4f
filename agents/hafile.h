/*
 * hafile.h - names of the SureHA installation, for agents.
 *
 * getenv(CLUSTERHOME) yields the installation directory ($HAHOME); hasvrd sets it for every
 * agent it starts.
 */
#ifndef SUREHA_HAFILE_H
#define SUREHA_HAFILE_H

#define CLUSTERHOME   "HAHOME"       /* environment variable naming the installation */
#define HA_BIN_DIR    "bin"          /* programs, agents, start and stop scripts */
#define HA_ETC_DIR    "etc"          /* sureha.conf, sureha.log, authkey, passwd */
#define HA_TMP_DIR    "tmp"          /* FIFOs, pid and state files */
#define HA_CONF_FILE  "etc/sureha.conf"
#define HA_LOG_FILE   "etc/sureha.log"
#define HA_PATH_MAX   1024

#endif
