#!/usr/bin/python3
"""Security end to end (issue 14): TLS, ASCII auth, SASL and the refused
flags, through the real server and real clients.

  security.py LARDER_BIN

TLS: certificates made here with the openssl CLI; pymemcache with an ssl
context and `openssl s_client` as clients; verify modes, a bad certificate,
refresh_certs, a notls listener.  Auth: plaintext and yescrypt entries
(written by `larder --hash-password`), wrong passwords, the growing delay
(asserted as lower bounds only: a slow machine makes them longer, never
shorter), admin commands refused before login.  SASL: PLAIN over the binary
protocol against a sasldb made by saslpasswd2.  Every wait is capped by
LARDER_TEST_WAIT (60 s), never a fixed sleep.
"""
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

from pymemcache.client.base import Client

BIN = os.path.abspath(sys.argv[1])
WAIT = float(os.environ.get("LARDER_TEST_WAIT", "60"))
TMP = tempfile.mkdtemp(prefix="larder-sec-")
failures = []
procs = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else "  (%s)" % detail))
    if not ok:
        failures.append(name)


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, cwd=TMP,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(*args, env=None):
    port = free_port()
    root = ["-u", "root"] if os.getuid() == 0 else []
    p = subprocess.Popen([BIN, "-p", str(port), "-U", "0", "-l", "127.0.0.1"] + root + list(args),
                         env=env, stderr=subprocess.PIPE)
    procs.append(p)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError("server exited: %s" % p.stderr.read().decode())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not start")


def stop(p):
    """SIGTERM; the server must exit 0 (under ASan: no leak, no error)."""
    p.terminate()
    rc = p.wait(WAIT)
    err = p.stderr.read().decode(errors="replace")
    check("server exits cleanly", rc == 0, "rc %d: %s" % (rc, err[-2000:]))


def refused(args, want_rc, want_msg):
    p = subprocess.run([BIN, "-p", str(free_port())] + args, stderr=subprocess.PIPE,
                       timeout=WAIT, cwd=TMP)
    err = p.stderr.decode()
    check("refused: %s" % " ".join(args), p.returncode == want_rc and want_msg in err,
          "rc %d, %r" % (p.returncode, err))


def raw(port, data, until=b"\r\n", tls=None, timeout=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout or WAIT)
    if tls:
        s = tls.wrap_socket(s)
    s.sendall(data)
    buf = b""
    while not buf.endswith(until):
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf


class Line:
    """A text connection read line by line (src: the local address)."""

    def __init__(self, port, tls=None, src=None):
        s = socket.create_connection(("127.0.0.1", port), timeout=WAIT,
                                     source_address=(src, 0) if src else None)
        self.s = tls.wrap_socket(s) if tls else s
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return self.buf
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def ask(self, data):
        self.send(data)
        return self.line()


def stats(conn, sub=b""):
    conn.send(b"stats" + (b" " + sub if sub else b"") + b"\r\n")
    out = {}
    while True:
        l = conn.line()
        if l == b"END" or not l:
            return out
        _, k, v = l.decode().split(" ", 2)
        out[k] = v


# --- certificates ---------------------------------------------------------------

def make_certs():
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
       "-subj /CN=larder-test-ca")
    for n in ("server", "client"):
        sh("openssl req -newkey rsa:2048 -nodes -keyout %s.key -out %s.csr -subj /CN=localhost"
           % (n, n))
        sh("openssl x509 -req -in %s.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out %s.crt "
           "-days 2" % (n, n))
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.crt -days 2 "
       "-subj /OU=OTHER/CN=localhost")
    sh("openssl genpkey -algorithm RSA -out other.key")


