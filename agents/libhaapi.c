/*
 * libhaapi.c - the SureHA agent API for C agents (clusterapi.h), as a small shim over
 * hasvrd's request FIFO. It speaks the protocol of lib/request.rs and lib/fifo.rs:
 *
 *   request  "sureha1 REPLY PID WORD...\n" written whole (shorter than PIPE_BUF) to
 *            $HAHOME/tmp/hasvrd.fifo; REPLY is our own FIFO tmp/reply.PID.SEQ
 *   reply    "TAKEN\n" as soon as hasvrd read the request, then "OK", "STOP" or
 *            "ERR message" on the first line, a body, end of file
 *
 * A C agent links only this (a few kilobytes), not the Rust library. Like the shell tools:
 * while hasvrd is away (it restarts within a second) a call waits for the next one, up to
 * 120 s when its pid file says it is expected back, 2 s when it left on purpose; a call
 * whose hasvrd died before answering is asked again; an untaken request is given up after
 * 10 s. Every call returns 0, or -1: stop, this agent is no longer wanted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "clusterapi.h"

#define LINE_MAX_BYTES 4000   /* request::MAX_LINE */
#define REPLY_MAX 65536
#define TAKEN_WITHIN_MS 10000
#define ANSWER_WITHIN_MS 300000 /* a paced apiok comes within a check_interval (<= 120 s) */
#define WHILE_DOWN_MS 120000
#define WHILE_GONE_MS 2000
#define HOME_MAX (PATH_MAX - 64) /* room for "/tmp/reply.PID.SEQ" after it */

enum outcome { GO, STOP, NOT_RUNNING, DIED_WAITING };

static unsigned long seq;

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* $HAHOME, else the parent of the directory of this program (an agent lives in bin/). */
static void home_dir(char *out, size_t size)
{
    const char *h = getenv("HAHOME");
    char exe[PATH_MAX];
    ssize_t n;
    char *slash;

    if (h != NULL && *h != '\0') {
        snprintf(out, size, "%s", h);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            if ((slash = strrchr(exe, '/')) != NULL) {
                *slash = '\0';
                snprintf(out, size, "%.*s", (int)size - 1, exe);
                return;
            }
        }
    }
    snprintf(out, size, "/opt/sureha");
}

/* Appends a word, percent-encoded as request::encode_word does. */
static int put_word(char *line, size_t size, const char *w)
{
    size_t at = strlen(line);
    const unsigned char *p = (const unsigned char *)w;

    if (at + 1 >= size)
        return -1;
    line[at++] = ' ';
    if (*p == '\0') {
        if (at + 3 >= size)
            return -1;
        memcpy(line + at, "%00", 3);
        at += 3;
    }
    for (; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || strchr("._~=/@:,+-", *p) != NULL;
        if (at + 4 >= size)
            return -1;
        if (keep)
            line[at++] = (char)*p;
        else
            at += (size_t)snprintf(line + at, size - at, "%%%02X", *p);
    }
    line[at] = '\0';
    return 0;
}

