#!/usr/bin/env python3
"""Jobs across replicas under chaos (issue 15). Loopback only, bounded in time.

Driven by bench/chaos_jobs.sh (which builds the binaries). Needs: the speech-coach binary
(SPEECH_COACH_BIN), examples/fake_asr (FAKE_ASR_BIN), redis-server on PATH.

1. Throughput: JOBS distinct uploads through 1, 2 and 3 replicas (one analysis slot and one
   worker each), the fake recogniser spending ASR_CPU_MS of CPU per call; jobs/s and the ratio
   to one replica.
2. Chaos: CHAOS_JOBS distinct uploads over 3 replicas while one replica (chosen at random) is
   killed with SIGKILL and restarted every KILL_EVERY_SEC; then checks that every job is done,
   exactly one `done` event per job, nothing left in the stream, upload budget back to 0.

Prints one JSON object with everything measured; exits 1 if a check fails.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ["SPEECH_COACH_BIN"]
FAKE_ASR = os.environ["FAKE_ASR_BIN"]
JOBS = int(os.environ.get("JOBS", "30"))
CHAOS_JOBS = int(os.environ.get("CHAOS_JOBS", "200"))
ASR_CPU_MS = int(os.environ.get("ASR_CPU_MS", "300"))
KILL_EVERY_SEC = float(os.environ.get("KILL_EVERY_SEC", "4"))
DOWN_SEC = float(os.environ.get("DOWN_SEC", "1"))
HEARTBEAT_MS = os.environ.get("JOB_HEARTBEAT_MS", "200")
TIME_LIMIT = float(os.environ.get("TIME_LIMIT_SEC", "900"))
PREFIX = "speech-coach:jobs:"
started = time.time()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def check_time():
    if time.time() - started > TIME_LIMIT:
        raise SystemExit(f"time limit {TIME_LIMIT}s exceeded")


# --- a minimal RESP client ------------------------------------------------------------------


class Redis:
    def __init__(self, port):
        self.port = port

    def cmd(self, *args):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        out = f"*{len(args)}\r\n"
        for a in args:
            a = str(a)
            out += f"${len(a.encode())}\r\n{a}\r\n"
        s.sendall(out.encode())
        f = s.makefile("rb")
        v = self._read(f)
        s.close()
        return v

    def _read(self, f):
        line = f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")


# --- processes ------------------------------------------------------------------------------


class Replica:
    def __init__(self, work, name, redis_url, asr_url):
        self.work, self.name = work, name
        self.port = free_port()
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.env = dict(
            os.environ,
            BIND_ADDR=f"127.0.0.1:{self.port}",
            REDIS_URL=redis_url,
            ASR_BACKEND="openai",
            ASR_URL=asr_url,
            GIGACHAT_ENABLED="false",
            MAX_CONCURRENT_ANALYSES="1",
            WORKERS_PER_REPLICA="1",
            JOB_HEARTBEAT_MS=HEARTBEAT_MS,
            REDIS_LEASE_MS="2000",
            REDIS_CONNECT_TIMEOUT_MS="500",
            REDIS_RESPONSE_TIMEOUT_MS="500",
            JOB_MAX_ATTEMPTS="10",
            CACHE_MEMORY_MAX_MB="0",
            CACHE_DISK_MAX_MB="0",
            UPLOAD_DIR=os.path.join(self.dir, "uploads"),
            DATA_DIR=os.path.join(self.dir, "data"),
            LOG_FILE="",
            LOG_LEVEL="warn",
            SHUTDOWN_TIMEOUT_SEC="1",
        )
        self.env.pop("JOBS_REDIS_URL", None)
        self.proc = None
        self.starts = 0

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self):
        log = open(os.path.join(self.dir, f"out.{self.starts}.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve"], cwd=self.dir, env=self.env, stdout=log, stderr=log
        )
        self.starts += 1
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url("/health"), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not start")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def multipart(data):
    boundary = "chaosboundary7d1f"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.wav\"\r\n"
        f"Content-Type: audio/wav\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post_job(replicas, data):
    """Posts until some live replica accepts (connection errors and 503s are retried)."""
    body, ctype = multipart(data)
    attempts = 0
    while True:
        check_time()
        live = [r for r in replicas if r.alive()]
        r = random.choice(live or replicas)
        req = urllib.request.Request(
            r.url("/jobs"), data=body, method="POST", headers={"content-type": ctype}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status == 202:
                    return json.loads(resp.read())["id"], attempts
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        attempts += 1
        time.sleep(0.1)


def get_job(replicas, jid):
    while True:
        check_time()
        live = [r for r in replicas if r.alive()]
        r = random.choice(live or replicas)
        try:
            with urllib.request.urlopen(r.url(f"/jobs/{jid}"), timeout=10) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)


def wait_done(replicas, ids):
    pending = set(ids)
    jobs = {}
    while pending:
        check_time()
        for jid in list(pending):
            j = get_job(replicas, jid)
            if j["state"] in ("done", "failed", "cancelled"):
                jobs[jid] = j
                pending.discard(jid)
        if pending:
            time.sleep(0.2)
    return jobs


def asr_calls(asr_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{asr_port}/calls", timeout=5) as r:
        return json.loads(r.read())["calls"]


def variants(n, seed):
    clip = open(os.path.join(REPO, "tests/corpus/clips/en_talk_2.wav"), "rb").read()
    out = []
    for i in range(n):
        b = bytearray(clip)
        # Distinct uploads of the same audio length: the three low bytes of k, a different
        # non-zero k per upload, XORed into three sample bytes.
        k = seed * 100_000 + i + 1
        b[-2] ^= k & 0xFF
        b[-4] ^= (k >> 8) & 0xFF
        b[-6] ^= (k >> 16) & 0xFF
        out.append(bytes(b))
    return out


def main():
    work = tempfile.mkdtemp(prefix="chaos-jobs-")
    rport = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--appendfsync", "everysec", "--dir", work],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    aport = free_port()
    asr = subprocess.Popen(
        [FAKE_ASR, f"127.0.0.1:{aport}", "0", str(ASR_CPU_MS)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    procs = []
    result = {"machine": os.uname().nodename, "cores": os.cpu_count(), "asr_cpu_ms": ASR_CPU_MS}
    ok = True
    try:
        r = Redis(rport)
        for _ in range(100):
            try:
                if r.cmd("PING") == "PONG":
                    break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        redis_url = f"redis://127.0.0.1:{rport}/"
        asr_url = f"http://127.0.0.1:{aport}"

        # 1. Throughput at 1, 2, 3 replicas.
        through = {}
        for n in (1, 2, 3):
            r.cmd("FLUSHALL")
            reps = [Replica(work, f"t{n}-{i}", redis_url, asr_url) for i in range(n)]
            procs.extend(reps)
            for rep in reps:
                rep.start()
            data = variants(JOBS, n)
            calls0 = asr_calls(aport)
            t0 = time.time()
            ids = [post_job(reps, d)[0] for d in data]
            jobs = wait_done(reps, ids)
            dt = time.time() - t0
            done = sum(1 for j in jobs.values() if j["state"] == "done")
            calls = asr_calls(aport) - calls0
            through[n] = {"jobs": JOBS, "done": done, "asr_calls": calls, "seconds": round(dt, 2),
                          "jobs_per_sec": round(done / dt, 3)}
            ok &= done == JOBS and calls == JOBS
            for rep in reps:
                rep.kill9()
        base = through[1]["jobs_per_sec"]
        for n in (1, 2, 3):
            through[n]["ratio_to_1"] = round(through[n]["jobs_per_sec"] / base, 2)
        result["throughput"] = through

        # 2. Chaos: 3 replicas, one killed and restarted every few seconds.
        r.cmd("FLUSHALL")
        calls_before = asr_calls(aport)
        reps = [Replica(work, f"c-{i}", redis_url, asr_url) for i in range(3)]
        procs.extend(reps)
        for rep in reps:
            rep.start()
        stop = threading.Event()
        kills = []

        def killer():
            while not stop.wait(KILL_EVERY_SEC):
                victim = random.choice(reps)
                victim.kill9()
                kills.append(round(time.time() - t0, 1))
                if stop.wait(DOWN_SEC):
                    victim.start()
                    return
                victim.start()

        t0 = time.time()
        th = threading.Thread(target=killer, daemon=True)
        th.start()
        data = variants(CHAOS_JOBS, 9)
        ids, post_retries = [], 0
        for d in data:
            jid, retries = post_job(reps, d)
            ids.append(jid)
            post_retries += retries
        jobs = wait_done(reps, ids)
        dt = time.time() - t0
        stop.set()
        th.join()
        for rep in reps:
            if not rep.alive():
                rep.start()
        states = {}
        for j in jobs.values():
            states[j["state"]] = states.get(j["state"], 0) + 1
        done_events = {}
        for jid in ids:
            evs = r.cmd("LRANGE", f"{PREFIX}ev:{jid}", 0, -1) or []
            done_events[jid] = sum(1 for e in evs if json.loads(e)["kind"] == "done")
        exactly_once = sum(1 for v in done_events.values() if v == 1)
        retried = sum(1 for j in jobs.values() if j.get("attempt", 1) > 1)
        chaos = {
            "jobs": CHAOS_JOBS,
            "accepted": len(ids),
            "distinct_ids": len(set(ids)),
            "states": states,
            "done_exactly_once": exactly_once,
            "jobs_with_more_than_one_attempt": retried,
            "max_attempt": max(j.get("attempt", 1) for j in jobs.values()),
            "kills": len(kills),
            "post_retries": post_retries,
            "asr_calls": asr_calls(aport) - calls_before,
            "seconds": round(dt, 1),
            "stream_len_after": r.cmd("XLEN", f"{PREFIX}stream"),
            "open_queued_after": r.cmd("SCARD", f"{PREFIX}open:queued"),
            "open_running_after": r.cmd("SCARD", f"{PREFIX}open:running"),
            "upload_bytes_after": int(r.cmd("GET", f"{PREFIX}upload_bytes") or 0),
            "upload_chunks_left": len(r.cmd("KEYS", f"{PREFIX}up:*") or []),
        }
        # The same counts as every replica serves them (/stats/pipeline reads Redis).
        stats = []
        for rep in reps:
            with urllib.request.urlopen(rep.url("/stats/pipeline"), timeout=10) as resp:
                stats.append(json.loads(resp.read())["jobs"])
        chaos["stats_jobs"] = stats[0]
        chaos["stats_agree"] = all(s == stats[0] for s in stats)
        result["chaos"] = chaos
        ok &= (
            chaos["accepted"] == CHAOS_JOBS
            and chaos["distinct_ids"] == CHAOS_JOBS
            and states.get("done", 0) == CHAOS_JOBS
            and exactly_once == CHAOS_JOBS
            and chaos["stream_len_after"] == 0
            and chaos["open_queued_after"] == 0
            and chaos["open_running_after"] == 0
            and chaos["upload_bytes_after"] == 0
            and chaos["upload_chunks_left"] == 0
            and chaos["stats_agree"]
            and chaos["asr_calls"] >= CHAOS_JOBS
            and stats[0].get("done") == CHAOS_JOBS
            and stats[0].get("queued") == 0
            and stats[0].get("running") == 0
        )
        result["ok"] = bool(ok)
    finally:
        for p in procs:
            p.kill9()
        asr.kill()
        redis.kill()
        asr.wait()
        redis.wait()
    print(json.dumps(result, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