def ctx(cert=None, verify_server=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    if verify_server:
        c.load_verify_locations(os.path.join(TMP, "ca.crt"))
    else:
        c.verify_mode = ssl.CERT_NONE
    if cert:
        c.load_cert_chain(os.path.join(TMP, cert + ".crt"), os.path.join(TMP, cert + ".key"))
    return c


def tls_args(*extra):
    opts = "ssl_chain_cert=%s/server.crt,ssl_key=%s/server.key" % (TMP, TMP)
    return ["-Z", "-o", ",".join([opts] + list(extra))]


def test_tls():
    notls = free_port()
    p, port = start(*tls_args(), "-l", "notls:127.0.0.1:%d" % notls)
    c = Client(("127.0.0.1", port), tls_context=ctx(verify_server=True), timeout=WAIT)
    big = b"v" * 300000
    c.set("k", "hello")
    c.set("big", big)
    check("tls: pymemcache get", c.get("k") == b"hello")
    check("tls: 300 KB value both ways", c.get("big") == big)
    many = c.get_many(["k", "big", "nope"])
    check("tls: get_many", many == {"k": b"hello", "big": big}, str(many.keys()))
    # many small requests in one write: the later ones sit decrypted in
    # OpenSSL after the first read; a server trusting epoll would stall
    batch = b"".join(b"get k\r\n" for _ in range(500))
    conn = Line(port, tls=ctx())
    conn.send(batch + b"version\r\n")
    got = 0
    while True:
        l = conn.line()
        if l.startswith(b"VERSION") or not l:
            break
        got += l == b"hello"
    check("tls: 500 pipelined gets in one write all answered", got == 500, got)
    s = subprocess.run(["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % port],
                       input=b"get k\r\nquit\r\n", stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=WAIT)
    check("tls: openssl s_client", b"VALUE k 0 5\r\nhello\r\nEND" in s.stdout, s.stdout)
    check("tls: notls listener speaks plain text",
          raw(notls, b"get k\r\n", until=b"END\r\n") == b"VALUE k 0 5\r\nhello\r\nEND\r\n")
    plain = raw(port, b"get k\r\n", until=b"\r\n\r\n", timeout=WAIT)
    check("tls: plaintext on the TLS port gets no data", b"hello" not in plain, plain)
    st = stats(conn)
    check("tls: ssl_handshake_errors counts the plaintext client",
          st.get("ssl_handshake_errors") == "1", st.get("ssl_handshake_errors"))
    check("tls: time_since_server_cert_refresh", "time_since_server_cert_refresh" in st)
    ss = stats(conn, b"settings")
    check("tls: stats settings", ss.get("ssl_enabled") == "yes" and
          ss.get("ssl_chain_cert") == TMP + "/server.crt" and ss.get("ssl_min_version") ==
          "tlsv1.2" and ss.get("ssl_verify_mode") == "0", ss)
    # refresh_certs: a new certificate for new connections, a broken one refused
    sh("cp server.crt keep.crt && cp server.key keep.key && cp self.crt server.crt && "
       "cp self.key server.key")
    check("tls: refresh_certs", conn.ask(b"refresh_certs\r\n") == b"OK")
    s2 = ctx().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=WAIT))
    subj = dict(x[0] for x in ssl._ssl._test_decode_cert(write_peer(s2))["subject"])
    check("tls: new connections get the new certificate", subj.get("organizationalUnitName") ==
          "OTHER", subj)
    s2.close()
    sh("cp keep.crt server.crt")  # no longer matches the key
    r = conn.ask(b"refresh_certs\r\n")
    check("tls: a broken refresh is refused with a reason", r.startswith(b"Error"), r)
    check("tls: still serving after a refused refresh", c.get("k") == b"hello")
    sh("cp keep.crt server.crt && cp keep.key server.key")
    conn.s.close()
    c.close()
    stop(p)


def write_peer(s):
    path = os.path.join(TMP, "peer.pem")
    with open(path, "w") as f:
        f.write(ssl.DER_cert_to_PEM_cert(s.getpeercert(binary_form=True)))
    return path


