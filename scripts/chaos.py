#!/usr/bin/python3
"""Chaos soak for a SoftRL cluster; run it through scripts/chaos.sh.

A learner and N actors (default 3), each in its own Linux network namespace joined by veth links to a bridge in
the learner's namespace, train the tiny model for a fixed time while faults are injected from a seeded
schedule: actor SIGKILL (then restarted), actor SIGSTOP then SIGCONT, a link cut then healed, learner SIGKILL
then `--resume`, the run directory made read-only (chattr +i, which binds root too) across a checkpoint, and
hostile peers (garbage frames; a second connection claiming a live actor's id). Then:

- audit: in the surviving lineage of metrics.jsonl (after a learner restart, steps past the checkpoint it
  resumed from were lost with it and are dropped), every schedule position below the final checkpoint's cursor
  was trained exactly once or is still outstanding; steps (= policy versions) run 1, 2, 3, ... with no gap or
  repeat across restarts; each failed checkpoint left the previous one intact (same step, every file readable);
- recovery: per fault, seconds from the end of the fault (restart, SIGCONT, heal, resume, write access back,
  attack over) until the affected actor's work reaches an update again (actors), the next update (learner,
  hostile peers), or the next successful checkpoint (read-only run directory);
- memory: RSS of every process sampled each second; growth from the second quarter of its life to the last.

Prints the table (fault, count, lost, duplicated, median and worst recovery) and exits 1 if any audit fails,
77 (with the reason) when it cannot run here (not root, no `ip netns`, no chattr).
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 77


def say(msg):
    print(f"chaos: {msg}", flush=True)


def skip(reason):
    print(f"chaos: SKIP: {reason}", flush=True)
    sys.exit(SKIP)


class Lab:
    """Namespaces srl-cl-TAG (learner, bridge br0 at .1) and srl-caI-TAG (actor i at .10+i)."""

    def __init__(self, actors):
        self.ip = next((p for p in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] if os.access(p, os.X_OK)), None)
        if self.ip is None:
            skip("`ip` (iproute2) not found: apt-get install iproute2")
        self.tag = "%04x" % random.SystemRandom().randrange(65536)
        self.subnet = random.SystemRandom().randrange(1, 255)
        self.actors = actors
        self.namespaces = []

    def run(self, *args, check=True):
        r = subprocess.run([self.ip, *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    @property
    def learner_ns(self):
        return f"srl-cl-{self.tag}"

    def actor_ns(self, i):
        return f"srl-ca{i}-{self.tag}"

    def link(self, i):
        return f"srlc{i}{self.tag}"

    @property
    def learner_address(self):
        return f"10.250.{self.subnet}.1"

    def build(self):
        if self.run("netns", "add", self.learner_ns, check=False).returncode != 0:
            skip("cannot create network namespaces here (needs CAP_SYS_ADMIN)")
        self.namespaces.append(self.learner_ns)
        L = self.learner_ns
        self.run("-n", L, "link", "set", "lo", "up")
        self.run("-n", L, "link", "add", "br0", "type", "bridge")
        self.run("-n", L, "addr", "add", f"{self.learner_address}/24", "dev", "br0")
        self.run("-n", L, "link", "set", "br0", "up")
        for i in range(1, self.actors + 1):
            A = self.actor_ns(i)
            self.run("netns", "add", A)
            self.namespaces.append(A)
            self.run("-n", A, "link", "set", "lo", "up")
            self.run("-n", A, "link", "add", "eth0", "type", "veth", "peer", "name", self.link(i), "netns", L)
            self.run("-n", A, "addr", "add", f"10.250.{self.subnet}.{10 + i}/24", "dev", "eth0")
            self.run("-n", A, "link", "set", "eth0", "up")
            self.run("-n", L, "link", "set", self.link(i), "master", "br0")
            self.run("-n", L, "link", "set", self.link(i), "up")

    def set_link(self, i, up):
        self.run("-n", self.learner_ns, "link", "set", self.link(i), "up" if up else "down")

    def wrap(self, ns):
        return [self.ip, "netns", "exec", ns]

    def teardown(self):
        for ns in reversed(self.namespaces):
            self.run("netns", "del", ns, check=False)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Proc:
    """One process lifetime, with its RSS samples."""

    def __init__(self, role, argv, log_path, env=None):
        self.role = role
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.started = time.monotonic()
        self.rss = []   # (seconds since start, kB)
        self.stopped = False

    def alive(self):
        return self.p.poll() is None

    def sample(self):
        if self.alive() and not self.stopped:
            kb = rss_kb(self.p.pid)
            if kb:
                self.rss.append((time.monotonic() - self.started, kb))

    def signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class Soak:
    FAULTS = ["actor_kill", "actor_stop", "link_cut", "learner_kill", "readonly_checkpoint", "garbage_frames", "twin_id"]

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.dir = args.dir or tempfile.mkdtemp(prefix="softrl-chaos-")
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        self.exe = args.softrl
        self.lab = Lab(args.actors)
        self.procs = []          # every lifetime ever started
        self.learner = None
        self.actors = {}         # id -> Proc
        self.metric_lines = []   # (arrival monotonic, dict, learner lifetime)
        self.metric_offset = 0
        self.lifetime = 0
        self.resumes = []        # (lifetime that starts, checkpoint step it resumed from)
        self.timeline = []       # ("line", arrival, metrics) and ("resume", checkpoint step), in order
        self.events = []         # dicts: fault, start, end, actor, recovered, ...
        self.checkpoint_checks = []
        self.failures = []
        self.immutable = False
        self.t0 = time.monotonic()

    # MARK: processes

    def learner_argv(self, resume):
        bind = f"tcp://{self.lab.learner_address}:5555"
        fast = ["--group-size", "2", "--prompts", "2", "--threads", "1", "--heartbeat-ms", "200", "--mode", "soft",
                "--max-staleness", "1", "--checkpoint-every", str(self.args.checkpoint_every), "--insecure"]
        origin = ["--resume", self.run_dir] if resume else ["--base", os.path.join(self.dir, "base"), "--steps", "100000"]
        return self.lab.wrap(self.lab.learner_ns) + [self.exe, "learner", "--bind", bind, "--run-dir", self.run_dir] + origin + fast

    def start_learner(self, resume=False):
        self.lifetime += 1
        p = Proc("learner", self.learner_argv(resume), os.path.join(self.dir, f"learner-{self.lifetime}.log"))
        self.learner = p
        self.procs.append(p)
        return p

    def start_actor(self, i):
        aid = f"a{i}"
        argv = self.lab.wrap(self.lab.actor_ns(i)) + [self.exe, "actor", "--connect", f"tcp://{self.lab.learner_address}:5555",
                                                      "--id", aid, "--slots", "2", "--threads", "1"]
        p = Proc(f"actor {aid}", argv, os.path.join(self.dir, f"{aid}.log"))
        self.actors[aid] = p
        self.procs.append(p)
        return p

    # MARK: observation

    def poll_metrics(self):
        path = os.path.join(self.run_dir, "metrics.jsonl")
        try:
            with open(path, "rb") as f:
                f.seek(self.metric_offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.metric_offset += end + 1
        now = time.monotonic()
        for line in data[:end].split(b"\n"):
            if line.strip():
                m = json.loads(line)
                self.metric_lines.append((now, m, self.lifetime))
                self.timeline.append(("line", now, m))

    def checkpoint_step(self):
        try:
            with open(os.path.join(self.run_dir, "checkpoint", "learner_state.json")) as f:
                return json.load(f)["step"]
        except (OSError, ValueError, KeyError):
            return None

    def tick(self):
        """Sample everything once (about every 0.1 s)."""
        self.poll_metrics()
        if int((time.monotonic() - self.t0) * 10) % 10 == 0:
            for p in self.procs:
                p.sample()
        for e in self.events:
            if e.get("recovered") is None and e.get("end") is not None:
                self.check_recovery(e)
        if self.learner and not self.learner.alive() and not getattr(self.learner, "expected_exit", False):
            self.failures.append(f"learner exited by itself (status {self.learner.p.returncode}); see {self.learner.log_path}")
            self.learner.expected_exit = True

    def check_recovery(self, e):
        now = time.monotonic()
        after = [m for (t, m, _) in self.metric_lines if t >= e["end"]]
        kind = e["fault"]
        if kind in ("actor_kill", "actor_stop", "link_cut"):
            ok = any((m.get("actorTokensPerSecond") or {}).get(e["actor"], 0) > 0 for m in after)
        elif kind == "readonly_checkpoint":
            step = self.checkpoint_step()
            ok = step is not None and step > e["checkpoint_before"]
        else:
            ok = bool(after)
        if ok:
            e["recovered"] = now - e["end"]

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.tick()
            time.sleep(0.1)

    def wait_for(self, timeout, cond):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.tick()
            if cond():
                return True
            time.sleep(0.1)
        return cond()

    # MARK: faults

    def inject(self, kind):
        i = self.rng.randrange(1, self.args.actors + 1)
        aid = f"a{i}"
        e = {"fault": kind, "start": time.monotonic(), "end": None, "recovered": None, "actor": aid}
        self.events.append(e)
        hold = self.rng.uniform(1.5, 3.0)
        say(f"t={time.monotonic() - self.t0:5.1f}s {kind} {aid if kind in ('actor_kill', 'actor_stop', 'link_cut', 'twin_id') else ''}")
        if kind == "actor_kill":
            self.actors[aid].signal(signal.SIGKILL)
            self.actors[aid].wait(5)
            self.sleep(0.5)
            self.start_actor(i)
        elif kind == "actor_stop":
            p = self.actors[aid]
            p.signal(signal.SIGSTOP); p.stopped = True
            self.sleep(hold)
            p.signal(signal.SIGCONT); p.stopped = False
        elif kind == "link_cut":
            self.lab.set_link(i, False)
            self.sleep(hold)
            self.lab.set_link(i, True)
        elif kind == "learner_kill":
            self.learner.expected_exit = True
            self.learner.signal(signal.SIGKILL)
            self.learner.wait(10)
            self.poll_metrics()   # every line the killed learner wrote, before the resume marker
            step = self.checkpoint_step()
            if step is None:
                self.failures.append("no checkpoint to resume from after the learner was killed")
                step = 0
            self.resumes.append((self.lifetime + 1, step))
            self.timeline.append(("resume", step))
            e["resumed_from"] = step
            self.start_learner(resume=True)
        elif kind == "readonly_checkpoint":
            # There must be a previous checkpoint to keep intact (early in the run there may be none yet).
            self.wait_for(60, lambda: self.checkpoint_step() is not None)
            steps_before = len(self.metric_lines)
            self.set_immutable(True)
            # Taken once frozen: a checkpoint being renamed into place at the moment of freezing is finished or refused.
            before = self.checkpoint_step()
            e["checkpoint_before"] = before if before is not None else -1
            snapshot = self.checkpoint_files()
            # Hold until at least one checkpoint came due while the directory was read-only.
            due = self.args.checkpoint_every + 1
            self.wait_for(60, lambda: len(self.metric_lines) - steps_before >= due)
            unchanged = self.checkpoint_files() == snapshot
            self.set_immutable(False)
            failed_lines = self.log_count("checkpoint failed")
            e["checkpoint_failed_logged"] = failed_lines
            intact = unchanged and self.checkpoint_readable()
            self.checkpoint_checks.append((before, intact, failed_lines))
            if not intact:
                self.failures.append(f"a failed checkpoint write changed the previous checkpoint (step {before})")
        elif kind == "garbage_frames":
            self.hostile("garbage")
        elif kind == "twin_id":
            e["twin_refused"] = self.hostile("twin", aid)
            if not e["twin_refused"]:
                self.failures.append(f"a second connection claiming live actor {aid} was not refused with Error 6")
        e["end"] = time.monotonic()

    def log_count(self, text):
        n = 0
        for p in self.procs:
            if p.role == "learner":
                with open(p.log_path, "rb") as f:
                    n += f.read().decode("utf-8", "replace").count(text)
        return n

    def set_immutable(self, on):
        subprocess.run(["chattr", "+i" if on else "-i", self.run_dir], check=True)
        self.immutable = on

    def checkpoint_files(self):
        d = os.path.join(self.run_dir, "checkpoint")
        out = {}
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                st = os.stat(os.path.join(d, name))
                out[name] = (st.st_size, st.st_mtime_ns)
        return out

    def checkpoint_readable(self):
        """learner_state.json parses and every safetensors header parses and fits its file."""
        d = os.path.join(self.run_dir, "checkpoint")
        try:
            with open(os.path.join(d, "learner_state.json")) as f:
                json.load(f)
            for name in os.listdir(d):
                if name.endswith(".safetensors"):
                    path = os.path.join(d, name)
                    with open(path, "rb") as f:
                        (n,) = struct.unpack("<Q", f.read(8))
                        header = json.loads(f.read(n))
                    size = os.path.getsize(path) - 8 - n
                    if any(v["data_offsets"][1] > size for k, v in header.items() if k != "__metadata__"):
                        return False
            return True
        except (OSError, ValueError, KeyError, struct.error):
            return False

    def hostile(self, what, aid=None):
        """Runs a hostile peer in the learner's namespace; returns True when a twin was refused with Error 6."""
        code = HOSTILE_PEER
        r = subprocess.run(self.lab.wrap(self.lab.learner_ns) + [sys.executable, "-c", code, what, f"tcp://{self.lab.learner_address}:5555",
                                                                  aid or "", self.pb_dir, str(self.rng.randrange(1 << 30))],
                           capture_output=True, text=True, timeout=60)
        with open(os.path.join(self.dir, "hostile.log"), "a") as f:
            f.write(r.stdout + r.stderr)
        return "REFUSED 6" in r.stdout

    # MARK: the run

    def run(self):
        if os.geteuid() != 0:
            skip(f"needs root for network namespaces and chattr (euid {os.geteuid()})")
        if shutil.which("chattr") is None:
            skip("chattr (e2fsprogs) not found")
        probe = os.path.join(self.dir, "probe")
        os.makedirs(probe, exist_ok=True)
        if subprocess.run(["chattr", "+i", probe], capture_output=True).returncode != 0:
            skip(f"chattr +i is not supported on the filesystem of {self.dir}")
        subprocess.run(["chattr", "-i", probe])
        os.rmdir(probe)
        self.pb_dir = os.path.join(self.dir, "pb")
        subprocess.run([os.path.join(ROOT, "scripts", "gen-proto.sh"), "--python", self.pb_dir], check=True, stdout=subprocess.DEVNULL)
        r = subprocess.run([self.exe, "model", "init", "--preset", "tiny", "--seed", "1", "--out", os.path.join(self.dir, "base")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"model init failed: {r.stdout}{r.stderr}")
        self.lab.build()
        try:
            self.soak()
        finally:
            for p in self.procs:
                if p.alive():
                    p.signal(signal.SIGCONT)
                    p.signal(signal.SIGKILL)
                    p.wait(5)
            if self.immutable:
                self.set_immutable(False)
            self.lab.teardown()
        return self.report()

    def soak(self):
        a = self.args
        self.start_learner()
        for i in range(1, a.actors + 1):
            self.start_actor(i)
        if not self.wait_for(120, lambda: len(self.metric_lines) >= 2):
            raise RuntimeError(f"the cluster never trained; see {self.dir}")
        say(f"training; injecting faults for {a.duration:.0f} s (seed {a.seed})")
        # The schedule: every fault kind at least once, the rest drawn at random, in a seeded order.
        n = max(len(self.FAULTS), int(a.duration / a.spacing))
        kinds = self.FAULTS + [self.rng.choice(self.FAULTS) for _ in range(n - len(self.FAULTS))]
        self.rng.shuffle(kinds)
        start = time.monotonic()
        for k, kind in enumerate(kinds):
            target = start + a.duration * k / n
            self.sleep(max(0.0, target - time.monotonic()))
            self.inject(kind)
            # Let the cluster recover before the next fault (bounded: an unrecovered fault is reported as such).
            self.wait_for(30, lambda: self.events[-1]["recovered"] is not None)
        self.sleep(max(0.0, start + a.duration - time.monotonic()))
        self.wait_for(30, lambda: all(e["recovered"] is not None for e in self.events))
        # Orderly end: SIGTERM writes the exit checkpoint the audit reads.
        self.learner.expected_exit = True
        self.learner.signal(signal.SIGTERM)
        if self.learner.wait(60) is None:
            self.failures.append("the learner did not exit within 60 s of SIGTERM")
        for p in self.actors.values():
            p.signal(signal.SIGTERM)
        for p in self.actors.values():
            p.wait(20)
        self.poll_metrics()

    # MARK: audit and report

    def lineage(self):
        """Metric lines that survived: a resume from checkpoint step k drops the lines past k written before it."""
        kept = []
        for item in self.timeline:
            if item[0] == "resume":
                kept = [m for m in kept if m["step"] <= item[1]]
            else:
                kept.append(dict(item[2], _t=item[1]))
        return kept

    def report(self):
        lines = self.lineage()
        steps = [m["step"] for m in lines]
        if steps != list(range(1, len(steps) + 1)):
            gaps = [(a, b) for a, b in zip(steps, steps[1:]) if b != a + 1]
            self.failures.append(f"policy versions do not continue across restarts: jumps {gaps[:5]}")
        with open(os.path.join(self.run_dir, "checkpoint", "learner_state.json")) as f:
            state = json.load(f)
        cursor, outstanding = state["scheduleCursor"], set(state["outstandingPositions"])
        final_step = state["step"]
        if steps and final_step != steps[-1]:
            self.failures.append(f"the exit checkpoint is at step {final_step}, the last update was {steps[-1]}")
        seen, dup_at, trained = set(), [], []
        for m in lines:
            for p in m.get("positions") or []:
                if p in seen:
                    dup_at.append((p, m["_t"]))
                seen.add(p)
                trained.append((p, m["_t"]))
        lost = sorted(set(range(cursor)) - seen - outstanding)
        both = seen & outstanding
        if dup_at:
            self.failures.append(f"{len(dup_at)} position(s) trained twice: {[p for p, _ in dup_at][:10]}")
        if lost:
            self.failures.append(f"{len(lost)} position(s) lost (neither trained nor outstanding): {lost[:10]}")
        if both:
            self.failures.append(f"{len(both)} trained position(s) still outstanding: {sorted(both)[:10]}")

        # Attribute anomalies to the fault whose window they fall in (lost: when the lineage first passed them).
        def window(t):
            owner = None
            for e in self.events:
                if e["start"] <= t:
                    owner = e
            return owner
        per = {k: {"count": 0, "lost": 0, "dup": 0, "rec": [], "unrecovered": 0} for k in self.FAULTS}
        for e in self.events:
            r = per[e["fault"]]
            r["count"] += 1
            if e["recovered"] is None:
                r["unrecovered"] += 1
                self.failures.append(f"{e['fault']} at t={e['start'] - self.t0:.1f}s never recovered")
            else:
                r["rec"].append(e["recovered"])
        for _, t in dup_at:
            w = window(t)
            if w:
                per[w["fault"]]["dup"] += 1
        for p in lost:
            t = next((t for (q, t) in sorted(trained, key=lambda x: x[1]) if q > p), None)
            w = window(t) if t is not None else None
            if w:
                per[w["fault"]]["lost"] += 1

        print()
        print(f"chaos soak: seed {self.args.seed}, {self.args.duration:.0f} s of faults, {self.args.actors} actors, "
              f"{len(steps)} updates (steps 1..{steps[-1] if steps else 0}), schedule cursor {cursor}, "
              f"{len(seen)} positions trained, {len(outstanding)} outstanding, {len(self.resumes)} learner restart(s)")
        print()
        print("| fault | count | lost | duplicated | median recovery (s) | worst recovery (s) |")
        print("|---|---|---|---|---|---|")
        for k in self.FAULTS:
            r = per[k]
            med = f"{statistics.median(r['rec']):.1f}" if r["rec"] else "-"
            worst = f"{max(r['rec']):.1f}" if r["rec"] else "-"
            if r["unrecovered"]:
                worst = f"never ({r['unrecovered']})"
            print(f"| {k} | {r['count']} | {r['lost']} | {r['dup']} | {med} | {worst} |")
        print(f"| total | {len(self.events)} | {len(lost)} | {len(dup_at)} | | |")
        print()
        for (before, intact, logged) in self.checkpoint_checks:
            print(f"read-only run directory: checkpoint of step {before} {'intact and readable' if intact else 'CHANGED'}; "
                  f"'checkpoint failed' lines in the learner log so far: {logged}")
        if self.checkpoint_checks and all(c[2] == 0 for c in self.checkpoint_checks):
            self.failures.append("the run directory was read-only across a due checkpoint but the learner never logged a failed checkpoint")

        print()
        print("| process | lifetime (s) | samples | RSS 2nd quarter (MB) | RSS last quarter (MB) | growth (MB) | max (MB) |")
        print("|---|---|---|---|---|---|---|")
        for p in self.procs:
            if len(p.rss) < 8:
                continue
            n = len(p.rss)
            q2 = statistics.median(kb for _, kb in p.rss[n // 4: n // 2]) / 1024
            q4 = statistics.median(kb for _, kb in p.rss[3 * n // 4:]) / 1024
            mx = max(kb for _, kb in p.rss) / 1024
            growth = q4 - q2
            print(f"| {p.role} ({os.path.basename(p.log_path)}) | {p.rss[-1][0]:.0f} | {n} | {q2:.1f} | {q4:.1f} | {growth:+.1f} | {mx:.1f} |")
            if growth > max(self.args.rss_slack_mb, 0.25 * q2):
                self.failures.append(f"{p.role} ({os.path.basename(p.log_path)}) RSS grew {growth:.1f} MB")
        print()
        print(f"logs and run directory: {self.dir}")
        if self.failures:
            for f in self.failures:
                say(f"FAIL: {f}")
            return 1
        say("PASS: every position trained once or outstanding, versions continuous, checkpoints intact, all faults recovered")
        return 0


# A hostile peer, run as `python3 -c HOSTILE_PEER what endpoint actor_id pb_dir seed`.
HOSTILE_PEER = r'''
import os, random, sys, time, zmq
what, endpoint, aid, pb_dir, seed = sys.argv[1:6]
sys.path.insert(0, pb_dir)
import softrl_pb2 as pb
rng = random.Random(int(seed))
ctx = zmq.Context()
def dealer(identity=None):
    s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 0)
    if identity: s.setsockopt(zmq.IDENTITY, identity)
    s.connect(endpoint); return s
if what == "garbage":
    s = dealer()
    for i in range(300):
        kind = i % 4
        if kind == 0: frame = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif kind == 1: frame = pb.Envelope(protocol_version=99, sequence=i).SerializeToString()
        elif kind == 2:
            env = pb.Envelope(protocol_version=1, sequence=i); env.rollout_group.work_id = "p%d" % rng.randrange(100)
            frame = env.SerializeToString()
        else: frame = b"\x08\x01\x12\xff\xff\xff\x0f"
        s.send(frame)
    s.send_multipart([b"a", b"b", b"c"])
    replies = 0
    deadline = time.time() + 3
    while time.time() < deadline:
        if s.poll(200): s.recv(); replies += 1
    print("GARBAGE sent 301, replies", replies)
else:
    s = dealer()
    env = pb.Envelope(protocol_version=1, sequence=1)
    env.hello.actor_id = aid; env.hello.host = "twin"; env.hello.pid = 1; env.hello.slots = 2
    s.send(env.SerializeToString())
    deadline = time.time() + 5
    while time.time() < deadline:
        if s.poll(200):
            e = pb.Envelope(); e.ParseFromString(s.recv())
            if e.WhichOneof("body") == "error":
                print("REFUSED", e.error.code, e.error.message); break
            print("GOT", e.WhichOneof("body")); break
    else:
        print("NO ANSWER")
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--softrl", required=True, help="the softrl binary")
    ap.add_argument("--duration", type=float, default=300, help="seconds of fault injection")
    ap.add_argument("--spacing", type=float, default=12, help="mean seconds between faults")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--actors", type=int, default=3)
    ap.add_argument("--checkpoint-every", type=int, default=3)
    ap.add_argument("--rss-slack-mb", type=float, default=30, help="RSS growth allowed besides 25%% of the early level")
    ap.add_argument("--dir", help="working directory (default: a new temporary one)")
    args = ap.parse_args()
    if args.actors < 3:
        ap.error("the soak runs at least 3 actors")
    sys.exit(Soak(args).run())


if __name__ == "__main__":
    main()
