#!/usr/bin/env python3
"""A proxy in front of the AWS emulator that makes it behave like AWS on a bad day.

Usage: fault_proxy.py UPSTREAM_URL [--port 0] [--parent-pid PID] [fault options]

Once it listens, one line goes to stdout: `READY http://127.0.0.1:PORT`; nothing more
is written there. Point AWS_ENDPOINT_URL at that URL instead of the emulator's.

Throttling as AWS meters it: a token bucket per service, as the EC2 API reference's
"Request throttling" describes (each request takes a token; tokens come back at a fixed
rate; a request that finds the bucket empty is throttled). A client that slows down
(the SDK's adaptive retry) stops being throttled:
  --throttle-bucket SIZE,RATE   SIZE tokens per service, RATE refilled a second

Faults, each drawn per request with a seeded random generator (--seed):
  --throttle P       answer with the service's own throttling error, in its own protocol:
                     EC2 `RequestLimitExceeded`, S3 `SlowDown` (503), query-protocol
                     `Throttling`, JSON and CBOR `ThrottlingException`
  --server-error P   answer 500 `InternalError` / `InternalFailure`
  --deny P           answer 403 `AccessDenied` (EC2 `UnauthorizedOperation`): an error
                     no retry can fix
  --deny-tagged-create-bucket   answer 403 `AccessDenied` to every CreateBucket that
                     carries tags, as AWS answers credentials without s3:TagResource
                     (S3 API reference, CreateBucketConfiguration.Tags)
  --reset-before P   drop the connection before the request reaches the emulator
  --reset-after P    forward the request, then drop the connection: the emulator did
                     the work and the caller never hears of it (a lost answer)
  --latency MS       answer every request no sooner than MS after it arrived (the
                     emulator's time counts in it, as AWS's processing does in its
                     latency)
  --ops REGEX        faults hit only operations whose name matches (e.g. `^Create`)
  --times N          inject at most N faults in all
  --max-in-a-row N   the same request (same service, operation and body) is faulted at
                     most N times in a row, so the SDK's retries (8 attempts) always get
                     through: a steady fault rate, not a wall (default 3)
  --kill-after K     after the K-th request is forwarded and answered by the emulator,
                     SIGKILL the process that sent it, before it gets the answer
                     (a CI job killed halfway; found by its TCP connection in /proc,
                     or the pid of the first request's when the client already
                     dropped that call)

Slow AWS: resources report in-progress states for a set time after they are created,
as AWS does (the emulator makes everything ready at once):
  --slow WHAT=SECONDS,...   WHAT is one of
      db-create   RDS DescribeDBInstances says `creating` after CreateDBInstance
      db-modify   ... says `modifying` after ModifyDBInstance
      lb          ELB DescribeLoadBalancers says `provisioning` after CreateLoadBalancer
      instances   EC2 DescribeInstances says `pending` for instances younger than this;
                  Auto Scaling says `Pending` for instances it has listed for less
      targets     ELB DescribeTargetHealth says `initial` for targets seen for less
      refresh     Auto Scaling instance refreshes (which moto cannot start: HTTP 500)
                  are answered here: `InProgress` for this long, then `Successful`

GET /__proxy/stats answers JSON counters: requests, forwarded, faults by kind,
operations seen (in order), faulted (`service:Operation kind`, in order), rewrites,
killed pid, and the preferences each StartInstanceRefresh sent.
"""

import argparse
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbor_json  # noqa: E402
from moto_serve import parent_alive  # noqa: E402

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "trailer", "expect"}
# Query-protocol services (form bodies with Action=...): EC2 has its own error shape.
QUERY = {"iam", "sts", "elasticloadbalancing", "autoscaling", "rds", "sns", "monitoring", "ec2"}