def test_verify_modes():
    p, port = start(*tls_args("ssl_verify_mode=2", "ssl_ca_cert=%s/ca.crt" % TMP))
    ok = Client(("127.0.0.1", port), tls_context=ctx("client"), timeout=WAIT)
    ok.set("a", "1")
    check("verify 2: a client certificate from the CA is accepted", ok.get("a") == b"1")
    for who, cert in (("no certificate", None), ("another CA's certificate", "self")):
        try:
            bad = Client(("127.0.0.1", port), tls_context=ctx(cert), timeout=WAIT)
            bad.get("a")
            check("verify 2: %s refused" % who, False, "served")
        except (ssl.SSLError, OSError, Exception) as e:
            check("verify 2: %s refused" % who, True)
    conn = Line(port, tls=ctx("client"))
    st = stats(conn)
    check("verify 2: refused handshakes counted", int(st["ssl_handshake_errors"]) >= 2, st)
    ss = stats(conn, b"settings")
    check("verify 2: stats settings shows OpenSSL's flags (3)", ss["ssl_verify_mode"] == "3")
    conn.s.close()
    stop(p)
    p, port = start(*tls_args("ssl_verify_mode=1", "ssl_ca_cert=%s/ca.crt" % TMP))
    anon = Client(("127.0.0.1", port), tls_context=ctx(), timeout=WAIT)
    anon.set("a", "1")
    check("verify 1: an anonymous client is served", anon.get("a") == b"1")
    stop(p)
    p, port = start(*tls_args("ssl_min_version=3"))
    old = ctx()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        Client(("127.0.0.1", port), tls_context=old, timeout=WAIT).get("a")
        check("ssl_min_version=3: a TLS 1.2 client is refused", False, "served")
    except Exception:
        check("ssl_min_version=3: a TLS 1.2 client is refused", True)
    stop(p)


def test_refused():
    refused(["-Z"], 64, "Error loading the certificate chain")
    refused(["-Z", "-o", "ssl_chain_cert=%s/server.crt,ssl_key=%s/other.key" % (TMP, TMP)], 64,
            "Error")
    refused(["-Z", "-o", "ssl_chain_cert=%s/missing.crt" % TMP], 64, "certificate chain")
    refused(tls_args("ssl_ciphers=NOPE"), 64, "Error setting the provided cipher(s)")
    refused(["-o", "ssl_unknown=1"], 1, "refusing to start")
    refused(["-o", "ssl_verify_mode=4"], 1, "Invalid ssl_verify_mode")
    refused(["-o", "ssl_min_version=9"], 1, "Invalid ssl_min_version")
    refused(["-l", "notls:127.0.0.1:1"], 1, "'notls' option is valid only when SSL is enabled")
    refused(["-S", "-B", "ascii"], 64, "You cannot allow the ASCII protocol while using SASL")
    refused(["-S", "-B", "auto"], 64, "You cannot allow the ASCII protocol while using SASL")
    refused(["-S", "-U", "1234"], 64, "Cannot enable UDP while using binary SASL")
    refused(["-Y", "x", "-B", "binary"], 64, "You cannot allow the BINARY protocol")
    refused(["-Y", "x", "-U", "1234"], 64, "Cannot use UDP with ascii authentication")
    refused(["-Y", TMP + "/missing"], 1, "Could not open authfile")
    with open(os.path.join(TMP, "malformed"), "w") as f:
        f.write("foo:bar\nnocolon\n")
    refused(["-Y", TMP + "/malformed"], 1, "malformed entry")


