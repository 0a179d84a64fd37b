/* confsvc.media._wire: one subscriber's RTP packets for one frame, in one call.
 *
 * The fan-out's per-subscriber work (confsvc/media/fanout.py, Leg.send) is, for each
 * packet of a frame: a 12-byte RTP header and the header-extension block in front of
 * the payload every subscriber shares, libsrtp's srtp_protect on the subscriber's own
 * context, and the system call that hands the datagrams to the kernel. In Python that
 * is ~10 interpreter-level operations and several cffi calls a packet; here it is one
 * call a frame: the headers are written into a static buffer, protected in place, and
 * sent with one sendmsg (UDP_SEGMENT, when the sizes allow) or one sendmmsg.
 *
 * libsrtp is not linked: the caller passes the address of pylibsrtp's own srtp_protect
 * (libsrtp 2's signature, checked by confsvc/media/aiortc_internals.py through cffi's
 * type of it) and the srtp_t of the session, so the packets are protected by the same
 * context, with the same roll-over counter, as every other packet of that sender.
 *
 * Only for the thread that holds the GIL (the buffers are static); nothing here blocks:
 * the socket is the event loop's non-blocking one, and a full socket buffer counts the
 * datagrams as dropped (NACK and PLI recover), as the Python path does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define MAX_PACKETS 64      /* per batch; a frame of more is sent in several batches */
#define BUFFER_SIZE 2048    /* one datagram's room, SRTP tag included */
#define MAX_TRAILER 144     /* libsrtp's SRTP_MAX_TRAILER_LEN */
#define GSO_MAX_BYTES 60000 /* what one UDP_SEGMENT send may carry */

typedef int (*srtp_protect_fn)(void *ctx, void *rtp_hdr, int *len_ptr);

static uint8_t buffers[MAX_PACKETS][BUFFER_SIZE];
static int lengths[MAX_PACKETS];
static int gso_enabled = 1;

/* What a kernel or route without UDP segmentation answers (as aiortc_internals._GSO_REFUSED). */
static int gso_refused(int err) {
    return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

/* The longest run from i that one UDP_SEGMENT send can carry: same sizes, the last <=. */
static int gso_run(int i, int n) {
    int size = lengths[i];
    int j = i + 1;
    long total = size;
    while (j < n && total + size <= GSO_MAX_BYTES) {
        int length = lengths[j];
        if (length > size)
            break;
        j++;
        total += length;
        if (length < size)
            break;
    }
    return j;
}

/* Send datagrams [i, j) singly or as one sendmmsg; returns octets, adds to *dropped. */
static long send_mmsg(int fd, const struct sockaddr *addr, socklen_t addrlen, int i, int j,
                      long *dropped) {
    struct mmsghdr msgs[MAX_PACKETS];
    struct iovec iovs[MAX_PACKETS];
    long octets = 0;
    int count = j - i;
    memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)count);
    for (int k = 0; k < count; k++) {
        iovs[k].iov_base = buffers[i + k];
        iovs[k].iov_len = (size_t)lengths[i + k];
        msgs[k].msg_hdr.msg_name = (void *)addr;
        msgs[k].msg_hdr.msg_namelen = addrlen;
        msgs[k].msg_hdr.msg_iov = &iovs[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int done = 0;
    while (done < count) {
        int r = sendmmsg(fd, msgs + done, (unsigned int)(count - done), 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* full (EAGAIN: NACK/PLI recover) or the route went away (ICE consent notices) */
            *dropped += count - done;
            break;
        }
        for (int k = done; k < done + r; k++)
            octets += lengths[i + k];
        done += r;
    }
    return octets;
}

/* One UDP_SEGMENT sendmsg of [i, j); returns octets, -1 if this kernel refuses GSO. */
static long send_gso(int fd, const struct sockaddr *addr, socklen_t addrlen, int i, int j,
                     long *dropped) {
    struct iovec iovs[MAX_PACKETS];
    char control[CMSG_SPACE(sizeof(uint16_t))];
    struct msghdr msg;
    long octets = 0;
    for (int k = i; k < j; k++) {
        iovs[k - i].iov_base = buffers[k];
        iovs[k - i].iov_len = (size_t)lengths[k];
        octets += lengths[k];
    }
    memset(&msg, 0, sizeof(msg));
    memset(control, 0, sizeof(control));
    msg.msg_name = (void *)addr;
    msg.msg_namelen = addrlen;
    msg.msg_iov = iovs;
    msg.msg_iovlen = (size_t)(j - i);
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t segment = (uint16_t)lengths[i];
    memcpy(CMSG_DATA(cm), &segment, sizeof(segment));
    for (;;) {
        ssize_t r = sendmsg(fd, &msg, 0);
        if (r >= 0)
            return octets;
        if (errno == EINTR)
            continue;
        if (gso_refused(errno))
            return -1;
        *dropped += j - i; /* full, or the route went away */
        return 0;
    }
}

static long send_batch(int fd, const struct sockaddr *addr, socklen_t addrlen, int n,
                       long *dropped) {
    long octets = 0;
    int i = 0;
    while (i < n) {
        if (gso_enabled && n - i >= 2) {
            int j = gso_run(i, n);
            if (j - i >= 2) {
                long sent = send_gso(fd, addr, addrlen, i, j, dropped);
                if (sent >= 0) {
                    octets += sent;
                    i = j;
                    continue;
                }
                gso_enabled = 0; /* no segmentation here: from now on sendmmsg */
            }
        }
        /* the rest in one sendmmsg (no GSO, or sizes that one segment size can't carry) */
        int j = n;
        if (gso_enabled) {
            /* stop where a GSO run of two or more starts again */
            j = i + 1;
            while (j < n && !(n - j >= 2 && gso_run(j, n) - j >= 2))
                j++;
        }
        octets += send_mmsg(fd, addr, addrlen, i, j, dropped);
        i = j;
    }
    return octets;
}

static int as_long(PyObject *o, long *out, const char *what) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "send_rtp: %s must be an int", what);
        return -1;
    }
    *out = v;
    return 0;
}

