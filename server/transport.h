/*
 * transport: how a stream connection moves bytes, behind one small table
 * of operations, so that conn.c is the same for every kind of socket.
 *
 * Plain TCP and unix sockets share transport_plain.  A transport that keeps
 * bytes of its own (TLS decrypts a whole record while the caller may have
 * asked for less) must say so in `pending`: a short read means "the socket
 * is drained" only when the transport holds nothing either, as Redis's
 * connection type has it.
 *
 * Results of read and write: bytes moved (> 0), TRANSPORT_EOF from read at
 * the end of the stream, TRANSPORT_AGAIN when nothing can move until the
 * socket is readable (read) or writable (write), TRANSPORT_AGAIN_WRITE when
 * a read must wait for the socket to be writable (a TLS renegotiation),
 * TRANSPORT_ERROR when the connection is dead.
 */
#ifndef LARDER_TRANSPORT_H
#define LARDER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define TRANSPORT_EOF 0
#define TRANSPORT_AGAIN (-1)
#define TRANSPORT_ERROR (-2)
#define TRANSPORT_AGAIN_WRITE (-3)

struct transport_ops {
    const char *name;
    ssize_t (*read)(void *ctx, int fd, void *buf, size_t n);
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t n);
    /* bytes already received that the kernel no longer shows */
    bool (*pending)(void *ctx);
    /* frees ctx and closes fd */
    void (*close)(void *ctx, int fd);
};

extern const struct transport_ops transport_plain;

/* transport_plain's read and write, inline: conn.c calls them directly when
 * the connection is plain, so the common case costs no indirect call.  A
 * failure's errno is sorted out of line (EINTR counts as "again": the
 * socket is level-triggered, so the event loop comes straight back). */
ssize_t transport_plain_errno(void);

/* The raw syscalls: glibc's read, send and sendmsg are cancellation points
 * and wrap each call in two more (enabling and disabling asynchronous
 * cancellation), about 60 instructions per request at depth 1.  No thread
 * of the server is ever cancelled.  Sanitizer builds keep the libc calls,
 * which ASan and TSan intercept to check the buffers. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TRANSPORT_READ(fd, buf, n) read(fd, buf, n)
#define TRANSPORT_SENDMSG(fd, msg, flags) sendmsg(fd, msg, flags)
#define TRANSPORT_SEND(fd, buf, n, flags) send(fd, buf, n, flags)
#else
#define TRANSPORT_READ(fd, buf, n) syscall(SYS_read, fd, buf, n)
#define TRANSPORT_SENDMSG(fd, msg, flags) syscall(SYS_sendmsg, fd, msg, flags)
#define TRANSPORT_SEND(fd, buf, n, flags) syscall(SYS_sendto, fd, buf, n, flags, NULL, 0)
#endif

static inline ssize_t transport_plain_read(int fd, void *buf, size_t n) {
    ssize_t r = TRANSPORT_READ(fd, buf, n);
    return r >= 0 ? r : transport_plain_errno();
}

/* Several pieces in one call (a reply around a value sent from its item). */
static inline ssize_t transport_plain_writev(int fd, const struct iovec *iov, int n) {
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t r = TRANSPORT_SENDMSG(fd, &msg, MSG_NOSIGNAL);
    if (r > 0)
        return r;
    return r == 0 ? TRANSPORT_AGAIN : transport_plain_errno();
}

static inline ssize_t transport_plain_write(int fd, const void *buf, size_t n) {
    ssize_t r = TRANSPORT_SEND(fd, buf, n, MSG_NOSIGNAL);
    if (r > 0)
        return r;
    return r == 0 ? TRANSPORT_AGAIN : transport_plain_errno();
}

#endif
