#!/usr/bin/python3
"""A SoftRL actor written from proto/softrl.proto alone: the interop check that the wire contract is
language-neutral. It takes everything from the wire: the prompt from WorkItem.prompt_token_ids, the token rules
and limits from Welcome, the model's shape from Welcome.model_config_json, its weights from the blob
(Welcome.weights_format: f32-flat-v1 or bf16-flat-v1), and the sampler settings from the keys of
Welcome.sampler_config_json that the proto documents. It runs a Hugging Face Llama forward pass in numpy (fp32,
with a KV cache) and generates hard, soft and fuzzy rollouts whose behaviour log-probabilities follow the proto's
rules and docs/PROTOCOL.md (the noise, the mixture, where thinking ends), so the learner's recomputed
log-probabilities must agree with them to rounding.

Usage: python_actor.py --connect tcp://HOST:PORT --id ID [--groups N] [--timeout S] [--pb-dir DIR] [--bug BUG]
--bug makes it a faulty peer on purpose, to check the learner notices: "hard-at-t1" samples and records hard
steps at temperature 1 whatever hardTemperature says; "feed-then-insert" feeds and records the soft step at the
position whose argmax is end-of-thinking and inserts end-of-thinking after it (the rule is: instead of it);
"feed-then-insert-hiding" does the same but records another shadow token there, so only the learner's own forward
pass can tell.
Without --pb-dir the protobuf module is generated on the fly with scripts/gen-proto.sh --python TMPDIR.
Exit codes: 0 after N groups or the learner's "finished" Goodbye; 1 on a protocol problem; 2 on timeout;
3 when numpy is missing.
Needs Debian's python3-zmq, python3-protobuf and python3-numpy (run it with /usr/bin/python3).
"""
import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import zmq

try:
    import numpy as np
except ImportError:
    print("python-actor: numpy is missing (apt-get install python3-numpy)", flush=True)
    sys.exit(3)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTOCOL_VERSION = 1   # Envelope.protocol_version


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


# -- the model (Welcome.model_config_json + Welcome.weights_format) ---------------------------------------------