static long read_pid(const char *home, const char *daemon)
{
    char path[PATH_MAX], buf[32];
    int fd;
    ssize_t n;

    snprintf(path, sizeof path, "%s/tmp/%s.pid", home, daemon);
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

static int alive(long pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int server_running(const char *fifo)
{
    int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* Writes the line whole, never killed by SIGPIPE (hasvrd gone between open and write). */
static int send_line(const char *fifo, const char *line)
{
    sigset_t pipe_only, old;
    struct timespec zero = { 0, 0 };
    long until = now_ms() + 5000;
    int fd, rc = -1;

    if ((fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
        return -1;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_only, &old);
    for (;;) {
        ssize_t n = write(fd, line, strlen(line));
        if (n >= 0) {
            rc = 0;
            break;
        }
        if ((errno != EAGAIN && errno != EINTR) || now_ms() > until)
            break;
        sleep_ms(10);
    }
    while (sigtimedwait(&pipe_only, NULL, &zero) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fd);
    return rc;
}

static enum outcome call_once(const char home[HOME_MAX], const char *words[], int nwords,
                              long answer_within)
{
    char fifo[PATH_MAX], reply[PATH_MAX], name[48], line[LINE_MAX_BYTES + 1];
    char *data;
    size_t len = 0;
    long started, server;
    int fd, i;
    enum outcome result = DIED_WAITING;

    snprintf(fifo, sizeof fifo, "%s/tmp/hasvrd.fifo", home);
    snprintf(name, sizeof name, "reply.%ld.%lu", (long)getpid(), seq++);
    snprintf(reply, sizeof reply, "%s/tmp/%s", home, name);
    unlink(reply);
    if (mkfifo(reply, 0600) < 0)
        return errno == ENOENT ? NOT_RUNNING : STOP;
    if ((fd = open(reply, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        unlink(reply);
        return STOP;
    }
    snprintf(line, sizeof line, "sureha1 %s %ld", name, (long)getpid());
    for (i = 0; i < nwords; i++) {
        if (put_word(line, sizeof line - 1, words[i]) < 0) {
            close(fd);
            unlink(reply);
            return STOP;
        }
    }
    strcat(line, "\n");
    /* hasvrd writes its pid file before it opens the FIFO: this is the one we ask. */
    server = read_pid(home, "hasvrd");
    if (send_line(fifo, line) < 0) {
        close(fd);
        unlink(reply);
        return NOT_RUNNING;
    }
    if ((data = malloc(REPLY_MAX)) == NULL) {
        close(fd);
        unlink(reply);
        return STOP;
    }
    started = now_ms();
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;
        int eof = 0;

        /* Once taken, hasvrd holds our FIFO open until it answers; its death closes it. */
        poll(&p, 1, len == 0 ? 1000 : (answer_within < 0 ? -1 : 1000));
        while ((n = read(fd, data + len, REPLY_MAX - 1 - len)) > 0)
            len += (size_t)n;
        if (n == 0 && len > 0)
            eof = 1;
        if (eof) {
            char *answer = data;
            data[len] = '\0';
            if (strncmp(answer, "TAKEN\n", 6) == 0)
                answer += 6;
            if (*answer == '\0')
                result = DIED_WAITING; /* taken, then closed: that hasvrd is gone */
            else
                result = strncmp(answer, "OK\n", 3) == 0 || strcmp(answer, "OK") == 0
                             ? GO : STOP;
            break;
        }
        if (len == 0 && p.revents == 0) {
            if ((server > 0 && !alive(server)) || !server_running(fifo)) {
                result = DIED_WAITING;
                break;
            }
        } else if ((p.revents & POLLHUP) && len == 0) {
            sleep_ms(10);
        }
        if (len == 0 && now_ms() - started > TAKEN_WITHIN_MS) {
            result = STOP; /* hasvrd lost the request, or is overloaded */
            break;
        }
        if (answer_within >= 0 && now_ms() - started > answer_within) {
            result = STOP; /* taken but never answered: hasvrd hangs */
            break;
        }
        if (len >= REPLY_MAX - 1) {
            result = STOP;
            break;
        }
    }
    free(data);
    close(fd);
    unlink(reply);
    return result;
}

/* answer_within: how long a taken request may wait for its answer (-1: as long as hasvrd
 * lives, for apicmd, whose operation may take as long as the service's scripts). */
static int call(const char *words[], int nwords, long answer_within)
{
    char home[HOME_MAX], pidfile[PATH_MAX], tmp[PATH_MAX];
    struct stat st;
    long patience, down_since = now_ms();

    home_dir(home, sizeof home);
    snprintf(pidfile, sizeof pidfile, "%s/tmp/hasvrd.pid", home);
    snprintf(tmp, sizeof tmp, "%s/tmp", home);
    /* Expected back: it died, or left with QUIT; a missing tmp/ is put back by hasvrd. */
    patience = (stat(pidfile, &st) == 0 || stat(tmp, &st) < 0) ? WHILE_DOWN_MS : WHILE_GONE_MS;
    for (;;) {
        switch (call_once(home, words, nwords, answer_within)) {
        case GO:
            return 0;
        case STOP:
            return -1;
        case NOT_RUNNING:
            if (now_ms() - down_since >= patience)
                return -1;
            sleep_ms(100);
            break;
        case DIED_WAITING:
            down_since = now_ms(); /* ask the next hasvrd: these calls are idempotent */
            break;
        }
    }
}

static int api(const char *word, const char *svc)
{
    const char *words[2];
    if (svc == NULL || strlen(svc) > 256)
        return -1;
    words[0] = word;
    words[1] = svc;
    return call(words, 2, ANSWER_WITHIN_MS);
}

int apiopen(char *svc) { return api("apiopen", svc); }
int apiok(char *svc) { return api("apiok", svc); }
int apierr(char *svc) { return api("apierr", svc); }
int apiclose(char *svc) { return api("apiclose", svc); }

int apicmd(char *cmd, char *svc)
{
    const char *words[3];
    if (cmd == NULL || svc == NULL || strlen(cmd) > 64 || strlen(svc) > 256)
        return -1;
    words[0] = "apicmd";
    words[1] = cmd;
    words[2] = svc;
    return call(words, 3, -1);
}
