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

/* One frame's packets (a list of bytes payloads): headers from seq, the marker on the last,
 * ext after each header, protected in place, sent. 0, or -1 with an exception set (nothing
 * of a batch that failed to build is sent). */
static int send_frame(int fd, const struct sockaddr *addr, socklen_t addrlen,
                      srtp_protect_fn protect, void *context, int first, int pt, long seq,
                      uint32_t ts, uint32_t ssrc, const char *ext, Py_ssize_t ext_len,
                      PyObject *payloads, long *octets_out, long *dropped_out) {
    Py_ssize_t n = PyList_GET_SIZE(payloads);
    long octets = 0, dropped = 0;
    for (Py_ssize_t start = 0; start < n; start += MAX_PACKETS) {
        Py_ssize_t end = n - start > MAX_PACKETS ? start + MAX_PACKETS : n;
        int count = 0;
        for (Py_ssize_t i = start; i < end; i++) {
            PyObject *payload = PyList_GET_ITEM(payloads, i);
            if (!PyBytes_Check(payload)) {
                PyErr_SetString(PyExc_TypeError, "send_rtp: a payload is not bytes");
                return -1;
            }
            Py_ssize_t size = PyBytes_GET_SIZE(payload);
            Py_ssize_t total = 12 + ext_len + size;
            if (total > BUFFER_SIZE - MAX_TRAILER) {
                PyErr_Format(PyExc_ValueError, "send_rtp: a packet of %zd bytes is too long",
                             total);
                return -1;
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
                return -1;
            }
            lengths[count++] = length;
            seq = (seq + 1) & 0xFFFF;
        }
        octets += send_batch(fd, addr, addrlen, count, &dropped);
    }
    *octets_out += octets;
    *dropped_out += dropped;
    return 0;
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
    long octets = 0, dropped = 0;
    if (send_frame((int)fd, addr, addrlen, (srtp_protect_fn)(intptr_t)protect_ptr, context,
                   (int)first, (int)pt, seq, (uint32_t)ts, (uint32_t)ssrc, ext, ext_len, payloads,
                   &octets, &dropped) < 0)
        return NULL;
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

/* ---- Sender: one subscriber's RTP state while the fan-out loop runs in C ---------------
 *
 * fan_out(subscribers, start, end, payloads, timestamp, size, ntp) sends one frame to each
 * subscriber in [start, end) whose attribute `fast` is an armed Sender, and returns the
 * indices of the others (not armed, or found unusable: disarmed here) for Python's own
 * per-subscriber path (ForwardTrack.deliver). A Sender is armed by Python once its
 * subscriber is steady (connected, past the keyframe gate, a plain UDP path) with a copy
 * of its sequence number and frame count; while armed it is the one that moves them, and
 * counts what it sent since the last take(), which Python folds into its own counters,
 * aiortc's sender reports and the DTLS transport's statistics.
 *
 * Before each frame it checks what Python's Wire.prepare checks: the DTLS transport's
 * _state is CONNECTED, the asyncio transport is not closing (so the socket, which asyncio
 * closes only after that, is still this one) and holds nothing in user space.
 */
typedef struct {
    PyObject_HEAD
    int armed;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    srtp_protect_fn protect;
    void *context;
    PyObject *keep;      /* the pylibsrtp Session that owns context */
    PyObject *dtls;      /* RTCDtlsTransport */
    PyObject *connected; /* DtlsState.CONNECTED */
    PyObject *transport; /* the asyncio datagram transport of the socket */
    PyObject *ext;       /* bytes: the header-extension block */
    PyObject *history;   /* list (RTX history, a power-of-two size) or None */
    int first, pt;
    uint32_t ssrc, ts_origin;
    long seq;
    long long frames;
    long long packets, octets, wire_octets, refused, sent_frames; /* since take() */
    uint32_t last_ts;
    unsigned long long last_ntp;
} Sender;

static PyObject *str_state, *str_closing, *str_buffer_size, *str_fast;

static int Sender_traverse(Sender *s, visitproc visit, void *arg) {
    Py_VISIT(s->keep);
    Py_VISIT(s->dtls);
    Py_VISIT(s->connected);
    Py_VISIT(s->transport);
    Py_VISIT(s->history);
    return 0;
}

static int Sender_clear(Sender *s) {
    s->armed = 0;
    Py_CLEAR(s->keep);
    Py_CLEAR(s->dtls);
    Py_CLEAR(s->connected);
    Py_CLEAR(s->transport);
    Py_CLEAR(s->ext);
    Py_CLEAR(s->history);
    return 0;
}

static void Sender_dealloc(Sender *s) {
    PyObject_GC_UnTrack(s);
    Sender_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* Sender(fd, sockaddr, protect, context, keep, dtls, connected, transport, first,
 *        payload_type, ssrc, extension, ts_origin, seq, frames, history) */
static int Sender_init(Sender *s, PyObject *args, PyObject *kwds) {
    int fd, first, pt;
    Py_buffer addr;
    PyObject *protect, *context, *keep, *dtls, *connected, *transport, *ext, *history;
    unsigned long ssrc, ts_origin;
    long seq;
    long long frames;
    static char *kwlist[] = {"fd", "sockaddr", "protect", "context", "keep", "dtls",
                             "connected", "transport", "first", "payload_type", "ssrc",
                             "extension", "ts_origin", "seq", "frames", "history", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*OOOOOOiikSklLO", kwlist, &fd, &addr,
                                     &protect, &context, &keep, &dtls, &connected, &transport,
                                     &first, &pt, &ssrc, &ext, &ts_origin, &seq, &frames,
                                     &history))
        return -1;
    if (addr.len < (Py_ssize_t)sizeof(struct sockaddr_in) ||
        addr.len > (Py_ssize_t)sizeof(struct sockaddr_storage)) {
        PyBuffer_Release(&addr);
        PyErr_SetString(PyExc_ValueError, "Sender: sockaddr has the wrong size");
        return -1;
    }
    memcpy(&s->addr, addr.buf, (size_t)addr.len);
    s->addrlen = (socklen_t)addr.len;
    PyBuffer_Release(&addr);
    void *fn = PyLong_AsVoidPtr(protect);
    void *ctx = PyLong_AsVoidPtr(context);
    if (PyErr_Occurred())
        return -1;
    if (fn == NULL || ctx == NULL || fd < 0) {
        PyErr_SetString(PyExc_ValueError, "Sender: no socket or no SRTP context");
        return -1;
    }
    if (history != Py_None) {
        Py_ssize_t size = PyList_Check(history) ? PyList_GET_SIZE(history) : 0;
        if (size == 0 || (size & (size - 1)) != 0) {
            PyErr_SetString(PyExc_ValueError, "Sender: history must be a list of 2**k entries");
            return -1;
        }
    }
    Sender_clear(s);
    s->fd = fd;
    s->protect = (srtp_protect_fn)(intptr_t)fn;
    s->context = ctx;
    Py_INCREF(keep);
    s->keep = keep;
    Py_INCREF(dtls);
    s->dtls = dtls;
    Py_INCREF(connected);
    s->connected = connected;
    Py_INCREF(transport);
    s->transport = transport;
    Py_INCREF(ext);
    s->ext = ext;
    Py_INCREF(history);
    s->history = history;
    s->first = first;
    s->pt = pt;
    s->ssrc = (uint32_t)ssrc;
    s->ts_origin = (uint32_t)ts_origin;
    s->seq = seq & 0xFFFF;
    s->frames = frames;
    s->packets = s->octets = s->wire_octets = s->refused = s->sent_frames = 0;
    s->last_ts = 0;
    s->last_ntp = 0;
    s->armed = 0;
    return 0;
}

/* What Wire.prepare checks, without a call into Python: 1 usable, 0 not. */
/* 1 if obj.name is want (identity), else 0; an attribute that cannot be read is 0. */
static int attr_is(PyObject *obj, PyObject *name, PyObject *want) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = v == want;
    Py_DECREF(v);
    return ok;
}

