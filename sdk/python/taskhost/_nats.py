"""A small NATS client: what a task needs to publish its events on the hub.

It speaks the documented text protocol
(https://docs.nats.io/reference/reference-protocols/nats-protocol):
INFO and CONNECT (token auth, headers), PING/PONG, SUB/UNSUB, HPUB with
headers, MSG/HMSG and -ERR; TLS when the hub gives a CA (the `ssl` module
is imported only then). A reader thread takes what the server sends and
hands each message to its subscription's callback. When the connection
drops, the client connects again every 50 ms, forever, and subscribes again,
except when the server refuses its credentials twice in a row (as nats.go
does): then the connection is closed for good.
"""

import select
import socket
import threading
import time

__all__ = ["Conn", "NatsError", "ConnectError", "NotConnected", "Closed", "MaxPayload"]

RECONNECT_WAIT = 0.05
CONNECT_TIMEOUT = 2.0
WRITE_TIMEOUT = 10.0

AUTH_VIOLATION = "authorization violation"


class NatsError(Exception):
    """An error of the NATS connection; str() is worded as nats.go's."""


class ConnectError(NatsError):
    """Connecting (the first time) failed."""


class NotConnected(NatsError):
    """The connection is down for now: it is being made again."""


class Closed(NatsError):
    """The connection is closed for good."""


class MaxPayload(NatsError):
    """A message larger than the server takes."""


class BadCA(NatsError):
    """The CA given holds no certificate."""


BAD_CA = "the hub's CA (tls_ca_pem) holds no PEM certificate"


def _split_url(url):
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "nats", url
    rest = rest.rsplit("@", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return scheme.lower(), host, int(port or 4222)


def tls_context(ca_pem):
    """An ssl.SSLContext that trusts ca_pem alone (TLS 1.2 or later), or
    BadCA when it holds no certificate."""
    import ssl

    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise BadCA(BAD_CA)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError):
        raise BadCA(BAD_CA) from None
    return ctx


class _Link:
    """One TCP (or TLS) connection to the server, and its read buffer."""

    __slots__ = ("sock", "tls", "io", "buf")

    def __init__(self, sock, tls):
        self.sock = sock
        self.tls = tls
        # An SSL socket must not be read and written at once from two
        # threads: both go under io then. A plain socket needs no lock.
        self.io = threading.Lock() if tls else None
        self.buf = bytearray()

    def send(self, data):
        if self.io is None:
            self.sock.sendall(data)
        else:
            with self.io:
                self.sock.sendall(data)

    def recv(self):
        """Reads what has come (blocking until something has); b"" at the end."""
        if self.io is None:
            return self.sock.recv(1 << 16)
        while True:
            if not self.sock.pending():
                select.select([self.sock], [], [])
            with self.io:
                self.sock.setblocking(False)
                try:
                    return self.sock.recv(1 << 16)
                except (BlockingIOError, _ssl_want()):
                    continue
                finally:
                    self.sock.settimeout(WRITE_TIMEOUT)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _ssl_want():
    import ssl

    return ssl.SSLWantReadError


