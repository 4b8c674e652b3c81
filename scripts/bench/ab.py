"""Interleaved A/B of api builds (not part of the test command): CPU per list request of
each build, taken in turns on the same stack so that the machine's drift hits all alike.

    scripts/bench/ab.py BIN_A BIN_B ...     (run inside the stack's environment: stack.env)

A build may carry variables: `target/release/api|TOKIO_WORKER_THREADS=1,RUST_LOG=warn`.
Each round starts every build against one account with a session of 50 questions (400-char
answers), then measures 20,000 list requests at saturation (32 connections) and 10 s at a
fixed 300 requests/s, each with the api's and the MongoDB server's CPU (`/proc/<pid>/stat`).
Prints requests/s and (api µs, database µs) per request, per round.
"""
import json, os, secrets, socket, subprocess, sys, time, urllib.request
OHA = os.environ.get("OHA") or os.path.expanduser("~/.cache/interview-prep/tools/oha-1.16.0/bin/oha")
TICKS = os.sysconf("SC_CLK_TCK")
bins = sys.argv[1:]
mongo_port = os.environ["MONGODB_URI"].split(":")[2].split("/")[0]
mongo_pid = int(subprocess.run(["pgrep", "-f", f"secantusd-rs.*--port {mongo_port}"], capture_output=True, text=True).stdout.split()[0])
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICKS
def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    if body is not None: req.add_header("content-type", "application/json")
    if token: req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r: return json.loads(r.read() or b"null")
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
env = dict(os.environ)
env.update({"MONGODB_DATABASE": "ab_" + secrets.token_hex(4), "REDIS_KEY_PREFIX": "ab-" + secrets.token_hex(3) + ":",
            "JWT_SECRET": secrets.token_hex(32), "HOST": "127.0.0.1", "LOG_FORMAT": "json", "RUST_LOG": "info",
            "RATE_LIMIT_DEFAULT": "100000000/60", "RATE_LIMIT_AUTH": "100000000/60"})
token = None; url = None
def start(spec):
    binary, _, extra = spec.partition("|")
    e = dict(env); e["PORT"] = str(port())
    for kv in filter(None, extra.split(",")):
        k, v = kv.split("=", 1); e[k] = v
    p = subprocess.Popen([binary], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{e['PORT']}"
    for _ in range(500):
        try:
            urllib.request.urlopen(base + "/health/ready", timeout=1); break
        except Exception: time.sleep(0.02)
    return p, base
def oha(u, extra):
    out = subprocess.run([OHA, "--no-tui", "--output-format", "json", "-H", f"authorization: Bearer {token}"] + extra + [u], capture_output=True, text=True, check=True).stdout
    d = json.loads(out); return d
results = {b: {"sat": [], "r300": [], "rps": []} for b in bins}
for rnd in range(3):
    for b in bins:
        p, base = start(b)
        if token is None:
            u = http("POST", base + "/api/v1/auth/register", {"fullname": "Ab Test", "email": f"ab{secrets.token_hex(3)}@example.com", "password": "ab-password-1"})
            token = u["access_token"]
            s = http("POST", base + "/api/v1/sessions", {"role": "Backend", "experience": "senior"}, token)
            ans = ("It depends on the access pattern; " * 20)[:400]
            for i in range(50):
                http("POST", f"{base}/api/v1/sessions/{s['id']}/questions", {"question": f"Question {i}: how would you shard orders?", "answer": ans}, token)
            sid = s["id"]
        u = f"{base}/api/v1/sessions/{sid}/questions?limit=50"
        oha(u, ["-n", "2000", "-c", "32"])  # warm up
        a0, d0 = cpu(p.pid), cpu(mongo_pid)
        d = oha(u, ["-n", "20000", "-c", "32"])
        results[b]["sat"].append(((cpu(p.pid) - a0) / 20000 * 1e6, (cpu(mongo_pid) - d0) / 20000 * 1e6))
        results[b]["rps"].append(d["summary"]["requestsPerSec"])
        a0, d0 = cpu(p.pid), cpu(mongo_pid)
        d = oha(u, ["-q", "300", "-z", "10s", "-c", "64", "--latency-correction"])
        n = sum(d["statusCodeDistribution"].values())
        results[b]["r300"].append(((cpu(p.pid) - a0) / n * 1e6, (cpu(mongo_pid) - d0) / n * 1e6))
        p.terminate(); p.wait()
for b in bins:
    r = results[b]
    print(b, "rps", [round(x) for x in r["rps"]], "sat api/db µs", [(round(a), round(d)) for a, d in r["sat"]], "300/s api/db µs", [(round(a), round(d)) for a, d in r["r300"]])
