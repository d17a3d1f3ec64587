/* sy_reqlog.c — the routing-result log: one JSON line per request (to stdout or a file).
 * Workers append to their own buffer (a mutex they share only with the writer thread, held
 * for a memcpy); the writer thread swaps the buffers out every 100 ms and writes them, so the
 * event loops never wait on the disk. A worker whose buffer is over 8 MiB drops lines (and
 * counts them) instead of growing without bound. No prompt or answer text is written. */
#include "engine/sy_engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PENDING (8u << 20)

struct sy_reqlog {
    int fd;
    int own_fd;
    pthread_t thread;
    int running;
    atomic_int stop;
    struct sy_engine *eng;
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* a full disk or a closed stdout loses lines, never the gateway */
        p += w;
        n -= (size_t)w;
    }
}

static void flush_workers(sy_reqlog *rl)
{
    sy_buf out;
    sy_buf_init(&out);
    for (int i = 0; i < rl->eng->nworkers; i++) {
        sy_worker *w = &rl->eng->workers[i];
        pthread_mutex_lock(&w->log_lock);
        sy_buf tmp = w->logbuf; /* swap: the worker goes on with an empty buffer */
        sy_buf_init(&w->logbuf);
        pthread_mutex_unlock(&w->log_lock);
        if (tmp.len) write_all(rl->fd, tmp.data, tmp.len);
        sy_buf_free(&tmp);
    }
    sy_buf_free(&out);
}

static void *writer_main(void *arg)
{
    sy_reqlog *rl = arg;
    while (!atomic_load(&rl->stop)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        flush_workers(rl);
    }
    flush_workers(rl);
    return NULL;
}

sy_reqlog *sy_reqlog_start(struct sy_engine *eng, const char *dest, sy_buf *err)
{
    sy_reqlog *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    rl->eng = eng;
    if (strcmp(dest, "stdout") == 0) {
        rl->fd = STDOUT_FILENO;
    } else {
        rl->fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (rl->fd < 0) {
            sy_buf_printf(err, "server.request_log: cannot open %s: %s\n", dest, strerror(errno));
            free(rl);
            return NULL;
        }
        rl->own_fd = 1;
    }
    if (pthread_create(&rl->thread, NULL, writer_main, rl) != 0) {
        if (rl->own_fd) close(rl->fd);
        free(rl);
        sy_buf_puts(err, "server.request_log: cannot start the writer thread\n");
        return NULL;
    }
    rl->running = 1;
    return rl;
}

void sy_reqlog_stop(sy_reqlog *rl)
{
    if (!rl) return;
    atomic_store(&rl->stop, 1);
    if (rl->running) pthread_join(rl->thread, NULL);
    if (rl->own_fd) close(rl->fd);
    free(rl);
}

int sy_reqlog_append(sy_worker *w, const char *line, size_t len)
{
    int ok = 0;
    pthread_mutex_lock(&w->log_lock);
    if (w->logbuf.len + len <= MAX_PENDING) ok = sy_buf_append(&w->logbuf, line, len) == SY_OK;
    pthread_mutex_unlock(&w->log_lock);
    return ok ? 0 : -1;
}
