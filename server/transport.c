/*
 * transport: plain sockets; see transport.h.
 */
#include "server/transport.h"

#include <errno.h>
#include <unistd.h>

ssize_t transport_plain_errno(void) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? TRANSPORT_AGAIN
                                                                    : TRANSPORT_ERROR;
}

static ssize_t plain_read(void *ctx, int fd, void *buf, size_t n) {
    (void)ctx;
    return transport_plain_read(fd, buf, n);
}

static ssize_t plain_write(void *ctx, int fd, const void *buf, size_t n) {
    (void)ctx;
    return transport_plain_write(fd, buf, n);
}

static bool plain_pending(void *ctx) {
    (void)ctx;
    return false;
}

static void plain_close(void *ctx, int fd) {
    (void)ctx;
    close(fd);
}

const struct transport_ops transport_plain = {
    .name = "plain",
    .read = plain_read,
    .write = plain_write,
    .pending = plain_pending,
    .close = plain_close,
};