class State:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.forwarded = 0
        self.faults = {}
        self.injected = 0
        self.in_a_row = {}
        self.ops = []
        self.faulted = []
        self.rewrites = 0
        self.killed = None
        self.client = None  # pid of the client, looked up on its first request (--kill-after)
        self.slow = dict(args.slow or {})
        self.buckets = {}  # service -> (tokens, last refill, monotonic)
        self.created = {}  # (kind, name) -> monotonic time it was created or first seen
        self.refreshes = {}  # refresh id -> (group, started)
        self.refresh_preferences = []  # the Preferences.* of each StartInstanceRefresh

    def take_token(self, service, now):
        """False when `service`'s bucket is empty (the caller holds the lock)."""
        size, rate = self.args.throttle_bucket
        tokens, last = self.buckets.get(service, (size, now))
        tokens = min(size, tokens + (now - last) * rate)
        if tokens < 1:
            self.buckets[service] = (tokens, now)
            return False
        self.buckets[service] = (tokens - 1, now)
        return True

    def first_seen(self, kind, name, now):
        with self.lock:
            return self.created.setdefault((kind, name), now)

    def young(self, kind, name, window, now):
        return now - self.first_seen(kind, name, now) < window

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "forwarded": self.forwarded,
                "faults": dict(self.faults),
                "operations": list(self.ops),
                "faulted": list(self.faulted),
                "rewrites": self.rewrites,
                "killed": self.killed,
                "refresh_preferences": list(self.refresh_preferences),
            }


def parse_bucket(text):
    size, _, rate = text.partition(",")
    try:
        return float(size), float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIZE,RATE such as `10,5`, found `{text}`")


def parse_slow(text):
    out = {}
    for part in filter(None, text.split(",")):
        what, _, secs = part.partition("=")
        if what not in {"db-create", "db-modify", "lb", "instances", "targets", "refresh"}:
            raise argparse.ArgumentTypeError(f"unknown --slow kind `{what}`")
        out[what] = float(secs)
    return out


def service_of(headers):
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    return m.group(1) if m else "?"


def operation_of(service, method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if "/operation/" in path:
        return path.rsplit("/", 1)[-1]
    if service in QUERY and body:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    if service == "s3":
        url = urllib.parse.urlsplit(path)
        keys = [k.split("=", 1)[0] for k in url.query.split("&") if k]
        sub = next((k for k in keys if k not in {"x-id", "list-type", "prefix", "max-keys", "delimiter"}), "")
        parts = [p for p in url.path.split("/") if p]
        thing = "Object" if len(parts) > 1 else ("Bucket" if parts else "Buckets")
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}.get(method, method)
        if thing == "Bucket" and not sub:
            verb = {"Put": "Create", "Get": "List"}.get(verb, verb)
            thing = "Bucket" if verb != "List" else "Objects"
        return f"{verb}{thing}{sub[:1].upper() + sub[1:] if sub else ''}"
    return method


# kind -> (code per protocol: cbor/json, s3, ec2, query; HTTP status; message)
ERRORS = {
    "throttle": ({"json": "ThrottlingException", "s3": "SlowDown", "ec2": "RequestLimitExceeded",
                  "query": "Throttling"}, {"s3": 503, "ec2": 503}, 400, "Rate exceeded"),
    "server-error": ({"json": "InternalFailure", "s3": "InternalError", "ec2": "InternalError",
                      "query": "InternalFailure"}, {}, 500, "We encountered an internal error. Please try again."),
    "deny": ({"json": "AccessDeniedException", "s3": "AccessDenied", "ec2": "UnauthorizedOperation",
              "query": "AccessDenied"}, {}, 403, "User: arn:aws:iam::123456789012:user/ci is not authorized "
                                                 "to perform this operation (injected by fault_proxy.py)"),
}


