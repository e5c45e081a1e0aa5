"""An independent TLS peer (Python's ssl module, i.e. OpenSSL) for tests/tls.rs.

server: listen on 127.0.0.1:0, print "port N", serve ONE connection, then exit.
client: connect to 127.0.0.1:PORT.
After the handshake it prints "sni NAME", "alpn P", "peer CN" (what this side saw),
then runs the action:
  echo        send back what arrives until close_notify, then close_notify
  say TEXT    send TEXT, then print what arrives until EOF ("got ...")
  ask TEXT    send TEXT, print as many bytes as come back ("got ..."), close_notify
  hear        print what arrives until close_notify ("got ..."), reply "bye" after EOF
  both N      send N pseudo-random bytes while reading everything; print
              "sent SHA256" and "recv SHA256 LEN"
  plainclose  send "hi" and close the socket without close_notify
  resume      (client, against an echo server) connect twice, the second time with
              the first session; print "cipher NAME" and "resumed no|yes" for each
Every socket operation has a timeout; errors print "error ..." and exit 1.
"""

import argparse
import hashlib
import random
import select
import socket
import ssl
import sys


def out(*a):
    print(*a, flush=True)


def context(args, server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.cafile:
        ctx.load_verify_locations(args.cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif not server:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    return ctx


def report(conn, sni):
    out("sni", sni or "-")
    out("alpn", conn.selected_alpn_protocol() or "-")
    cert = conn.getpeercert()
    cn = "-"
    if cert:
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
    out("peer", cn)


def read_all(conn):
    data = bytearray()
    while True:
        try:
            b = conn.recv(65536)
        except ssl.SSLEOFError:
            out("truncated")
            break
        if not b:
            break
        data += b
    return bytes(data)


def both(conn, n, timeout):
    """Send n pseudo-random bytes while reading everything, on one thread: an OpenSSL
    connection must not be read and written from two threads at once."""
    rng = random.Random(7)
    sent, recv = hashlib.sha256(), hashlib.sha256()
    total, left, pending, reading = 0, n, b"", True
    conn.setblocking(False)
    while reading or pending or left:
        if not pending and left:
            pending = memoryview(rng.randbytes(min(left, 1 << 20)))
            sent.update(pending)
            left -= len(pending)
        if conn.pending() == 0:
            r, w, _ = select.select([conn] if reading else [], [conn] if pending else [], [], timeout)
            if not r and not w:
                raise TimeoutError("both: nothing moved")
        while reading:
            try:
                b = conn.recv(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not b:
                reading = False
            recv.update(b)
            total += len(b)
        while pending:
            try:
                k = conn.send(pending[: 1 << 16])
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            pending = pending[k:]
    out("sent", sent.hexdigest())
    out("recv", recv.hexdigest(), total)
    conn.setblocking(True)
    conn.settimeout(timeout)
    conn.unwrap()


def act(conn, args):
    if args.action == "echo":
        while True:
            b = conn.recv(65536)
            if not b:
                break
            conn.sendall(b)
        conn.unwrap()
    elif args.action == "say":
        conn.sendall(args.arg.encode())
        got = read_all(conn)
        out("got", got.decode(errors="replace").strip())
    elif args.action == "ask":
        want = args.arg.encode()
        conn.sendall(want)
        got = bytearray()
        while len(got) < len(want):
            b = conn.recv(65536)
            if not b:
                break
            got += b
        out("got", got.decode(errors="replace").strip())
        conn.unwrap()
    elif args.action == "hear":
        got = read_all(conn)
        out("got", got.decode(errors="replace").strip())
        conn.sendall(b"bye\n")
        conn.unwrap()
    elif args.action == "both":
        both(conn, int(args.arg), args.timeout)
    elif args.action == "resume":
        session = None
        for word in ("one\n", "two\n"):
            if session:
                raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
                conn = conn.context.wrap_socket(raw, server_hostname=args.sni, session=session)
            conn.sendall(word.encode())
            got = b""
            # The echo comes after the server's session tickets: once it is here, the
            # session can be resumed.
            while len(got) < len(word):
                b = conn.recv(64)
                if not b:
                    break
                got += b
            out("cipher", conn.cipher()[0])
            out("resumed", "yes" if conn.session_reused else "no")
            session = conn.session
            conn.unwrap()
            conn.close()
    elif args.action == "plainclose":
        conn.sendall(b"hi\n")
        # SSLSocket.shutdown drops the TLS state first: a FIN with no close_notify.
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("action")
    p.add_argument("arg", nargs="?", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--cafile")
    p.add_argument("--alpn")
    p.add_argument("--sni")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    try:
        if args.role == "server":
            ctx = context(args, True)
            seen = {}
            ctx.sni_callback = lambda s, name, c: seen.__setitem__("sni", name)
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(1)
            ls.settimeout(args.timeout)
            out("port", ls.getsockname()[1])
            raw, _ = ls.accept()
            raw.settimeout(args.timeout)
            conn = ctx.wrap_socket(raw, server_side=True)
            report(conn, seen.get("sni"))
        else:
            ctx = context(args, False)
            raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
            conn = ctx.wrap_socket(raw, server_hostname=args.sni)
            report(conn, args.sni)
        act(conn, args)
    except Exception as e:  # one line for the test to show
        out("error", type(e).__name__, e)
        sys.exit(1)


main()
