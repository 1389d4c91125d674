#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The twonode tier's remote hands: runs commands on the other guest.

The twonode tier drives both guests of a scripts/vm-pair boot from one of
them (the driver, tests/twonode/driver).  On the other guest this agent
listens on the wire between the two guests (never on a host address: the
guests' wire reaches nothing else) and runs what the driver asks, so
that the two sides of every case meet at a known point: the server
listens before the client starts, and both exits are known.

Usage:
  agent.py serve --addr IP [--port N] --dir DIR [--idle SECS]
  agent.py call --host IP [--port N] [--timeout SECS] REQUEST-JSON
  agent.py up --host IP [--port N] [--timeout SECS]

One JSON request per TCP connection, one JSON reply:
  {"op": "ping"}                          -> {"ok": true, "kernel": ...}
  {"op": "run", "cmd": STR, "timeout": S} -> {"ok": true, "rc": N, "out": STR}
  {"op": "start", "id": ID, "cmd": STR, "port": P, "timeout": S}
        start `bash -c STR` in the background; with "port", reply once a
        TCP socket listens on port P (or the command ended: "ok": false)
  {"op": "wait", "id": ID, "timeout": S}  -> {"ok": true, "rc": N, "out": STR}
        (rc -9 and "timed_out": true if it had to be killed)
  {"op": "quit"}                          -> {"ok": true}; the agent exits 0
Every command's output is also kept in DIR/ID.log.  serve exits 3 when
no request came for --idle seconds (default 600): the pair stops by
itself even if the driver died.  call and up exit 0 on a reply (printed
on stdout), 1 when the agent cannot be reached.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

PORT = 18400
MAX_OUT = 65536


def die(msg, code=2):
    print(f"agent: error: {msg}", file=sys.stderr)
    sys.exit(code)


def listening(port):
    """Is a TCP socket listening on PORT (IPv4 or IPv6)?"""
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def tail(path):
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - MAX_OUT))
            return fh.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no output: {e})"


class Agent:
    def __init__(self, outdir):
        self.dir = outdir
        self.procs = {}
        self.n = 0

    def _log(self, ident):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", ident):
            raise ValueError(f"bad id {ident!r}")
        return os.path.join(self.dir, ident + ".log")

    def _spawn(self, ident, cmd):
        log = self._log(ident)
        fh = open(log, "wb")
        p = subprocess.Popen(["bash", "-c", cmd], stdout=fh, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        fh.close()
        return p, log

    def _finish(self, p, log, timeout):
        timed_out = False
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
            rc = p.wait()
        return {"ok": True, "rc": rc, "timed_out": timed_out, "out": tail(log)}

    def handle(self, req):
        op = req.get("op")
        if op == "ping":
            return {"ok": True, "kernel": os.uname().release}
        if op == "run":
            self.n += 1
            p, log = self._spawn(req.get("id") or f"run{self.n}", req["cmd"])
            return self._finish(p, log, float(req.get("timeout", 300)))
        if op == "start":
            ident = req["id"]
            if ident in self.procs:
                return {"ok": False, "error": f"id {ident} is running"}
            p, log = self._spawn(ident, req["cmd"])
            self.procs[ident] = (p, log)
            port = req.get("port")
            end = time.monotonic() + float(req.get("timeout", 30))
            while port and not listening(int(port)):
                if p.poll() is not None:
                    del self.procs[ident]
                    return {"ok": False, "rc": p.returncode, "out": tail(log),
                            "error": f"exited before listening on {port}"}
                if time.monotonic() > end:
                    return {"ok": False, "error": f"not listening on {port} after {req.get('timeout', 30)} s"}
                time.sleep(0.1)
            return {"ok": True}
        if op == "wait":
            ident = req["id"]
            if ident not in self.procs:
                return {"ok": False, "error": f"no process {ident}"}
            p, log = self.procs.pop(ident)
            return self._finish(p, log, float(req.get("timeout", 300)))
        if op == "quit":
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}


def recv_line(conn, limit=1 << 20):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise ValueError("request too long")
    return buf.decode()


def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    agent = Agent(args.dir)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.addr, args.port))
    srv.listen(4)
    srv.settimeout(args.idle)
    print(f"agent: listening on {args.addr}:{args.port}, output in {args.dir}", flush=True)
    while True:
        try:
            conn, peer = srv.accept()
        except socket.timeout:
            print(f"agent: no request for {args.idle} s, giving up", flush=True)
            for p, _ in agent.procs.values():
                try:
                    os.killpg(p.pid, 9)
                except OSError:
                    pass
            sys.exit(3)
        with conn:
            conn.settimeout(30)
            try:
                req = json.loads(recv_line(conn))
                print(f"agent: {peer[0]}: {req.get('op')} {req.get('id', '')} {req.get('cmd', '')}", flush=True)
                conn.settimeout(None)
                rep = agent.handle(req)
            except (ValueError, KeyError, OSError) as e:
                rep = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            try:
                conn.sendall((json.dumps(rep) + "\n").encode())
            except OSError as e:
                print(f"agent: reply lost: {e}", flush=True)
            if req.get("op") == "quit":
                print("agent: quit", flush=True)
                sys.exit(0)


def call(host, port, req, timeout):
    with socket.create_connection((host, port), timeout=10) as s:
        s.settimeout(timeout)
        s.sendall((json.dumps(req) + "\n").encode())
        return json.loads(recv_line(s))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--addr", required=True)
    s.add_argument("--port", type=int, default=PORT)
    s.add_argument("--dir", required=True)
    s.add_argument("--idle", type=float, default=600)
    c = sub.add_parser("call")
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, default=PORT)
    c.add_argument("--timeout", type=float, default=600)
    c.add_argument("request")
    u = sub.add_parser("up")
    u.add_argument("--host", required=True)
    u.add_argument("--port", type=int, default=PORT)
    u.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "call":
        try:
            req = json.loads(args.request)
        except ValueError as e:
            die(f"the request is not JSON: {e}")
        try:
            print(json.dumps(call(args.host, args.port, req, args.timeout)))
        except (OSError, ValueError) as e:
            print(f"agent: cannot reach {args.host}:{args.port}: {e}", file=sys.stderr)
            sys.exit(1)
    else:
        end = time.monotonic() + args.timeout
        while True:
            try:
                print(json.dumps(call(args.host, args.port, {"op": "ping"}, 10)))
                return
            except (OSError, ValueError) as e:
                if time.monotonic() > end:
                    print(f"agent: {args.host}:{args.port} not up after {args.timeout} s: {e}",
                          file=sys.stderr)
                    sys.exit(1)
                time.sleep(0.5)


if __name__ == "__main__":
    main()