def test_auth():
    h = subprocess.run([BIN, "--hash-password", "alice"], input=b"correct-horse\n",
                       stdout=subprocess.PIPE, timeout=WAIT).stdout.decode().strip()
    check("--hash-password writes a yescrypt line", h.startswith("alice:$y$"), h)
    path = os.path.join(TMP, "authfile")
    with open(path, "w") as f:
        f.write("foo:bar\n%s\n" % h)
    p, port = start("-Y", path)
    c = Line(port)
    check("auth: get before login", c.ask(b"get foo\r\n") == b"CLIENT_ERROR unauthenticated")
    check("auth: meta before login", c.ask(b"mg foo v\r\n") == b"CLIENT_ERROR unauthenticated")
    for cmd in (b"flush_all", b"verbosity 1", b"stats reset", b"stats", b"shutdown",
                b"cache_memlimit 100", b"lru_crawler metadump all", b"slabs automove 1",
                b"refresh_certs"):
        r = c.ask(cmd + b"\r\n")
        check("auth: %s refused before login" % cmd.decode(), r == b"CLIENT_ERROR unauthenticated", r)
    check("auth: a set that is no login", c.ask(b"set foo 0 0 2\r\nhi\r\n") ==
          b"CLIENT_ERROR bad authentication token format")
    # the failure brake: reply n arrives no sooner than 100 ms * 2^(n-1)
    replies, spent = set(), []
    tries = [(b"foo", b"bab"), (b"alice", b"wrong"), (b"nobody", b"x"), (b"foo", b"barr"),
             (b"alice", b"Correct"), (b"foo", b"baz")]
    for i, (user, pw) in enumerate(tries):
        val = user + b" " + pw
        t0 = time.monotonic()
        c.send(b"set x 0 0 %d\r\n%s\r\n" % (len(val), val))
        if i == len(tries) - 1:
            # once the server has counted that failure (seen from another
            # address, 127.0.0.2, which is not slowed), a connection from
            # the slowed address fails unchecked even with the right password
            watch = Line(port, src="127.0.0.2")
            check("auth: another address is not slowed",
                  watch.ask(b"set x 0 0 7\r\nfoo bar\r\n") == b"STORED")
            deadline = time.monotonic() + WAIT
            while stats(watch, b"larder")["auth_delayed"] != "6" and time.monotonic() < deadline:
                pass
            watch.s.close()
            other = Line(port)
            r = other.ask(b"set x 0 0 7\r\nfoo bar\r\n")
            check("auth: right password refused while the address is slowed",
                  r == b"CLIENT_ERROR authentication failure", r)
            other.s.close()
        replies.add(c.line())
        spent.append(time.monotonic() - t0)
    check("auth: every failure gets the same reply",
          replies == {b"CLIENT_ERROR authentication failure"}, replies)
    want = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
    check("auth: the delay grows with each failure (lower bounds)",
          all(s >= w * 0.9 for s, w in zip(spent, want)), ["%.3f" % s for s in spent])
    check("auth: server alive", p.poll() is None, p.poll())
    check("auth: hashed entry logs in", c.ask(b"set x 0 0 19\r\nalice correct-horse\r\n") ==
          b"STORED")
    check("auth: after login, commands run", c.ask(b"set k 0 0 2\r\nhi\r\n") == b"STORED")
    check("auth: after login, flush_all runs", c.ask(b"flush_all\r\n") == b"OK")
    st = stats(c)
    check("auth: stats", st["auth_cmds"] == "9" and st["auth_errors"] == "7", st)
    sl = stats(c, b"larder")
    check("auth: stats larder", sl["auth_delayed"] == "7" and sl["auth_throttled"] == "1", sl)
    ss = stats(c, b"settings")
    check("auth: stats settings auth_enabled_ascii", ss.get("auth_enabled_ascii") == path)
    c2 = Line(port)
    check("auth: plaintext entry logs in", c2.ask(b"set x 0 0 7\r\nfoo bar\r\n") == b"STORED")
    c2.s.close()
    # SIGHUP re-reads the file
    with open(path, "w") as f:
        f.write("foo:newpass\n")
    p.send_signal(1)
    deadline = time.monotonic() + WAIT
    r = b""
    while time.monotonic() < deadline:
        c3 = Line(port)
        r = c3.ask(b"set x 0 0 11\r\nfoo newpass\r\n")
        c3.s.close()
        if r == b"STORED":
            break
        time.sleep(AUTH_WAIT)
    check("auth: SIGHUP reloads the authfile", r == b"STORED", r)
    c.s.close()
    stop(p)


AUTH_WAIT = 0.2


