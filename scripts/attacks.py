#!/usr/bin/python3
"""Reproducible attacks on a local SoftRL cluster: the training rate (or memory, or scrape latency) under each stall
of docs/RELIABILITY.md ("Stalls"), measured on the tiny model on loopback.

Each command starts a learner (`--insecure --mode hard --group-size 4 --prompts 2`, one OpenBLAS thread) and one
honest actor (`--slots 2`) from the given softrl binary, lets them train, then runs the attack from this process
(Python with pyzmq and the protobuf generated from proto/) and prints one line of figures:

  hoard   --ids 40      ids that say Hello with 1,000 slots, ask for work every 50 ms and never return any:
                        updates/s before and during the attack, in the same run
  relays  --kind K      4 peers that join first and announce a relay that answers children with heartbeats only
                        (heartbeat), sends every chunk 14 s late (late) or never answers (mute); they fetch
                        honestly and do no work: updates/s of the honest actor (compare with --count 0)
  flood   --peers 5     peers that send FetchWeights to the actor's relay as fast as they can and never read:
                        the actor's RSS before, at peak and after they leave, and updates/s meanwhile
  metrics               one client trickling a header byte every 2 s and 20 idle connections against the learner's
                        /metrics: how long each of 5 scrapes takes, and how many fail
  unfit                 a jsonl task with one prompt longer than the model's positions: updates in the window (an
                        older learner starts and stalls; this one refuses to start, or with --unfit-problems skip
                        trains on the rest)

Usage: scripts/attacks.py COMMAND [--softrl PATH] [--seconds S] [options]; /usr/bin/python3 (Debian's python3-zmq,
python3-protobuf) and protoc. The figures are ratios against a reference taken the same way on the same machine.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(msg):
    print(f"attacks: {msg}", flush=True)


def load_pb(tmp):
    out = os.path.join(tmp, "pb")
    subprocess.run([os.path.join(ROOT, "scripts", "gen-proto.sh"), "--python", out], check=True, stdout=subprocess.DEVNULL)
    sys.path.insert(0, out)
    import softrl_pb2  # noqa: E402  (generated)
    return softrl_pb2


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    """A learner and an honest actor (optional) in a temporary directory; everything is killed on close."""

    def __init__(self, softrl, tmp, task=None, learner_extra=(), actor_extra=(), honest=True):
        self.softrl, self.tmp, self.procs = softrl, tmp, []
        self.run_dir = os.path.join(tmp, "run")
        self.port = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        base = os.path.join(tmp, "base")
        if not os.path.exists(base):
            subprocess.run([softrl, "model", "init", "--preset", "tiny", "--seed", "1", "--out", base], check=True,
                           stdout=subprocess.DEVNULL)
        args = ["learner", "--insecure", "--bind", self.endpoint, "--base", base, "--run-dir", self.run_dir,
                "--mode", "hard", "--group-size", "4", "--prompts", "2", "--steps", "1000000", "--threads", "1"]
        if task:
            args += ["--task", task]
        self.learner = self.spawn(args + list(learner_extra), "learner")
        self.actor = self.spawn_actor("honest", actor_extra) if honest else None

    def spawn(self, args, name):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        p = subprocess.Popen([self.softrl] + args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.procs.append(p)
        return p

    def spawn_actor(self, name, extra=()):
        return self.spawn(["actor", "--connect", self.endpoint, "--id", name, "--slots", "2", "--threads", "1"] + list(extra), name)

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log")) as f:
                return f.read()
        except OSError:
            return ""

    def steps(self):
        try:
            with open(os.path.join(self.run_dir, "metrics.jsonl")) as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def wait_steps(self, n, timeout=300):
        end = time.time() + timeout
        while time.time() < end:
            if self.steps() >= n:
                return True
            if self.learner.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def rate(self, seconds):
        s0, t0 = self.steps(), time.time()
        time.sleep(seconds)
        return (self.steps() - s0) / (time.time() - t0)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()


class Peer:
    """A hand-written DEALER peer of the learner."""

    def __init__(self, pb, ctx, endpoint, actor_id, slots=1, relay_endpoint=""):
        import zmq
        self.pb, self.seq = pb, 0
        self.s = ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(endpoint)
        hello = pb.Envelope(protocol_version=1)
        hello.hello.actor_id, hello.hello.slots, hello.hello.relay_endpoint = actor_id, slots, relay_endpoint
        self.send(hello)

    def send(self, env):
        import zmq
        self.seq += 1
        env.protocol_version, env.sequence = 1, self.seq
        try:
            self.s.send(env.SerializeToString(), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def envelope(self):
        return self.pb.Envelope(protocol_version=1)

    def drain(self):
        import zmq
        out = []
        while True:
            try:
                out.append(self.s.recv(zmq.NOBLOCK))
            except zmq.Again:
                return out


def hoard(a, pb, softrl, tmp):
    import zmq
    c = Cluster(softrl, tmp)
    try:
        assert c.wait_steps(5), c.log("learner")[-2000:]
        before = c.rate(a.seconds)
        ctx = zmq.Context()
        peers = [Peer(pb, ctx, c.endpoint, f"hoarder-{i}", slots=1000) for i in range(a.ids)]
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                for p in peers:
                    e = p.envelope(); e.work_request.free_slots = 1000; p.send(e)
                    e = p.envelope(); e.heartbeat.policy_version = 0; p.send(e)
                    p.drain()
                time.sleep(0.05)
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        time.sleep(2)
        during = c.rate(a.seconds)
        stop.set(); t.join()
        ctx.destroy(linger=0)
        say(f"hoard: {a.ids} ids; updates/s alone {before:.2f}, under attack {during:.2f} ({during / max(before, 1e-9):.0%})")
    finally:
        c.close()


def relays(a, pb, softrl, tmp):
    import zmq
    c = Cluster(softrl, tmp, honest=False)
    ctx = zmq.Context()
    stop = threading.Event()
    try:
        bad = []
        for i in range(a.count):
            port = free_port()
            router = ctx.socket(zmq.ROUTER); router.setsockopt(zmq.LINGER, 0); router.bind(f"tcp://127.0.0.1:{port}")
            bad.append((Peer(pb, ctx, c.endpoint, f"bad-relay-{i}", relay_endpoint=f"tcp://127.0.0.1:{port}"), router))
        time.sleep(1)   # they join first

        def loop():
            waiting, late, last_hb = {}, [], 0.0
            while not stop.is_set():
                now = time.time()
                for k, (peer, router) in enumerate(bad):
                    for frame in peer.drain():
                        env = pb.Envelope(); env.ParseFromString(frame)
                        if env.HasField("weights_chunk"):   # a chunk a child asked for: send it 14 s late
                            for child in [ch for (ch, v, i) in waiting.pop((k, env.weights_chunk.version, env.weights_chunk.chunk_index), [])]:
                                late.append((now + 14, k, child, frame))
                    while True:
                        try:
                            child, frame = router.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        env = pb.Envelope(); env.ParseFromString(frame)
                        if not env.HasField("fetch_weights"):
                            continue
                        f = env.fetch_weights
                        if a.kind == "late":
                            key = (k, f.version, f.chunk_index)
                            if key not in waiting:
                                e = peer.envelope(); e.fetch_weights.version, e.fetch_weights.chunk_index = f.version, f.chunk_index
                                peer.send(e)
                            waiting.setdefault(key, []).append((child, f.version, f.chunk_index))
                        elif a.kind == "heartbeat":
                            waiting.setdefault((k, "hb"), set()).add(child)
                if now - last_hb >= 1:
                    last_hb = now
                    for k, (peer, router) in enumerate(bad):
                        e = peer.envelope(); e.heartbeat.policy_version = 0; peer.send(e)
                        for child in waiting.get((k, "hb"), set()):
                            hb = pb.Envelope(protocol_version=1); hb.heartbeat.policy_version = 0
                            router.send_multipart([child, hb.SerializeToString()])
                for item in [x for x in late if x[0] <= now]:
                    late.remove(item)
                    bad[item[1]][1].send_multipart([item[2], item[3]])
                time.sleep(0.01)
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        c.actor = c.spawn_actor("honest")
        assert c.wait_steps(1, timeout=300), c.log("learner")[-2000:]
        rate = c.rate(a.seconds)
        say(f"relays: {a.count} x {a.kind} joined first; honest actor's updates/s {rate:.2f} over {a.seconds:.0f} s; "
            f"relays demoted {c.log('learner').count('demoted to a leaf')}, relays left by the actor {c.log('honest').count('; fetching v')}")
    finally:
        stop.set()
        c.close()
        ctx.destroy(linger=0)


def flood(a, pb, softrl, tmp):
    import zmq
    c = Cluster(softrl, tmp, actor_extra=["--relay-bind", "tcp://127.0.0.1:*"])
    ctx = zmq.Context()
    try:
        assert c.wait_steps(5), c.log("learner")[-2000:]
        endpoint = next(l.split("serving weights to other actors at ")[1].split()[0] for l in c.log("honest").splitlines() if "serving weights to other actors at " in l)
        pid = c.actor.pid
        before_rate = c.rate(5)
        rss0 = rss_mb(pid)
        socks = []
        for _ in range(a.peers):
            s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 0); s.setsockopt(zmq.RCVHWM, 1); s.connect(endpoint)
            socks.append(s)
        peak, s0, t0, capped, seq = rss0, c.steps(), time.time(), False, 0
        while time.time() - t0 < a.seconds:
            v = c.steps()
            for s in socks:
                for version in (v, v + 1):
                    seq += 1
                    e = pb.Envelope(protocol_version=1, sequence=seq); e.fetch_weights.version, e.fetch_weights.chunk_index = version, 0
                    try:
                        s.send(e.SerializeToString(), zmq.NOBLOCK)
                    except zmq.Again:
                        pass
            peak = max(peak, rss_mb(pid))
            if peak - rss0 > a.cap_mb:
                capped = True
                break
        elapsed = time.time() - t0
        during_rate = (c.steps() - s0) / elapsed
        for s in socks:
            s.close(0)
        time.sleep(5)
        say(f"flood: {a.peers} peers for {elapsed:.1f} s{' (stopped at the ' + str(a.cap_mb) + ' MB cap)' if capped else ''}; actor RSS "
            f"{rss0:.0f} -> peak {peak:.0f} MB (+{peak - rss0:.0f}), {rss_mb(pid):.0f} MB 5 s after they left; "
            f"updates/s {before_rate:.2f} before, {during_rate:.2f} during")
    finally:
        c.close()
        ctx.destroy(linger=0)


def scrape(port, timeout):
    t0 = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.settimeout(timeout)
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return time.time() - t0 if data.startswith(b"HTTP/1.1 200") else None
    except OSError:
        return None


def metrics(a, pb, softrl, tmp):
    port = free_port()
    c = Cluster(softrl, tmp, learner_extra=["--metrics-port", str(port)])
    try:
        assert c.wait_steps(2), c.log("learner")[-2000:]
        alone = [scrape(port, 10) for _ in range(5)]
        stop = threading.Event()
        trickler = socket.create_connection(("127.0.0.1", port))

        def trickle():
            for b in b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10000:
                if stop.is_set():
                    return
                try:
                    trickler.send(bytes([b]))
                except OSError:
                    return
                time.sleep(2)
        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(0.5)
        idle, refused = [], 0
        for _ in range(a.idle):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                refused += 1   # the listen backlog is full
        attacked = [scrape(port, 10) for _ in range(5)]
        stop.set()
        for s in idle + [trickler]:
            s.close()

        def fmt(xs):
            ok = [x for x in xs if x is not None]
            return f"{len(ok)}/5 ok" + (f", median {sorted(ok)[len(ok) // 2] * 1000:.0f} ms, worst {max(ok) * 1000:.0f} ms" if ok else "")
        say(f"metrics: scrapes alone: {fmt(alone)}; with 1 trickler + {a.idle} idle connections ({refused} of them could not even "
            f"connect within 2 s): {fmt(attacked)} (10 s client timeout)")
    finally:
        c.close()


def unfit(a, pb, softrl, tmp):
    path = os.path.join(tmp, "unfit.jsonl")
    with open(path, "w") as f:
        for i in range(20):
            f.write(json.dumps({"prompt": f"{i}+2=", "answer": str(i + 2)}) + "\n")
            if i == 3:
                f.write(json.dumps({"prompt": "1+" * 300 + "0=", "answer": "300"}) + "\n")   # 602 characters, 512 positions
    c = Cluster(softrl, tmp, task="jsonl:" + path, learner_extra=a.learner_extra.split())
    try:
        time.sleep(3)
        if c.learner.poll() is not None:
            say(f"unfit: the learner refused to start (exit {c.learner.returncode}): "
                + next((l for l in c.log("learner").splitlines() if "do not fit" in l), c.log("learner")[-400:]).strip()[:400])
            return
        c.wait_steps(1, timeout=60)
        n0 = c.steps()
        time.sleep(a.seconds)
        n1 = c.steps()
        time.sleep(a.seconds)
        say(f"unfit: {n1 - n0} updates in the first {a.seconds:.0f} s after the first update, {c.steps() - n1} in the next "
            f"{a.seconds:.0f} s; actor drops logged: {c.log('honest').count('dropped impossible work')}")
    finally:
        c.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["hoard", "relays", "flood", "metrics", "unfit"])
    default = next((x for x in (os.path.join(ROOT, ".build/release/softrl"), os.path.join(ROOT, ".build/debug/softrl")) if os.path.exists(x)), None)
    p.add_argument("--softrl", default=default, help="softrl binary (default: .build/release, else .build/debug)")
    p.add_argument("--seconds", type=float, default=30, help="measurement window")
    p.add_argument("--ids", type=int, default=40, help="hoard: hoarding ids")
    p.add_argument("--kind", choices=["heartbeat", "late", "mute"], default="heartbeat", help="relays: how the bad relays behave")
    p.add_argument("--count", type=int, default=4, help="relays: bad relays (0: the reference)")
    p.add_argument("--peers", type=int, default=5, help="flood: flooding peers")
    p.add_argument("--cap-mb", type=int, default=1500, help="flood: stop when the actor has grown this much (a shared machine)")
    p.add_argument("--idle", type=int, default=20, help="metrics: idle connections")
    p.add_argument("--learner-extra", default="", help="unfit: extra learner flags, e.g. '--unfit-problems skip'")
    a = p.parse_args()
    if not a.softrl or not os.path.exists(a.softrl):
        sys.exit("attacks: no softrl binary: build one (swift build --product softrl) or pass --softrl")
    tmp = tempfile.mkdtemp(prefix="softrl-attack-")
    try:
        pb = load_pb(tmp)
        {"hoard": hoard, "relays": relays, "flood": flood, "metrics": metrics, "unfit": unfit}[a.command](a, pb, os.path.abspath(a.softrl), tmp)
    finally:
        if os.environ.get("SOFTRL_KEEP_LOGS"):
            say(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