def error_answer(service, path, kind):
    """(status, headers, body) of an error of `kind` in the service's own protocol."""
    codes, statuses, status, msg = ERRORS[kind]
    rid = str(uuid.uuid4())
    if "/operation/" in path:  # rpc-v2-cbor (CloudWatch)
        code = codes["json"]
        body = cbor_json.encode({"__type": code, "message": msg})
        return status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], body
    if service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{codes["s3"]}</Code>'
                f"<Message>{msg}</Message><RequestId>{rid}</RequestId></Error>")
        return statuses.get("s3", status), [("Content-Type", "application/xml")], body.encode()
    if service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{codes["ec2"]}</Code>'
                f"<Message>{msg}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>")
        return statuses.get("ec2", status), [("Content-Type", "text/xml")], body.encode()
    if service in QUERY:
        side = "Receiver" if kind == "server-error" else "Sender"
        body = (f"<ErrorResponse><Error><Type>{side}</Type><Code>{codes['query']}</Code><Message>{msg}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>")
        return status, [("Content-Type", "text/xml")], body.encode()
    code = codes["json"]
    body = json.dumps({"__type": code, "message": msg}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body


def peer_pid(port, server_port):
    """The pid of the local process whose TCP socket goes from local port `port` to
    `server_port` (skipping closed sockets of an earlier connection on that port)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    local, remote = (int(c.rsplit(":", 1)[1], 16) for c in cols[1:3])
                    if local == port and remote == server_port and cols[9] != "0":
                        inode = cols[9]
                        break
        except OSError:
            continue
        if inode:
            break
    if not inode:
        return None
    want = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want and int(pid) != os.getpid():
                    return int(pid)
        except OSError:
            continue
    return None


# ---- slow AWS: rewrite answers so fresh resources are still in progress -------------

def each_segment(body, marker, fn):
    """Apply `fn` to each stretch of `body` from one `<marker>` to the next: one resource
    of a list answer whose fields follow its identifier (the order of AWS's shapes)."""
    open_ = f"<{marker}>".encode()
    parts = body.split(open_)
    return parts[0] + b"".join(open_ + fn(open_ + p)[len(open_):] for p in parts[1:])


def field(block, tag):
    m = re.search(rf"<{tag}>([^<]*)</{tag}>".encode(), block)
    return m.group(1).decode() if m else None


def slow_rewrite(state, op, form, body):
    slow, now = state.slow, time.monotonic()
    changed = [False]

    def sub(block, old, new):
        if old in block:
            changed[0] = True
            return block.replace(old, new, 1)
        return block

    if op == "CreateDBInstance" and "db-create" in slow:
        state.created[("db-create", form.get("DBInstanceIdentifier", [""])[0])] = now
    elif op == "ModifyDBInstance" and "db-modify" in slow:
        state.created[("db-modify", form.get("DBInstanceIdentifier", [""])[0])] = now
    elif op == "CreateLoadBalancer" and "lb" in slow:
        state.created[("lb", form.get("Name", [""])[0])] = now
    elif op == "DescribeDBInstances":
        def db(block):
            ident = field(block, "DBInstanceIdentifier")
            for kind, word in (("db-create", b"creating"), ("db-modify", b"modifying")):
                t = state.created.get((kind, ident))
                if kind in slow and t is not None and now - t < slow[kind]:
                    return sub(block, b"<DBInstanceStatus>available</DBInstanceStatus>",
                               b"<DBInstanceStatus>" + word + b"</DBInstanceStatus>")
            return block
        body = each_segment(body, "DBInstance", db)
    elif op == "DescribeLoadBalancers" and "lb" in slow:
        def lb(block):
            t = state.created.get(("lb", field(block, "LoadBalancerName")))
            if t is not None and now - t < slow["lb"]:
                return sub(block, b"<Code>active</Code>", b"<Code>provisioning</Code>")
            return block
        body = each_segment(body, "LoadBalancerArn", lb)
    elif op == "DescribeInstances" and "instances" in slow:
        def inst(block):
            launched = field(block, "launchTime")
            try:
                age = datetime.now(timezone.utc) - datetime.fromisoformat(launched.replace("Z", "+00:00"))
            except (AttributeError, ValueError):
                return block
            if age.total_seconds() < slow["instances"]:
                block = sub(block, b"<code>16</code>", b"<code>0</code>")
                return sub(block, b"<name>running</name>", b"<name>pending</name>")
            return block
        body = each_segment(body, "instanceId", inst)
    elif op == "DescribeAutoScalingGroups" and "instances" in slow:
        def member(block):
            iid = field(block, "InstanceId")
            if iid and b"<LifecycleState>" in block and state.young("asg", iid, slow["instances"], now):
                return sub(block, b"<LifecycleState>InService</LifecycleState>", b"<LifecycleState>Pending</LifecycleState>")
            return block
        body = each_segment(body, "InstanceId", member)
    elif op == "DescribeTargetHealth" and "targets" in slow:
        def target(block):
            tid = field(block, "Id")
            if tid and state.young("target", tid, slow["targets"], now):
                return sub(block, b"<State>healthy</State>", b"<State>initial</State>")
            return block
        body = each_segment(body, "Target", target)
    if changed[0]:
        with state.lock:
            state.rewrites += 1
    return body


def refresh_answer(state, op, form):
    """Answer instance-refresh calls moto cannot serve (--slow refresh=SECONDS)."""
    ns = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
    rid = str(uuid.uuid4())
    if op == "StartInstanceRefresh":
        ref = str(uuid.uuid4())
        prefs = {k.split(".", 1)[1]: v[0] for k, v in form.items() if k.startswith("Preferences.")}
        with state.lock:
            state.refreshes[ref] = (form.get("AutoScalingGroupName", [""])[0], time.monotonic())
            state.refresh_preferences.append(prefs)
        xml = f'<StartInstanceRefreshResponse xmlns="{ns}"><StartInstanceRefreshResult><InstanceRefreshId>{ref}</InstanceRefreshId></StartInstanceRefreshResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></StartInstanceRefreshResponse>'
        return xml.encode()
    if op == "DescribeInstanceRefreshes":
        group = form.get("AutoScalingGroupName", [""])[0]
        members = []
        with state.lock:
            refreshes = list(state.refreshes.items())
        for ref, (g, started) in refreshes:
            if g != group:
                continue
            done = time.monotonic() - started >= state.slow["refresh"]
            status = "Successful" if done else "InProgress"
            pct = 100 if done else int(100 * (time.monotonic() - started) / state.slow["refresh"])
            members.append(f"<member><InstanceRefreshId>{ref}</InstanceRefreshId><AutoScalingGroupName>{g}</AutoScalingGroupName><Status>{status}</Status><PercentageComplete>{pct}</PercentageComplete></member>")
        xml = f'<DescribeInstanceRefreshesResponse xmlns="{ns}"><DescribeInstanceRefreshesResult><InstanceRefreshes>{"".join(members)}</InstanceRefreshes></DescribeInstanceRefreshesResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></DescribeInstanceRefreshesResponse>'
        return xml.encode()
    return None


# ---- the proxy ------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State
    upstream: urllib.parse.SplitResult

    def log_message(self, fmt, *args):
        if not self.state.args.quiet:
            sys.stderr.write("fault_proxy: " + (fmt % args) + "\n")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reset(self):
        """Drop the connection with a TCP reset: no answer at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self, body):
        up = self.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP | {"content-length"}], data
        finally:
            conn.close()

    def handle_one(self):
        st, args = self.state, self.state.args
        if self.path.startswith("/__proxy/stats"):
            return self.answer(200, [("Content-Type", "application/json")], json.dumps(st.stats()).encode())
        arrived = time.monotonic()
        body = self.read_body()
        service = service_of(self.headers)
        op = operation_of(service, self.command, self.path, self.headers, body)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if service in QUERY else {}
        key = hashlib.sha256(f"{service} {op} {self.command} {self.path}".encode() + body).hexdigest()
        if args.kill_after and st.client is None:
            # While it sends, its socket is surely open; by the K-th answer the client may
            # have dropped that call (a read it no longer needs) and closed its socket.
            pid = peer_pid(self.client_address[1], self.server.server_address[1])
            with st.lock:
                st.client = st.client or pid
        with st.lock:
            st.requests += 1
            st.ops.append(f"{service}:{op}")
            fault = None
            if args.throttle_bucket and not st.take_token(service, time.monotonic()):
                fault = "throttle"
            elif args.deny_tagged_create_bucket and op == "CreateBucket" and b"<Tags>" in body:
                fault = "deny"
            elif (args.times is None or st.injected < args.times) and re.search(args.ops, op) \
                    and st.in_a_row.get(key, 0) < args.max_in_a_row:
                draw = st.rng.random()
                for kind, p in (("throttle", args.throttle), ("server-error", args.server_error), ("deny", args.deny),
                                ("reset-before", args.reset_before), ("reset-after", args.reset_after)):
                    if draw < p:
                        fault = kind
                        break
                    draw -= p
            if fault:
                st.injected += 1
                st.faults[fault] = st.faults.get(fault, 0) + 1
                st.faulted.append(f"{service}:{op} {fault}")
                st.in_a_row[key] = st.in_a_row.get(key, 0) + 1
            else:
                st.in_a_row.pop(key, None)
        def hold():
            # The answer leaves no sooner than --latency after the request arrived; the
            # emulator's own time counts in it, as AWS's does, so calls that overlap on
            # the wire overlap here however the emulator queues them.
            rest = arrived + args.latency / 1000 - time.monotonic()
            if rest > 0:
                time.sleep(rest)

        refresh = "refresh" in st.slow and service == "autoscaling" and op in ("StartInstanceRefresh", "DescribeInstanceRefreshes")
        if fault is not None or refresh:
            hold()
        if fault in ERRORS:
            return self.answer(*error_answer(service, self.path, fault))
        if fault == "reset-before":
            return self.reset()
        if refresh:
            return self.answer(200, [("Content-Type", "text/xml")], refresh_answer(st, op, form))
        status, headers, data = self.forward(body)
        hold()
        with st.lock:
            st.forwarded += 1
            n = st.forwarded
        if args.kill_after and n == args.kill_after:
            # /proc/net/tcp is read in pieces while sockets come and go: look again if
            # the socket slipped between two pieces.
            pid = None
            for _ in range(20):
                pid = peer_pid(self.client_address[1], self.server.server_address[1]) or st.client
                if pid:
                    break
                time.sleep(0.01)
            if pid is None or not args.quiet:
                sys.stderr.write(f"fault_proxy: kill after call {n}: client port {self.client_address[1]} -> pid {pid}\n")
            if pid:
                os.kill(pid, signal.SIGKILL)
                with st.lock:
                    st.killed = pid
            return self.reset()
        if fault == "reset-after":
            return self.reset()
        if st.slow and status == 200:
            data = slow_rewrite(st, op, form, data)
        self.answer(status, headers, data)

    def do_any(self):
        try:
            self.handle_one()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_any


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("upstream")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--parent-pid", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--throttle", type=float, default=0.0)
    p.add_argument("--throttle-bucket", type=parse_bucket)
    p.add_argument("--server-error", type=float, default=0.0)
    p.add_argument("--deny", type=float, default=0.0)
    p.add_argument("--deny-tagged-create-bucket", action="store_true")
    p.add_argument("--reset-before", type=float, default=0.0)
    p.add_argument("--reset-after", type=float, default=0.0)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--ops", default="")
    p.add_argument("--times", type=int)
    p.add_argument("--max-in-a-row", type=int, default=3)
    p.add_argument("--kill-after", type=int)
    p.add_argument("--slow", type=parse_slow)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()

    original_ppid = os.getppid()
    Handler.state = State(args)
    Handler.upstream = urllib.parse.urlsplit(args.upstream)
    class Server(http.server.ThreadingHTTPServer):
        # The client opens a connection per call in flight (dozens at once in a read
        # wave); socketserver's default backlog of 5 made the rest wait out a SYN retry.
        request_queue_size = 128
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A client killed (--kill-after) or dropping a call it no longer needs resets
            # its connection: that is the point, not a fault of the proxy.
            if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if args.parent_pid is not None and not parent_alive(args.parent_pid, original_ppid):
            break
    os._exit(0)


if __name__ == "__main__":
    main()