def bin_req(op, key=b"", val=b"", extras=b""):
    body = len(extras) + len(key) + len(val)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, body, 0, 0) + \
        extras + key + val


def bin_read(s):
    hdr = b""
    while len(hdr) < 24:
        chunk = s.recv(24 - len(hdr))
        if not chunk:
            return None, b""
        hdr += chunk
    _, op, klen, elen, _, status, body, _, _ = struct.unpack(">BBHBBHIIQ", hdr)
    data = b""
    while len(data) < body:
        data += s.recv(body - len(data))
    return status, data[elen + klen:]


def test_sasl():
    conf = os.path.join(TMP, "sasl")
    os.makedirs(conf, exist_ok=True)
    db = os.path.join(TMP, "sasldb")
    subprocess.run("echo testpass | saslpasswd2 -a memcached -c -p -f %s testuser" % db,
                   shell=True, check=True)
    with open(os.path.join(conf, "memcached.conf"), "w") as f:
        f.write("mech_list: plain cram-md5\nsasldb_path: %s\n" % db)
    env = dict(os.environ, SASL_CONF_PATH=conf)
    p, port = start("-S", "-B", "binary", env=env)
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall(bin_req(0x20))
    st, mechs = bin_read(s)
    check("sasl: list mechanisms", st == 0 and b"PLAIN" in mechs and b"CRAM-MD5" in mechs, mechs)
    s.sendall(bin_req(0x21, b"PLAIN", b"\0testuser\0nope"))
    st, _ = bin_read(s)
    check("sasl: wrong password is AUTH_ERROR", st == 0x20, st)
    # the brake: the next failures' replies come no sooner than 200, 400 ms
    for want in (0.2, 0.4):
        t0 = time.monotonic()
        s.sendall(bin_req(0x21, b"PLAIN", b"\0testuser\0nope"))
        st, _ = bin_read(s)
        spent = time.monotonic() - t0
        check("sasl: failure delayed >= %.1f s" % want, st == 0x20 and spent >= want * 0.9,
              (st, spent))
    s.sendall(bin_req(0x21, b"PLAIN", b"\0testuser\0testpass"))
    st, msg = bin_read(s)
    check("sasl: PLAIN logs in", st == 0 and msg == b"Authenticated", (st, msg))
    s.sendall(bin_req(0x01, b"k", b"v", extras=b"\0" * 8))
    st, _ = bin_read(s)
    check("sasl: set after login", st == 0, st)
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall(bin_req(0x00, b"k"))
    st, _ = bin_read(s)
    check("sasl: get before login is AUTH_ERROR", st == 0x20, st)
    check("sasl: and the connection is closed", bin_read(s)[0] is None)
    s.close()
    # php-memcached, as the WordPress drop-in's library: setSaslAuthData
    php = """<?php
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->addServer('127.0.0.1', %d);
$m->setSaslAuthData('testuser', '%s');
echo $m->set('wp', 'hello') ? $m->get('wp') : $m->getResultMessage();
"""
    for pw, want in (("testpass", "hello"), ("wrong", "AUTHENTICATION FAILURE")):
        script = os.path.join(TMP, "sasl.php")
        with open(script, "w") as f:
            f.write(php % (port, pw))
        out = subprocess.run(["php", script], stdout=subprocess.PIPE, timeout=WAIT)
        check("sasl: php-memcached setSaslAuthData (%s)" % pw, out.stdout.decode() == want,
              out.stdout)
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall(bin_req(0x08))  # flush
    st, _ = bin_read(s)
    check("sasl: flush before login refused", st == 0x20, st)
    s.close()
    stop(p)


def main():
    make_certs()
    for t in (test_refused, test_tls, test_verify_modes, test_auth, test_sasl):
        try:
            t()
        except Exception as e:  # a crash in one group must not hide the others
            check(t.__name__, False, repr(e))
    for p in procs:
        if p.poll() is None:
            p.kill()
    subprocess.run(["rm", "-rf", TMP])
    print("security: %d failed" % len(failures))
    sys.exit(1 if failures else 0)


main()