class Llama:
    """Hugging Face LlamaForCausalLM in numpy, fp32: RMSNorm, rotate-half RoPE, grouped-query attention with a
    causal mask, SwiGLU MLP, tied or untied LM head. Weights come from the flat blob in the documented order."""

    def __init__(self, cfg, flat):
        self.V = int(cfg["vocab_size"])
        self.d = int(cfg["hidden_size"])
        self.ff = int(cfg["intermediate_size"])
        self.L = int(cfg["num_hidden_layers"])
        self.H = int(cfg["num_attention_heads"])
        self.KV = int(cfg.get("num_key_value_heads", self.H))
        self.hd = int(cfg.get("head_dim") or self.d // self.H)
        self.eps = np.float32(cfg.get("rms_norm_eps", 1e-6))
        self.theta = float(cfg.get("rope_theta", 10000.0))
        self.max_pos = int(cfg.get("max_position_embeddings", 2048))
        tied = bool(cfg.get("tie_word_embeddings", False))
        if self.H % self.KV or self.hd % 2:
            raise ValueError(f"num_attention_heads {self.H} is not a multiple of num_key_value_heads {self.KV}, "
                             f"or head_dim {self.hd} is odd")
        d, q, kv, ff = self.d, self.H * self.hd, self.KV * self.hd, self.ff
        # The documented order: embed_tokens, per layer (input_layernorm, q, k, v, o, post_attention_layernorm,
        # gate, up, down), norm, lm_head unless tied. Row-major, Hugging Face shapes (Linear: (out, in)).
        shapes = [("embed", (self.V, d))]
        for i in range(self.L):
            shapes += [(f"{i}.in_norm", (d,)), (f"{i}.q", (q, d)), (f"{i}.k", (kv, d)), (f"{i}.v", (kv, d)),
                       (f"{i}.o", (d, q)), (f"{i}.post_norm", (d,)), (f"{i}.gate", (ff, d)), (f"{i}.up", (ff, d)),
                       (f"{i}.down", (d, ff))]
        shapes.append(("norm", (d,)))
        if not tied:
            shapes.append(("lm_head", (self.V, d)))
        need = sum(int(np.prod(s)) for _, s in shapes)
        if flat.size != need:
            raise ValueError(f"weights blob holds {flat.size} parameters, model_config_json needs {need}")
        self.w, off = {}, 0
        for name, shape in shapes:
            n = int(np.prod(shape))
            self.w[name] = flat[off:off + n].reshape(shape)
            off += n
        self.head = self.w["embed"] if tied else self.w["lm_head"]
        # RoPE as Hugging Face computes it: inv_freq and position * inv_freq in fp32.
        inv_freq = (1.0 / (self.theta ** (np.arange(0, self.hd, 2, dtype=np.int64).astype(np.float32) / self.hd))).astype(np.float32)
        angles = np.arange(self.max_pos, dtype=np.float32)[:, None] * inv_freq[None, :]
        self.cos, self.sin = np.cos(angles), np.sin(angles)   # (max_pos, hd/2)

    def rmsnorm(self, x, w):
        var = np.mean(x * x, axis=-1, keepdims=True)
        return (x / np.sqrt(var + self.eps)) * w

    def rope(self, x, start):
        # x: (B, heads, n, hd); rotate-half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
        n, h = x.shape[2], self.hd // 2
        c, s = self.cos[start:start + n], self.sin[start:start + n]
        x1, x2 = x[..., :h], x[..., h:]
        return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)

    def forward(self, tokens, cache, vectors=None):
        """tokens: (B, n) ids at positions len(cache) .. len(cache) + n - 1; cache: list of per-layer (K, V),
        extended in place; vectors: optional (B, n, d) fp32 inputs fed instead of the embedding wherever the token
        is -1 (soft steps). Returns fp32 logits (B, n, V)."""
        B, n = tokens.shape
        start = cache[0][0].shape[2] if cache else 0
        if start + n > self.max_pos:
            raise ValueError(f"{start + n} positions exceed max_position_embeddings {self.max_pos}")
        x = self.w["embed"][np.maximum(tokens, 0)]       # (B, n, d)
        if vectors is not None:
            x = np.where((tokens < 0)[..., None], vectors, x).astype(np.float32)
        g = self.H // self.KV
        mask = np.arange(start + n)[None, :] > (start + np.arange(n))[:, None]   # (n, S): future keys
        for i in range(self.L):
            h = self.rmsnorm(x, self.w[f"{i}.in_norm"])
            q = (h @ self.w[f"{i}.q"].T).reshape(B, n, self.H, self.hd).transpose(0, 2, 1, 3)
            k = (h @ self.w[f"{i}.k"].T).reshape(B, n, self.KV, self.hd).transpose(0, 2, 1, 3)
            v = (h @ self.w[f"{i}.v"].T).reshape(B, n, self.KV, self.hd).transpose(0, 2, 1, 3)
            q, k = self.rope(q, start), self.rope(k, start)
            if len(cache) <= i:
                cache.append((k, v))
            else:
                cache[i] = (np.concatenate([cache[i][0], k], axis=2), np.concatenate([cache[i][1], v], axis=2))
            K, Vv = cache[i]                                   # (B, KV, S, hd)
            qg = q.reshape(B, self.KV, g, n, self.hd)          # query head j uses key/value head j // g
            scores = np.einsum("bkgnd,bksd->bkgns", qg, K) / np.float32(np.sqrt(self.hd))
            scores = np.where(mask, np.float32(-np.inf), scores)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            att = np.einsum("bkgns,bksd->bkgnd", probs, Vv).reshape(B, self.H, n, self.hd)
            att = att.transpose(0, 2, 1, 3).reshape(B, n, self.H * self.hd)
            x = x + att @ self.w[f"{i}.o"].T
            h = self.rmsnorm(x, self.w[f"{i}.post_norm"])
            gate, up = h @ self.w[f"{i}.gate"].T, h @ self.w[f"{i}.up"].T
            x = x + ((gate / (np.float32(1) + np.exp(-gate))) * up) @ self.w[f"{i}.down"].T
        return self.rmsnorm(x, self.w["norm"]) @ self.head.T