static int sender_usable(Sender *s) {
    if (s->dtls == NULL || s->transport == NULL)
        return 0;
    if (!attr_is(s->dtls, str_state, s->connected) ||
        !attr_is(s->transport, str_closing, Py_False))
        return 0;
    PyObject *v = PyObject_GetAttr(s->transport, str_buffer_size);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = PyLong_Check(v) && PyLong_AsLong(v) == 0;
    Py_DECREF(v);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return ok;
}

/* One frame on an armed, usable sender: 0, or -1 with an exception set (nothing sent, nothing
 * moved: a payload that is not bytes or too long is refused before its batch goes out). */
static int sender_send(Sender *s, PyObject *payloads, uint32_t timestamp, long size,
                       unsigned long long ntp) {
    Py_ssize_t n = PyList_GET_SIZE(payloads);
    uint32_t ts = s->ts_origin + timestamp;
    long seq = s->seq;
    long octets = 0, dropped = 0;
    if (send_frame(s->fd, (const struct sockaddr *)&s->addr, s->addrlen, s->protect, s->context,
                   s->first, s->pt, seq, ts, s->ssrc, PyBytes_AS_STRING(s->ext),
                   PyBytes_GET_SIZE(s->ext), payloads, &octets, &dropped) < 0)
        return -1;
    s->seq = (seq + n) & 0xFFFF;
    s->packets += n;
    s->octets += size;
    s->wire_octets += octets;
    s->refused += dropped;
    s->sent_frames += 1;
    s->last_ts = ts;
    s->last_ntp = ntp;
    if (s->history != Py_None) {
        /* What RTX can resend: (first sequence number, timestamp, the shared payloads), as
         * Leg.send keeps it. Out of memory here only leaves this frame without RTX. */
        PyObject *entry = Py_BuildValue("(lkO)", seq, (unsigned long)ts, payloads);
        Py_ssize_t mask = PyList_GET_SIZE(s->history) - 1;
        if (entry == NULL) {
            PyErr_Clear();
            Py_INCREF(Py_None);
            entry = Py_None;
        }
        /* PyList_SetItem steals entry and releases what the slot held */
        PyList_SetItem(s->history, (Py_ssize_t)(s->frames & mask), entry);
        s->frames++;
    }
    return 0;
}

