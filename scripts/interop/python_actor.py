#!/usr/bin/python3
"""A SoftRL actor written from proto/softrl.proto alone: the interop check that the wire contract is
language-neutral. It is not a model: it answers every work item with valid hard-mode rollouts that it makes
up (random thinking tokens, the right answer for even samples and a wrong one for odd samples), so the
learner has rewards to learn from. It only works for `jsonl:PATH` tasks, because it must know the prompt
tokens of each prompt index and reproduces the JSONL task's encoding (see Sources/Tasks/JSONLTask.swift):
vocabulary = <pad>,<bos>,<eos>,<eot> then the sorted distinct characters of train + test examples;
prompt = [<bos>] + chars; the train split is PATH (all of it when PATH.test.jsonl exists).

Usage: python_actor.py --connect tcp://HOST:PORT --id ID [--groups N] [--timeout S] [--pb-dir DIR]
Without --pb-dir the protobuf module is generated on the fly with scripts/gen-proto.sh --python TMPDIR.
Exit codes: 0 after N groups or the learner's "finished" Goodbye; 1 on a protocol problem; 2 on timeout.
Needs Debian's python3-zmq and python3-protobuf (run it with /usr/bin/python3).
"""
import argparse
import hashlib
import json
import math
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTOCOL_VERSION = 1
BOS, EOS, EOT = 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<eot>"]


def log(msg):
    print(f"python-actor: {msg}", flush=True)


def load_pb(pb_dir):
    if pb_dir is None:
        pb_dir = tempfile.mkdtemp(prefix="softrl-pb-")
        subprocess.run([os.path.join(ROOT, "scripts", "gen-proto.sh"), "--python", pb_dir], check=True,
                       stdout=subprocess.DEVNULL)
    sys.path.insert(0, pb_dir)
    import softrl_pb2  # noqa: E402  (generated)
    return softrl_pb2


def read_examples(path):
    examples = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            line = line[:-1] if line.endswith("\r") else line
            if not line.strip():
                continue
            obj = json.loads(line)
            examples.append((obj["prompt"], obj["answer"], obj.get("cot") or ""))
    return examples


class JSONLTask:
    """The parts of Tasks.JSONLTask the peer needs: train prompts, answers, the vocabulary."""

    def __init__(self, path):
        companion = path[:-len(".jsonl")] + ".test.jsonl" if path.endswith(".jsonl") else path + ".test.jsonl"
        if not os.path.exists(companion):
            raise SystemExit(f"python-actor: {path} has no {companion}; this peer only reproduces the "
                             "train split when the test split is a separate file")
        train = read_examples(path)
        test = read_examples(companion)
        chars = set()
        for p, a, c in train + test:
            chars.update(p, a, c)
        if any(ord(ch) > 127 for ch in chars):
            raise SystemExit("python-actor: non-ASCII data; Swift's Character order may differ from Python's")
        self.tokens = SPECIALS + sorted(chars)
        self.ids = {t: i for i, t in enumerate(self.tokens) if i >= len(SPECIALS)}
        self.train = train

    def encode(self, text):
        return [self.ids[ch] for ch in text]

    def prompt(self, index):
        return [BOS] + self.encode(self.train[index][0])

    def answer(self, index):
        return self.encode(self.train[index][1]) + [EOS]