/* send_rtp(fd, sockaddr, protect, context, first, payload_type, seq, timestamp, ssrc,
 *          extension, payloads) -> (octets handed to the kernel, datagrams dropped)
 *
 * fd: the UDP socket; sockaddr: bytes from sockaddr(); protect, context: addresses of
 * srtp_protect and the session's srtp_t; first: the header's first octet (0x80 or 0x90
 * with an extension block); seq: the first packet's sequence number (each next one +1,
 * wrapping); the marker bit is set on the last packet; extension: the block written
 * after the 12-byte header (b"" for none); payloads: a list of bytes, shared.
 */
static PyObject *send_rtp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "send_rtp takes 11 arguments");
        return NULL;
    }
    long fd, first, pt, seq, ts, ssrc;
    if (as_long(args[0], &fd, "fd") < 0)
        return NULL;
    if (!PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "send_rtp: sockaddr must be bytes");
        return NULL;
    }
    const struct sockaddr *addr = (const struct sockaddr *)PyBytes_AS_STRING(args[1]);
    socklen_t addrlen = (socklen_t)PyBytes_GET_SIZE(args[1]);
    if (addrlen < (socklen_t)sizeof(struct sockaddr_in)) {
        PyErr_SetString(PyExc_ValueError, "send_rtp: sockaddr is too short");
        return NULL;
    }
    void *protect_ptr = PyLong_AsVoidPtr(args[2]);
    if (protect_ptr == NULL && PyErr_Occurred())
        return NULL;
    void *context = PyLong_AsVoidPtr(args[3]);
    if (context == NULL && PyErr_Occurred())
        return NULL;
    if (as_long(args[4], &first, "first") < 0 || as_long(args[5], &pt, "payload_type") < 0 ||
        as_long(args[6], &seq, "seq") < 0)
        return NULL;
    unsigned long uts = PyLong_AsUnsignedLongMask(args[7]);
    unsigned long ussrc = PyLong_AsUnsignedLongMask(args[8]);
    if (PyErr_Occurred())
        return NULL;
    ts = (long)uts;
    ssrc = (long)ussrc;
    if (!PyBytes_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, "send_rtp: extension must be bytes");
        return NULL;
    }
    const char *ext = PyBytes_AS_STRING(args[9]);
    Py_ssize_t ext_len = PyBytes_GET_SIZE(args[9]);
    PyObject *payloads = args[10];
    if (!PyList_Check(payloads)) {
        PyErr_SetString(PyExc_TypeError, "send_rtp: payloads must be a list of bytes");
        return NULL;
    }
    if (protect_ptr == NULL || context == NULL) {
        PyErr_SetString(PyExc_ValueError, "send_rtp: no SRTP context");
        return NULL;
    }
    srtp_protect_fn protect = (srtp_protect_fn)(intptr_t)protect_ptr;
    Py_ssize_t n = PyList_GET_SIZE(payloads);
    long octets = 0, dropped = 0;
    for (Py_ssize_t start = 0; start < n; start += MAX_PACKETS) {
        Py_ssize_t end = n - start > MAX_PACKETS ? start + MAX_PACKETS : n;
        int count = 0;
        for (Py_ssize_t i = start; i < end; i++) {
            PyObject *payload = PyList_GET_ITEM(payloads, i);
            if (!PyBytes_Check(payload)) {
                PyErr_SetString(PyExc_TypeError, "send_rtp: a payload is not bytes");
                return NULL;
            }
            Py_ssize_t size = PyBytes_GET_SIZE(payload);
            Py_ssize_t total = 12 + ext_len + size;
            if (total > BUFFER_SIZE - MAX_TRAILER) {
                PyErr_Format(PyExc_ValueError, "send_rtp: a packet of %zd bytes is too long",
                             total);
                return NULL;
            }
            uint8_t *b = buffers[count];
            b[0] = (uint8_t)first;
            b[1] = (uint8_t)((pt & 0x7F) | (i == n - 1 ? 0x80 : 0));
            b[2] = (uint8_t)((seq >> 8) & 0xFF);
            b[3] = (uint8_t)(seq & 0xFF);
            b[4] = (uint8_t)((ts >> 24) & 0xFF);
            b[5] = (uint8_t)((ts >> 16) & 0xFF);
            b[6] = (uint8_t)((ts >> 8) & 0xFF);
            b[7] = (uint8_t)(ts & 0xFF);
            b[8] = (uint8_t)((ssrc >> 24) & 0xFF);
            b[9] = (uint8_t)((ssrc >> 16) & 0xFF);
            b[10] = (uint8_t)((ssrc >> 8) & 0xFF);
            b[11] = (uint8_t)(ssrc & 0xFF);
            memcpy(b + 12, ext, (size_t)ext_len);
            memcpy(b + 12 + ext_len, PyBytes_AS_STRING(payload), (size_t)size);
            int length = (int)total;
            int rc = protect(context, b, &length);
            if (rc != 0) {
                PyErr_Format(PyExc_RuntimeError, "send_rtp: srtp_protect failed (libsrtp error %d)",
                             rc);
                return NULL;
            }
            lengths[count++] = length;
            seq = (seq + 1) & 0xFFFF;
        }
        octets += send_batch((int)fd, addr, addrlen, count, &dropped);
    }
    return Py_BuildValue("(ll)", octets, dropped);
}