def decode_blob(blob, fmt):
    """The weights blob as fp32 (Welcome.weights_format)."""
    if fmt in ("", "f32-flat-v1"):
        if len(blob) % 4:
            raise ValueError("f32-flat-v1 blob is not a whole number of fp32 values")
        return np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if fmt == "bf16-flat-v1":   # little-endian uint16, the top half of an fp32: widening is exact
        if len(blob) % 2:
            raise ValueError("bf16-flat-v1 blob is not a whole number of bf16 values")
        return (np.frombuffer(blob, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    raise ValueError(f"weights format {fmt!r} is not f32-flat-v1 or bf16-flat-v1")


# -- the sampler (Welcome.sampler_config_json, Rollout / Step comments) ----------------------------------------

class Sampler:
    """The step rules of the proto and docs/PROTOCOL.md. Hard: thinking tokens from softmax(logits / hardTemperature),
    truncated by topK / topP / minP and renormalised. Soft and fuzzy: p = softmax(logits / softTemperature or
    fuzzyTemperature), truncated the same way; the fed vector is p^T E plus N(0, sigma^2 I) noise with sigma =
    noiseScale * sqrt(mean(E^2)); its log-density is -||x - p^T E||^2 / (2 sigma^2). Answer tokens from softmax(logits)
    at temperature 1, full vocabulary."""

    def __init__(self, settings, max_thinking, max_answer, bug=None):
        self.mode = settings.get("mode", "soft")
        if self.mode not in ("hard", "soft", "fuzzy"):
            raise ValueError(f"sampler mode {self.mode!r}: this peer generates hard, soft and fuzzy modes")
        if settings.get("greedy"):
            raise ValueError("greedy sampler settings are for evaluation, not training")
        self.temperature = float({"hard": settings.get("hardTemperature", 1.0), "soft": settings.get("softTemperature", 0.5),
                                  "fuzzy": settings.get("fuzzyTemperature", 1e-4)}[self.mode])
        if bug == "hard-at-t1":
            self.temperature = 1.0
        self.noise_scale = float(settings.get("noiseScale", 0.33))
        self.top_k, self.top_p, self.min_p = settings.get("topK"), settings.get("topP"), settings.get("minP")
        self.answer_greedy = bool(settings.get("answerGreedy", False))
        self.max_thinking, self.max_answer = max_thinking, max_answer

    def thinking_distribution(self, logits):
        """(support ids ascending, probabilities over them), in float64 from fp32 logits."""
        z = logits.astype(np.float64)
        p = np.exp((z - z.max()) / self.temperature)
        p /= p.sum()
        if self.top_k is None and self.top_p is None and self.min_p is None:
            return np.arange(len(p)), p
        order = sorted(range(len(p)), key=lambda i: (-p[i], i))   # most probable first, ties by lower id
        keep, total = [], 0.0
        for rank, i in enumerate(order):
            if self.top_k is not None and rank >= self.top_k:
                break
            if self.min_p is not None and rank > 0 and p[i] < self.min_p * p[order[0]]:
                break
            keep.append(i)
            total += p[i]
            if self.top_p is not None and total >= self.top_p:
                break
        support = np.array(sorted(keep))
        q = p[support]
        return support, q / q.sum()


def draw(rng, probs):
    return int(rng.choice(len(probs), p=probs))


def answer_logprob(logits, tok):
    z = logits.astype(np.float64)
    m = z.max()
    return float(z[tok] - (m + np.log(np.exp(z - m).sum())))


# -- the peer ---------------------------------------------------------------------------------------------------

class Peer:
    def __init__(self, args, pb):
        self.args, self.pb = args, pb
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 500)
        self.sock.connect(args.connect)
        self.sequence = 0
        self.welcome = None
        self.model_cfg = None
        self.model = None
        self.loaded_version = -1
        self.notice = None
        self.fetching = None          # (version, {index: bytes})
        self.queue = []               # (WorkItem, Work.sampler_config_json)
        self.requested = False
        self.groups_sent = 0
        self.ends = {"sampled": 0, "shadow": 0, "forced": 0}
        self.heartbeat_s = 1.0
        self.last_heartbeat = 0.0

    # -- wire --------------------------------------------------------------------------------------------------
    def send(self, field, msg):
        self.sequence += 1
        env = self.pb.Envelope(protocol_version=PROTOCOL_VERSION, sequence=self.sequence)
        getattr(env, field).CopyFrom(msg)
        self.sock.send(env.SerializeToString())

    def hello(self):
        self.send("hello", self.pb.Hello(actor_id=self.args.id, host=socket.gethostname(), pid=os.getpid(),
                                         cores=os.cpu_count() or 1, software_version="softrl python peer 0.2",
                                         slots=1))

    def heartbeat_if_due(self):
        """The liveness rule: something every heartbeat_interval_ms, also while a group is being generated."""
        now = time.monotonic()
        if now - self.last_heartbeat >= self.heartbeat_s:
            self.last_heartbeat = now
            self.send("heartbeat", self.pb.Heartbeat(policy_version=max(self.loaded_version, 0),
                                                     busy_slots=1 if self.generating else 0))

    # -- handlers ----------------------------------------------------------------------------------------------
    def on_welcome(self, w):
        cfg = json.loads(w.model_config_json)
        self.sampler = Sampler(json.loads(w.sampler_config_json), w.max_thinking_steps, w.max_answer_tokens, self.args.bug)
        decode_blob(b"", w.weights_format)   # refuse an unknown format now, not after the download
        if self.model_cfg is not None and cfg != self.model_cfg:
            self.model, self.loaded_version = None, -1
        self.model_cfg = cfg
        self.eot, self.eos = w.end_of_thinking_token, w.end_of_sequence_token
        self.heartbeat_s = max(0.05, w.heartbeat_interval_ms / 1000)
        self.welcome = w
        vocab = f"{len(w.vocabulary)} token vocabulary" if w.vocabulary else "no vocabulary"
        log(f"welcomed to run {w.run_id}: task {w.task_name} ({vocab}), policy v{w.policy_version}, "
            f"model {cfg['num_hidden_layers']} layers d={cfg['hidden_size']} V={cfg['vocab_size']}, "
            f"{self.sampler.mode} T={self.sampler.temperature}, thinking<={w.max_thinking_steps}, answer<={w.max_answer_tokens}, "
            f"eot {self.eot}, eos {self.eos}, weights {w.weights_format or 'f32-flat-v1'}")

    def on_chunk(self, c):
        if self.fetching is None or c.version != self.fetching[0]:
            return
        version, chunks = self.fetching
        if c.sha256 != self.notice.sha256 or c.total_bytes != self.notice.size_bytes:
            raise SystemExit(f"python-actor: chunk {c.chunk_index} of v{version} disagrees with its notice")
        chunks[c.chunk_index] = bytes(c.data)
        missing = [i for i in range(c.chunk_count) if i not in chunks]
        if missing:
            self.send("fetch_weights", self.pb.FetchWeights(version=version, chunk_index=missing[0]))
            return
        blob = b"".join(chunks[i] for i in range(c.chunk_count))
        digest = hashlib.sha256(blob).hexdigest()
        if len(blob) != self.notice.size_bytes or digest != self.notice.sha256:
            raise SystemExit(f"python-actor: weights v{version}: {len(blob)} bytes, sha256 {digest}; "
                             f"notice said {self.notice.size_bytes} bytes, {self.notice.sha256}")
        flat = decode_blob(blob, self.welcome.weights_format)
        if not np.all(np.isfinite(flat)):
            raise SystemExit(f"python-actor: weights v{version} hold non-finite values")
        self.model = Llama(self.model_cfg, flat)
        self.loaded_version = version
        self.fetching = None
        log(f"loaded policy v{version}: {flat.size} parameters ({self.welcome.weights_format or 'f32-flat-v1'}), "
            f"sha256 {digest[:16]}... verified")

    # -- rollouts ----------------------------------------------------------------------------------------------
    def noise_sigma(self, sampler):
        """sigma = noiseScale * sqrt(mean of E_ij^2) over the embedding matrix as held (bf16-rounded on a bf16 wire)."""
        e = self.model.w["embed"].astype(np.float64)
        return sampler.noise_scale * float(np.sqrt(np.mean(e * e)))

    def generate(self, item, sampler):
        """group_size rollouts of item's prompt, all rows in lock step (same prompt, same position)."""
        m, B = self.model, item.group_size
        prompt = list(item.prompt_token_ids)
        rngs = [np.random.default_rng([item.seed, k]) for k in range(B)]
        sigma = self.noise_sigma(sampler) if sampler.mode != "hard" else 0.0
        E64 = m.w["embed"].astype(np.float64)
        bug = self.args.bug
        cache = []
        logits = np.repeat(m.forward(np.array([prompt]), cache)[:, -1], B, axis=0)
        cache[:] = [(np.repeat(k, B, axis=0), np.repeat(v, B, axis=0)) for k, v in cache]
        rows = [dict(steps=[], answer=[], answer_lp=[], end=None, phase="thinking") for _ in range(B)]
        while True:
            fed = np.zeros(B, dtype=np.int64)
            vectors = np.zeros((B, m.d), dtype=np.float32)
            active = False
            for b, r in enumerate(rows):
                l = logits[b]
                if r["phase"] == "insert":                           # the buggy peer's end-of-thinking after its step
                    r["phase"], fed[b] = "answering", self.eot
                    active = True
                elif r["phase"] == "thinking":
                    shadow = int(np.argmax(l))                       # the greedy shadow: first maximum of the fp32 logits
                    if len(r["steps"]) >= sampler.max_thinking:      # forced: eot is fed, not an action
                        r["end"], r["phase"], fed[b] = "forced", "answering", self.eot
                    elif sampler.mode == "hard":
                        support, p = sampler.thinking_distribution(l)
                        k = draw(rngs[b], p)
                        tok = int(support[k])
                        r["steps"].append((tok, float(np.log(p[k])), shadow, None))
                        fed[b] = tok
                        if tok == self.eot:
                            r["end"], r["phase"] = "sampled", "answering"
                    elif shadow == self.eot and bug not in ("feed-then-insert", "feed-then-insert-hiding"):
                        # The end rule: at the position whose argmax is end-of-thinking, no step is fed or recorded;
                        # end-of-thinking is inserted instead (not an action).
                        r["end"], r["phase"], fed[b] = "shadow", "answering", self.eot
                    else:
                        support, p = sampler.thinking_distribution(l)
                        mu = p @ E64[support]                        # p^T E over the kept tokens, float64
                        x = (mu + sigma * rngs[b].standard_normal(m.d)).astype(np.float32)
                        lp = -float(np.sum((x.astype(np.float64) - mu) ** 2)) / (2 * sigma * sigma)
                        recorded_shadow = shadow
                        if shadow == self.eot:                       # only the buggy peers get here
                            r["end"], r["phase"] = "shadow", "insert"
                            if bug == "feed-then-insert-hiding":
                                recorded_shadow = int(np.argsort(-l, kind="stable")[1])
                        r["steps"].append((-1, lp, recorded_shadow, x))
                        fed[b], vectors[b] = -1, x
                    active = True
                elif r["phase"] == "answering":
                    z = l.astype(np.float64)
                    if sampler.answer_greedy:
                        tok = int(np.argmax(z))
                    else:
                        p = np.exp(z - z.max())
                        tok = draw(rngs[b], p / p.sum())
                    r["answer"].append(tok)
                    r["answer_lp"].append(answer_logprob(l, tok))
                    if tok == self.eos or len(r["answer"]) >= sampler.max_answer:
                        r["phase"] = "done"
                    else:
                        fed[b] = tok
                        active = True
                # done rows are fed a dummy token; their outputs are never read
            if not active:
                break
            self.heartbeat_if_due()
            logits = m.forward(fed[:, None], cache, vectors[:, None, :])[:, -1]
        return prompt, rows, sigma

    def work(self, item, sampler_json):
        start = time.monotonic()
        sampler_json = sampler_json or self.welcome.sampler_config_json
        sampler = self.sampler
        if sampler_json != self.welcome.sampler_config_json:   # Work's override
            s = json.loads(sampler_json)
            sampler = Sampler(s, int(s["maxThinkingSteps"]), int(s["maxAnswerTokens"]), self.args.bug)
        self.generating = True
        prompt, rows, sigma = self.generate(item, sampler)
        self.generating = False
        g = self.pb.RolloutGroup(work_id=item.work_id, actor_id=self.args.id, policy_version=self.loaded_version,
                                 prompt_index=item.prompt_index)
        tokens = len(prompt)
        ends = {"sampled": self.pb.THINKING_END_SAMPLED, "shadow": self.pb.THINKING_END_SHADOW, "forced": self.pb.THINKING_END_FORCED}
        for k, r in enumerate(rows):
            w = self.pb.Rollout(prompt_token_ids=prompt, sampler=f"python-numpy-{sampler.mode}", policy_version=self.loaded_version,
                                sample_index=k, noise_sigma=sigma, sampler_config_json=sampler_json,
                                thinking_end=ends[r["end"]], forced_end=r["end"] == "forced",
                                thinking_length=len(r["steps"]) - (1 if r["end"] == "sampled" else 0))
            for tok, lp, shadow, x in r["steps"]:
                step = w.steps.add(token_id=tok, behaviour_logprob=lp, shadow_token=shadow)
                if x is not None:
                    step.vector.CopyFrom(self.pb.Tensor(dtype="f32", shape=[len(x)], data=x.astype("<f4").tobytes()))
            w.answer_token_ids.extend(r["answer"])
            w.answer_logprobs.extend(r["answer_lp"])
            g.rollouts.append(w)
            self.ends[r["end"]] += 1
            tokens += len(r["steps"]) + len(r["answer"])
        g.timings.generate_ms = max(0.001, (time.monotonic() - start) * 1000)
        g.timings.tokens = tokens
        self.send("rollout_group", g)
        self.groups_sent += 1
        log(f"sent group {self.groups_sent} for {item.work_id} (prompt {item.prompt_index}, {item.group_size} rollouts, "
            f"v{self.loaded_version}, {g.timings.generate_ms:.0f} ms, thinking steps "
            f"{[str(len(r['steps'])) + r['end'][0].upper() for r in rows]}, answers {[len(r['answer']) for r in rows]})")

    # -- loop --------------------------------------------------------------------------------------------------
    def run(self):
        self.generating = False
        self.hello()
        deadline = time.monotonic() + self.args.timeout
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
                        try:
                            self.on_welcome(env.welcome)
                        except (ValueError, KeyError) as e:
                            log(f"cannot work for this learner: {e}")
                            return 1
                    elif kind == "version_notice":
                        self.notice = env.version_notice
                    elif kind == "weights_chunk":
                        self.on_chunk(env.weights_chunk)
                    elif kind == "work":
                        self.queue.extend((it, env.work.sampler_config_json, env.work.policy_version) for it in env.work.items)
                        self.requested = False
                    elif kind == "heartbeat":
                        pass
                    elif kind == "goodbye":
                        log(f"learner said goodbye: {env.goodbye.reason}")
                        return 0 if env.goodbye.run_finished else 1
                    elif kind == "error":
                        log(f"learner error {env.error.code}: {env.error.message}")
                        if env.error.code == 3:
                            self.hello()
                            self.requested = False
                        elif env.error.code != 4:   # 4: a VersionNotice with the current version follows
                            return 1
                    else:
                        log(f"unexpected {kind}; ignored")
            if self.welcome is not None:
                if self.notice is not None and self.notice.version > self.loaded_version:
                    if self.fetching is None or self.fetching[0] != self.notice.version:
                        self.fetching = (self.notice.version, {})
                        self.send("fetch_weights", self.pb.FetchWeights(version=self.notice.version, chunk_index=0))
                elif self.queue and self.queue[0][2] <= self.loaded_version:
                    item, sampler_json, _ = self.queue.pop(0)
                    self.work(item, sampler_json)
                    if self.args.groups and self.groups_sent >= self.args.groups:
                        self.send("goodbye", self.pb.Goodbye(reason=f"python peer done after {self.groups_sent} group(s)"))
                        return 0
                elif self.loaded_version >= 0 and not self.queue and not self.requested:
                    self.send("work_request", self.pb.WorkRequest(actor_id=self.args.id, free_slots=1))
                    self.requested = True
            self.heartbeat_if_due()

    def close(self):
        self.sock.close(500)
        self.ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connect", required=True)
    ap.add_argument("--id", default=f"py-{socket.gethostname()}-{os.getpid()}")
    ap.add_argument("--groups", type=int, default=0, help="leave after this many groups (0: until the run finishes)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--pb-dir", help="directory holding softrl_pb2.py (default: generate it now)")
    ap.add_argument("--bug", choices=["hard-at-t1", "feed-then-insert", "feed-then-insert-hiding"],
                    help="behave like a faulty peer (see the module docstring)")
    args = ap.parse_args()
    peer = Peer(args, load_pb(args.pb_dir))
    try:
        code = peer.run()
    finally:
        peer.close()
    log(f"exiting with {code} after {peer.groups_sent} group(s); thinking ended {peer.ends['sampled']} time(s) "
        f"sampled, {peer.ends['shadow']} time(s) by the shadow, {peer.ends['forced']} time(s) forced")
    sys.exit(code)


if __name__ == "__main__":
    main()