class Peer:
    def __init__(self, args, pb):
        self.args, self.pb = args, pb
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, args.id.encode())
        self.sock.setsockopt(zmq.LINGER, 500)
        self.sock.connect(args.connect)
        self.sequence = 0
        self.welcome = None
        self.task = None
        self.sampler = None
        self.sampler_json = ""
        self.vocab_size = 0
        self.max_positions = 0
        self.heartbeat_s = 1.0
        self.loaded_version = -1
        self.notice = None
        self.fetching = None          # (version, {index: bytes}, chunk_count)
        self.queue = []
        self.requested = False
        self.groups_sent = 0
        self.rng = random.Random(args.seed)

    # -- wire --------------------------------------------------------------------------------------
    def send(self, field, msg):
        self.sequence += 1
        env = self.pb.Envelope(protocol_version=PROTOCOL_VERSION, sequence=self.sequence)
        getattr(env, field).CopyFrom(msg)
        self.sock.send(env.SerializeToString())

    def hello(self):
        self.send("hello", self.pb.Hello(actor_id=self.args.id, host=socket.gethostname(), pid=os.getpid(),
                                         cores=os.cpu_count() or 1, software_version="softrl python peer 0.1",
                                         slots=self.args.slots))

    # -- handlers ----------------------------------------------------------------------------------
    def on_welcome(self, w):
        if not w.task_name.startswith("jsonl:"):
            raise SystemExit(f"python-actor: task {w.task_name!r} is not jsonl:PATH; this peer cannot build its prompts")
        self.task = JSONLTask(w.task_name[len("jsonl:"):])
        self.sampler_json = w.sampler_config_json
        self.sampler = json.loads(w.sampler_config_json)
        if self.sampler.get("mode") != "hard":
            raise SystemExit(f"python-actor: sampler mode {self.sampler.get('mode')!r}; this peer only makes hard rollouts")
        model = json.loads(w.model_config_json)
        self.vocab_size = int(model["vocab_size"])
        self.max_positions = int(model["max_position_embeddings"])
        if len(self.task.tokens) > self.vocab_size:
            raise SystemExit(f"python-actor: task vocabulary {len(self.task.tokens)} exceeds the model's {self.vocab_size}")
        if w.weights_format not in ("", "f32-flat-v1", "bf16-flat-v1"):
            raise SystemExit(f"python-actor: weights format {w.weights_format!r} is not f32-flat-v1 or bf16-flat-v1")
        self.heartbeat_s = max(0.05, w.heartbeat_interval_ms / 1000)
        self.welcome = w
        log(f"welcomed to run {w.run_id}: task {w.task_name}, policy v{w.policy_version}, "
            f"vocab {len(self.task.tokens)}/{self.vocab_size}, thinking<={self.sampler['maxThinkingSteps']}, "
            f"answer<={self.sampler['maxAnswerTokens']}")

    def on_chunk(self, c):
        if self.fetching is None or c.version != self.fetching[0]:
            return
        version, chunks, _ = self.fetching
        if c.sha256 != self.notice.sha256 or c.total_bytes != self.notice.size_bytes:
            raise SystemExit(f"python-actor: chunk {c.chunk_index} of v{version} disagrees with its notice")
        chunks[c.chunk_index] = bytes(c.data)
        missing = [i for i in range(c.chunk_count) if i not in chunks]
        if missing:
            self.fetching = (version, chunks, c.chunk_count)
            self.send("fetch_weights", self.pb.FetchWeights(version=version, chunk_index=missing[0]))
            return
        blob = b"".join(chunks[i] for i in range(c.chunk_count))
        digest = hashlib.sha256(blob).hexdigest()
        if len(blob) != self.notice.size_bytes or digest != self.notice.sha256:
            raise SystemExit(f"python-actor: weights v{version}: {len(blob)} bytes, sha256 {digest}; "
                             f"notice said {self.notice.size_bytes} bytes, {self.notice.sha256}")
        if self.welcome.weights_format == "bf16-flat-v1":   # little-endian uint16, the top half of an fp32
            if len(blob) % 2:
                raise SystemExit("python-actor: weights blob is not a whole number of bf16 values")
            halves = struct.unpack(f"<{len(blob) // 2}H", blob)
            floats = struct.unpack(f"<{len(halves)}f", struct.pack(f"<{len(halves)}I", *(h << 16 for h in halves)))
        else:
            if len(blob) % 4:
                raise SystemExit("python-actor: weights blob is not a whole number of fp32 values")
            floats = struct.unpack(f"<{len(blob) // 4}f", blob)
        if not all(math.isfinite(x) for x in floats):
            raise SystemExit(f"python-actor: weights v{version} hold non-finite values")
        self.loaded_version = version
        self.fetching = None
        log(f"loaded policy v{version}: {len(floats)} parameters ({self.welcome.weights_format or 'f32-flat-v1'}), sha256 {digest[:16]}... verified")

    # -- rollouts ----------------------------------------------------------------------------------
    def rollout(self, prompt_index, sample_index):
        s = self.sampler
        lp = -math.log(self.vocab_size)   # a finite behaviour log-probability (uniform policy)
        ordinary = list(range(len(SPECIALS), len(self.task.tokens)))
        prompt = self.task.prompt(prompt_index)
        r = self.pb.Rollout(prompt_token_ids=prompt, sampler="python-peer-hard", policy_version=self.loaded_version,
                            sample_index=sample_index, noise_sigma=0.0, sampler_config_json=self.sampler_json)
        limit = int(s["maxThinkingSteps"])
        forced = sample_index % 3 == 2 and limit > 0
        n = limit if forced else self.rng.randint(0, max(0, min(3, limit - 1)))
        for _ in range(n):
            r.steps.add(token_id=self.rng.choice(ordinary), behaviour_logprob=lp, shadow_token=-1)
        if forced:
            r.thinking_end = self.pb.THINKING_END_FORCED
            r.forced_end = True
            r.thinking_length = n
        else:
            r.steps.add(token_id=EOT, behaviour_logprob=lp, shadow_token=-1)   # sampled end of thinking
            r.thinking_end = self.pb.THINKING_END_SAMPLED
            r.thinking_length = n
        if sample_index % 2 == 0:
            answer = self.task.answer(prompt_index)
        else:
            wrong = self.task.train[(prompt_index + 1) % len(self.task.train)][1]
            answer = self.task.encode(wrong) + [EOS]
        answer = answer[:int(s["maxAnswerTokens"])]
        r.answer_token_ids.extend(answer)
        r.answer_logprobs.extend([lp] * len(answer))
        r.claimed_reward = 0.0
        assert len(prompt) + len(r.steps) + 1 + len(answer) <= self.max_positions
        return r, len(r.steps) + len(answer)

    def work(self, item):
        start = time.monotonic()
        g = self.pb.RolloutGroup(work_id=item.work_id, actor_id=self.args.id, policy_version=self.loaded_version,
                                 prompt_index=item.prompt_index)
        tokens = 0
        for k in range(item.group_size):
            r, t = self.rollout(item.prompt_index, k)
            g.rollouts.append(r)
            tokens += t
        g.timings.generate_ms = max(0.001, (time.monotonic() - start) * 1000)
        g.timings.tokens = tokens
        self.send("rollout_group", g)
        self.groups_sent += 1
        log(f"sent group {self.groups_sent} for {item.work_id} (prompt {item.prompt_index}, {item.group_size} rollouts, v{self.loaded_version})")

    # -- loop --------------------------------------------------------------------------------------
    def run(self):
        self.hello()
        deadline = time.monotonic() + self.args.timeout
        last_hb = 0.0
        while True:
            if time.monotonic() > deadline:
                log(f"timed out after {self.args.timeout} s with {self.groups_sent} group(s) sent")
                return 2
            if self.sock.poll(20):
                while self.sock.poll(0):
                    frames = self.sock.recv_multipart()
                    if len(frames) != 1:
                        log(f"dropped a {len(frames)}-frame message")
                        continue
                    env = self.pb.Envelope()
                    env.ParseFromString(frames[0])
                    if env.protocol_version != PROTOCOL_VERSION:
                        log(f"learner speaks protocol {env.protocol_version}")
                        return 1
                    kind = env.WhichOneof("body")
                    if kind == "welcome":
                        self.on_welcome(env.welcome)
                    elif kind == "version_notice":
                        self.notice = env.version_notice
                    elif kind == "weights_chunk":
                        self.on_chunk(env.weights_chunk)
                    elif kind == "work":
                        self.queue.extend(env.work.items)
                        self.requested = False
                    elif kind == "heartbeat":
                        pass
                    elif kind == "goodbye":
                        log(f"learner said goodbye: {env.goodbye.reason}")
                        if env.goodbye.run_finished:
                            return 0
                        return 1
                    elif kind == "error":
                        log(f"learner error {env.error.code}: {env.error.message}")
                        if env.error.code == 3:
                            self.hello()
                            self.requested = False
                        else:
                            return 1
                    else:
                        log(f"unexpected {kind}; ignored")
            now = time.monotonic()
            if self.welcome is not None:
                if self.notice is not None and self.notice.version > self.loaded_version:
                    if self.fetching is None or self.fetching[0] != self.notice.version:
                        self.fetching = (self.notice.version, {}, None)
                        self.send("fetch_weights", self.pb.FetchWeights(version=self.notice.version, chunk_index=0))
                elif self.loaded_version >= 0 and self.queue:
                    self.work(self.queue.pop(0))
                    if self.args.groups and self.groups_sent >= self.args.groups:
                        self.send("goodbye", self.pb.Goodbye(reason=f"python peer done after {self.groups_sent} group(s)"))
                        return 0
                elif self.loaded_version >= 0 and not self.requested:
                    self.send("work_request", self.pb.WorkRequest(actor_id=self.args.id, free_slots=self.args.slots))
                    self.requested = True
            if now - last_hb > self.heartbeat_s:
                last_hb = now
                self.send("heartbeat", self.pb.Heartbeat(policy_version=max(self.loaded_version, 0), busy_slots=0))

    def close(self):
        self.sock.close(500)
        self.ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connect", required=True)
    ap.add_argument("--id", default=f"py-{socket.gethostname()}-{os.getpid()}")
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--groups", type=int, default=0, help="leave after this many groups (0: until the run finishes)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pb-dir", help="directory holding softrl_pb2.py (default: generate it now)")
    args = ap.parse_args()
    peer = Peer(args, load_pb(args.pb_dir))
    try:
        code = peer.run()
    finally:
        peer.close()
    log(f"exiting with {code} after {peer.groups_sent} group(s)")
    sys.exit(code)


if __name__ == "__main__":
    main()