/* sockaddr(host, port) -> the struct sockaddr, as bytes, for a numeric IPv4/IPv6 host. */
static PyObject *make_sockaddr(PyObject *self, PyObject *args) {
    (void)self;
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port))
        return NULL;
    if (port < 0 || port > 65535) {
        PyErr_Format(PyExc_ValueError, "sockaddr: port %d is out of range", port);
        return NULL;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL) {
        PyErr_Format(PyExc_ValueError, "sockaddr: %s is not a numeric address (%s)", host,
                     gai_strerror(rc));
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize((const char *)res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return out;
}

static PyObject *gso(PyObject *self, PyObject *args) {
    (void)self;
    int enable = -1;
    if (!PyArg_ParseTuple(args, "|p", &enable))
        return NULL;
    if (enable != -1)
        gso_enabled = enable;
    return PyBool_FromLong(gso_enabled);
}

static PyMethodDef methods[] = {
    {"send_rtp", (PyCFunction)(void (*)(void))send_rtp, METH_FASTCALL,
     "send_rtp(fd, sockaddr, protect, context, first, payload_type, seq, timestamp, ssrc, "
     "extension, payloads) -> (octets, dropped): one frame's RTP packets, protected and sent."},
    {"sockaddr", make_sockaddr, METH_VARARGS,
     "sockaddr(host, port) -> bytes: the struct sockaddr of a numeric address."},
    {"gso", gso, METH_VARARGS,
     "gso([enable]) -> bool: whether UDP_SEGMENT is used (switched off at the first refusal)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "confsvc.media._wire",
    "One subscriber's RTP packets for one frame: headers, SRTP and one system call.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