static PyObject *Sender_usable(Sender *s, PyObject *unused) {
    (void)unused;
    return PyBool_FromLong(sender_usable(s));
}

/* take() -> (seq, frames, packets, octets, wire_octets, refused, frames_sent, rtp_timestamp,
 * ntp): the sequence number and frame count now, and since the last take(): packets,
 * payload octets (what RTCP sender reports count), octets handed to the kernel, datagrams
 * it refused, frames, and the last frame's RTP and NTP timestamps. */
static PyObject *Sender_take(Sender *s, PyObject *unused) {
    (void)unused;
    PyObject *out =
        Py_BuildValue("(lLLLLLLkK)", s->seq, s->frames, s->packets, s->octets, s->wire_octets,
                      s->refused, s->sent_frames, (unsigned long)s->last_ts, s->last_ntp);
    if (out != NULL)
        s->packets = s->octets = s->wire_octets = s->refused = s->sent_frames = 0;
    return out;
}

static PyObject *Sender_get_armed(Sender *s, void *closure) {
    (void)closure;
    return PyBool_FromLong(s->armed);
}

static int Sender_set_armed(Sender *s, PyObject *value, void *closure) {
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "armed cannot be deleted");
        return -1;
    }
    int v = PyObject_IsTrue(value);
    if (v < 0)
        return -1;
    if (v && s->dtls == NULL) {
        PyErr_SetString(PyExc_ValueError, "Sender: not initialised");
        return -1;
    }
    s->armed = v;
    return 0;
}

static PyObject *Sender_get_seq(Sender *s, void *closure) {
    (void)closure;
    return PyLong_FromLong(s->seq);
}

static PyObject *Sender_get_frames(Sender *s, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(s->frames);
}

