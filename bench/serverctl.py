"""serverctl: start, query and stop memcached-protocol servers for benchmarks
and tests.

Servers are started on a free loopback port with memcached's flags, so the
same code drives memcached and Larder.  Every server started here is
stopped when the process exits, on SIGINT/SIGTERM too, and, through
PR_SET_PDEATHSIG, even if this process is killed outright: a benchmark or a
test never leaves a server behind.
"""

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import time

LOOPBACK = "127.0.0.1"
_running = []


def _die_with_parent():
    # prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills the server when we die.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _stop_all(*_):
    for server in list(_running):
        server.stop()


def _on_signal(signum, _frame):
    _stop_all()
    raise SystemExit(128 + signum)


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def free_port():
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class ServerError(Exception):
    pass


class Server:
    """One server process on LOOPBACK:port."""

    def __init__(self, binary, threads=2, memory_mb=64, conns=4096, log_path=None):
        self.binary = binary
        self.threads = threads
        self.memory_mb = memory_mb
        self.conns = conns
        self.log_path = log_path
        self.proc = None
        self.port = None

    def argv(self, port):
        args = [self.binary, "-p", str(port), "-U", "0", "-l", LOOPBACK,
                "-t", str(self.threads), "-m", str(self.memory_mb), "-c", str(self.conns)]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without it
        return args

    def start(self, attempts=5, timeout=5.0):
        """Starts on a fresh free port; retries if the port was taken meanwhile."""
        for _ in range(attempts):
            port = free_port()
            log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
            self.proc = subprocess.Popen(self.argv(port), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            if self.log_path:
                log.close()
            self.port = port
            _running.append(self)
            if self._wait_ready(timeout):
                return self
            self.stop()
        raise ServerError("%s did not start (see %s)" % (self.binary, self.log_path or "stderr"))

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.command("version").startswith("VERSION"):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, line, until=None, timeout=5.0):
        """Sends one command line; returns the reply text up to and including
        `until` (or the first line when until is None)."""
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as s:
            s.sendall(line.encode() + b"\r\n")
            data = b""
            end = (until + "\r\n").encode() if until else b"\r\n"
            while not data.endswith(end):
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed by server")
                data += chunk
            return data.decode(errors="replace")

    def stats(self):
        """The `stats` reply as a dict of strings."""
        out = {}
        for line in self.command("stats", until="END").splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out

    def version(self):
        return self.command("version").strip().replace("VERSION ", "", 1)

    def rss_kb(self):
        """VmRSS of the server process, in kB."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """User + system CPU the server has used so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        """Stops the server; returns its exit status (None if it was not running)."""
        if self.proc is None:
            return None
        status = self.proc.poll()
        if status is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in _running:
            _running.remove(self)
        return status


def machine_info():
    """Cores, CPU model and kernel, for the head of a report."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "kernel": os.uname().release}