class Conn:
    """A connection to a NATS server; its methods are safe for concurrent use.

    on_reconnect() is called (on the reader thread) each time the
    connection is back, subscriptions made again; on_closed() once when it
    is closed for good. gen counts the connections made: a message
    published on generation g may be lost if gen is no longer g.
    """

    def __init__(self, url, token="", name="", ca_pem="", on_reconnect=None, on_closed=None):
        self.url = url
        self.token = token
        self.name = name
        self.scheme, self.host, self.port = _split_url(url)
        self.ssl_ctx = tls_context(ca_pem) if ca_pem else None
        self.on_reconnect = on_reconnect
        self.on_closed = on_closed
        self.gen = 0
        self.last_error = None  # the server's last -ERR, or the last failure
        self.max_payload = 1 << 20
        self._link = None
        self._mu = threading.Lock()  # guards _link, _subs, _closed
        self._subs = {}  # sid -> (subject, callback)
        self._sid = 0
        self._closed = False
        self._auth_errors = 0
        self._reader = None
        self._ready = None

    # Connecting.

    def connect(self):
        """Connects, or raises ConnectError with why; then starts the reader."""
        try:
            self._link = self._dial()
        except Exception as e:
            raise ConnectError(_connect_error(self.url, self.ssl_ctx is not None, e)) from None
        self.gen = 1
        self._reader = threading.Thread(target=self._read_loop, name="taskhost-nats", daemon=True)
        self._reader.start()

    def _dial(self):
        """Opens a link and says CONNECT; returns it once the server
        answered PONG to the PING after it (credentials taken)."""
        sock = socket.create_connection((self.host, self.port), CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(sock, False)
        try:
            line = self._line(link)
            if not line.startswith(b"INFO "):
                raise NatsError("nats: expected INFO from the server, got %r" % line[:80])
            import json

            info = json.loads(line[5:])
            self.max_payload = info.get("max_payload", self.max_payload)
            want_tls = self.ssl_ctx is not None or self.scheme == "tls" or info.get("tls_required")
            if want_tls:
                ctx = self.ssl_ctx
                if ctx is None:
                    import ssl

                    ctx = ssl.create_default_context()
                sock.settimeout(CONNECT_TIMEOUT)
                sock = ctx.wrap_socket(sock, server_hostname=self.host)
                link = _Link(sock, True)
                link.buf = bytearray()
            opts = {"verbose": False, "pedantic": False, "tls_required": bool(want_tls), "name": self.name,
                    "lang": "python", "version": "0.1.0", "protocol": 1, "headers": True, "no_responders": True}
            if self.token:
                opts["auth_token"] = self.token
            link.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
            while True:
                line = self._line(link)
                if line == b"PONG":
                    break
                if line.startswith(b"-ERR"):
                    raise NatsError(_err_text(line))
                # +OK, INFO, PING before our PONG: nothing to do yet.
                if line == b"PING":
                    link.send(b"PONG\r\n")
            sock.settimeout(WRITE_TIMEOUT)
            return link
        except BaseException:
            link.close()
            raise

    def _line(self, link):
        """Reads one control line (during the handshake)."""
        while True:
            i = link.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(link.buf[:i])
                del link.buf[: i + 2]
                return line
            data = link.sock.recv(1 << 16)
            if not data:
                raise NatsError("nats: connection closed by the server during the handshake")
            link.buf += data

    # Using it.

    def subscribe(self, subject, callback):
        """Subscribes; callback(subject, reply, headers, payload) is called
        on the reader thread for each message (headers: the raw header
        block, b"" for none)."""
        with self._mu:
            self._sid += 1
            sid = self._sid
            self._subs[sid] = (subject, callback)
            link = self._link
        if link is not None:
            try:
                link.send(b"SUB %s %d\r\n" % (subject.encode(), sid))
            except OSError:
                self._broken(link)
        return sid

    def unsubscribe(self, sid):
        with self._mu:
            self._subs.pop(sid, None)
            link = self._link
        if link is not None:
            try:
                link.send(b"UNSUB %d\r\n" % sid)
            except OSError:
                self._broken(link)

    def publish(self, subject, payload, reply="", msg_id=""):
        """Publishes payload (with a Nats-Msg-Id header when msg_id is
        given) and returns the generation it went on. Raises NotConnected
        while the connection is being made again, Closed once it is closed
        for good, MaxPayload for a message larger than the server takes."""
        if msg_id:
            hdr = b"NATS/1.0\r\nNats-Msg-Id: " + msg_id.encode() + b"\r\n\r\n"
            size = len(hdr) + len(payload)
            if size > self.max_payload:
                raise MaxPayload("nats: maximum payload exceeded")
            head = b"HPUB %s %s %d %d\r\n" % (subject.encode(), reply.encode(), len(hdr), size)
            data = b"".join((head, hdr, payload, b"\r\n"))
        else:
            if len(payload) > self.max_payload:
                raise MaxPayload("nats: maximum payload exceeded")
            head = b"PUB %s %s %d\r\n" % (subject.encode(), reply.encode(), len(payload))
            data = b"".join((head, payload, b"\r\n"))
        link, gen = self._link, self.gen
        if link is None:
            if self._closed:
                raise Closed(self._closed_text())
            raise NotConnected("nats: connection lost: reconnecting")
        try:
            link.send(data)
        except OSError as e:
            self._broken(link)
            raise NotConnected("nats: connection lost: %s" % e) from None
        return gen

    @property
    def closed(self):
        return self._closed

    def _closed_text(self):
        if self.last_error:
            return "nats: connection closed: " + self.last_error
        return "nats: connection closed"

    def close(self):
        """Closes the connection for good (on_closed is not called)."""
        with self._mu:
            if self._closed:
                return
            self._closed = True
            link, self._link = self._link, None
        if link is not None:
            link.close()

    # The reader thread.

    def _broken(self, link):
        """The link failed (a write saw it): close it, the reader reconnects."""
        try:
            link.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_loop(self):
        link = self._link
        while True:
            try:
                self._serve(link)
            except Exception:
                pass  # the link broke (or a callback failed): connect again
            with self._mu:
                if self._link is link:
                    self._link = None
                closed = self._closed
            try:
                link.close()
            except OSError:
                pass
            if closed:
                return
            link = self._reconnect()
            if link is None:
                return

    def _reconnect(self):
        """Connects again every RECONNECT_WAIT until it works; None when
        the server refused the credentials twice (closed) or close()."""
        while True:
            time.sleep(RECONNECT_WAIT)
            if self._closed:
                return None
            try:
                link = self._dial()
            except Exception as e:
                text = _err_text_of(e)
                if AUTH_VIOLATION in text.lower():
                    self.last_error = "nats: authorization violation"
                    self._auth_errors += 1
                    if self._auth_errors >= 2:
                        return self._close_for_good()
                continue
            with self._mu:
                if self._closed:
                    link.close()
                    return None
                subs = list(self._subs.items())
                self._link = link
            try:
                if subs:
                    link.send(b"".join(b"SUB %s %d\r\n" % (s.encode(), sid) for sid, (s, _) in subs))
            except OSError:
                continue
            self._auth_errors = 0
            self.gen += 1
            if self.on_reconnect is not None:
                self.on_reconnect()
            return link

    def _close_for_good(self):
        with self._mu:
            already = self._closed
            self._closed = True
            self._link = None
        if not already and self.on_closed is not None:
            self.on_closed()
        return None

    def _serve(self, link):
        """Reads and dispatches what the server sends until the link ends."""
        buf = link.buf
        subs = self._subs
        while True:
            i = buf.find(b"\r\n")
            if i < 0:
                data = link.recv()
                if not data:
                    return
                buf += data
                continue
            op = buf[:4]
            if op == b"MSG " or op == b"HMSG":
                args = bytes(buf[4 if op == b"MSG " else 5 : i]).split()
                if op == b"MSG ":
                    hlen = 0
                    size = int(args[-1])
                else:
                    hlen = int(args[-2])
                    size = int(args[-1])
                    args = args[:-1]
                reply = args[2].decode() if len(args) == 4 else ""
                end = i + 2 + size + 2
                while len(buf) < end:
                    data = link.recv()
                    if not data:
                        return
                    buf += data
                body = bytes(buf[i + 2 : i + 2 + size])
                del buf[:end]
                sub = subs.get(int(args[1]))
                if sub is not None:
                    sub[1](args[0].decode(), reply, body[:hlen], body[hlen:])
                continue
            line = bytes(buf[:i])
            del buf[: i + 2]
            if line == b"PING":
                link.send(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                text = _err_text(line)
                self.last_error = text
                if AUTH_VIOLATION in text.lower():
                    self._auth_errors += 1
                    self.last_error = "nats: authorization violation"
                    if self._auth_errors >= 2:
                        self._close_for_good()
                        return
                # Permissions violations leave the connection open; the
                # others are followed by the server closing it.
            # PONG, +OK, INFO: nothing to do.


def _err_text(line):
    """nats.go's wording of a -ERR line: "nats: <error>", unquoted."""
    text = line[4:].decode("utf-8", "replace").strip().strip("'")
    return "nats: " + text.lower() if text.lower() == AUTH_VIOLATION else "nats: " + text


def _err_text_of(e):
    if isinstance(e, NatsError):
        return str(e)
    return "%s" % (e.strerror or e) if isinstance(e, OSError) and e.strerror else str(e)


def _connect_error(url, with_ca, e):
    """Why connecting to the hub at url failed, worded as Go's emit.Dial."""
    text = _err_text_of(e)
    if with_ca and type(e).__name__ == "SSLCertVerificationError":
        return ("connect to the hub at %s over TLS: %s (the hub's certificate is not signed by the CA the task was "
                "given, or does not name the hub's address)" % (url, text))
    return "connect to the hub at %s: %s" % (url, text)