static PyGetSetDef Sender_getset[] = {
    {"armed", (getter)Sender_get_armed, (setter)Sender_set_armed,
     "whether fan_out sends for this subscriber", NULL},
    {"seq", (getter)Sender_get_seq, NULL, "the next packet's sequence number", NULL},
    {"frames", (getter)Sender_get_frames, NULL, "frames written to the history", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Sender_methods[] = {
    {"take", (PyCFunction)Sender_take, METH_NOARGS,
     "take() -> (seq, frames, packets, octets, wire_octets, refused, frames_sent, "
     "rtp_timestamp, ntp)"},
    {"usable", (PyCFunction)Sender_usable, METH_NOARGS,
     "usable() -> bool: connected, not closing, nothing buffered"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "confsvc.media._wire.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One subscriber's RTP state while fan_out sends for it.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sender_init,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_traverse = (traverseproc)Sender_traverse,
    .tp_clear = (inquiry)Sender_clear,
    .tp_methods = Sender_methods,
    .tp_getset = Sender_getset,
};

/* fan_out(subscribers, start, end, payloads, timestamp, size, ntp) -> list of the indices
 * in [start, end) it did not send to (Python's path takes those). */
static PyObject *fan_out(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "fan_out takes 7 arguments");
        return NULL;
    }
    PyObject *subs = args[0];
    if (!PyTuple_Check(subs) && !PyList_Check(subs)) {
        PyErr_SetString(PyExc_TypeError, "fan_out: subscribers must be a tuple or a list");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    PyObject *payloads = args[3];
    uint32_t timestamp = (uint32_t)PyLong_AsUnsignedLongMask(args[4]);
    long size = PyLong_AsLong(args[5]);
    unsigned long long ntp = PyLong_AsUnsignedLongLongMask(args[6]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_Check(payloads)) {
        PyErr_SetString(PyExc_TypeError, "fan_out: payloads must be a list of bytes");
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(subs);
    if (start < 0)
        start = 0;
    if (end > n)
        end = n;
    PyObject *rest = PyList_New(0);
    if (rest == NULL)
        return NULL;
    for (Py_ssize_t i = start; i < end; i++) {
        PyObject *sub = PySequence_Fast_GET_ITEM(subs, i);
        PyObject *fast = PyObject_GetAttr(sub, str_fast);
        int done = 0;
        if (fast == NULL) {
            PyErr_Clear();
        } else {
            if (Py_IS_TYPE(fast, &SenderType)) {
                Sender *s = (Sender *)fast;
                if (s->armed) {
                    if (!sender_usable(s)) {
                        s->armed = 0;
                    } else if (sender_send(s, payloads, timestamp, size, ntp) < 0) {
                        PyErr_Clear(); /* Python's path sends it, or says why it cannot */
                        s->armed = 0;
                    } else {
                        done = 1;
                    }
                }
            }
            Py_DECREF(fast);
        }
        if (!done) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(rest, index) < 0) {
                Py_XDECREF(index);
                Py_DECREF(rest);
                return NULL;
            }
            Py_DECREF(index);
        }
    }
    return rest;
}

static PyMethodDef methods[] = {
    {"send_rtp", (PyCFunction)(void (*)(void))send_rtp, METH_FASTCALL,
     "send_rtp(fd, sockaddr, protect, context, first, payload_type, seq, timestamp, ssrc, "
     "extension, payloads) -> (octets, dropped): one frame's RTP packets, protected and sent."},
    {"sockaddr", make_sockaddr, METH_VARARGS,
     "sockaddr(host, port) -> bytes: the struct sockaddr of a numeric address."},
    {"fan_out", (PyCFunction)(void (*)(void))fan_out, METH_FASTCALL,
     "fan_out(subscribers, start, end, payloads, timestamp, size, ntp) -> [index]: one frame "
     "to each subscriber in [start, end) whose `fast` Sender is armed; the others' indices."},
    {"gso", gso, METH_VARARGS,
     "gso([enable]) -> bool: whether UDP_SEGMENT is used (switched off at the first refusal)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "confsvc.media._wire",
    "One subscriber's RTP packets for one frame: headers, SRTP and one system call.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__wire(void) {
    str_state = PyUnicode_InternFromString("_state");
    str_closing = PyUnicode_InternFromString("_closing");
    str_buffer_size = PyUnicode_InternFromString("_buffer_size");
    str_fast = PyUnicode_InternFromString("fast");
    if (str_state == NULL || str_closing == NULL || str_buffer_size == NULL || str_fast == NULL)
        return NULL;
    if (PyType_Ready(&SenderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SenderType);
    if (PyModule_AddObject(m, "Sender", (PyObject *)&SenderType) < 0) {
        Py_DECREF(&SenderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
