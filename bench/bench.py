#!/usr/bin/env python3
"""The measurements of `make bench` (bench/run.sh starts the emulators and calls this).

Alternates the cases run by run on the same emulators, times each process with a monotonic
clock, and prints a markdown table of medians and ratios, with the performance goals next to
the figures. The table also goes to bench/results.md. It reports; it does not assert.

Env (set by run.sh): BENCH_MOTO, BENCH_METADATA_HOST, BENCH_BUCKET, BENCH_ROLE_ARN,
BENCH_WORK, BENCH_VERIFIER; BENCH_RUNS (default 20); BENCH_BASE_IMAGE_MB (default 23.5,
see IMAGE_NOTE).
"""
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BENCH_DIR = Path(__file__).resolve().parent
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
FLOOR_PER_ROUND = 5
REGION = "us-east-1"
MOTO = os.environ["BENCH_MOTO"]
METADATA_HOST = os.environ["BENCH_METADATA_HOST"]
BUCKET = os.environ["BENCH_BUCKET"]
ROLE_ARN = os.environ["BENCH_ROLE_ARN"]
WORK = Path(os.environ["BENCH_WORK"])
VERIFIER = os.environ["BENCH_VERIFIER"]
TIME = Path("/usr/bin/time")  # GNU time (Debian package `time`), for peak RSS
BASE_IMAGE_MB = float(os.environ.get("BENCH_BASE_IMAGE_MB", "23.5"))
IMAGE_NOTE = (
    "Image estimate: the binary plus gcr.io/distroless/cc-debian12 taken as {:.1f} MB, an "
    "assumption (the base is not pulled here; set BENCH_BASE_IMAGE_MB)."
)


# --- The environment every case runs in ----------------------------------------------------

def child_env():
    """The same environment for both sides: the emulators' endpoints, no keys, no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VERIFY_", "BENCH_"))}
    env.update(
        GCE_METADATA_HOST=METADATA_HOST,
        AWS_ENDPOINT_URL=MOTO,
        AWS_REGION=REGION,
        HOSTNAME="bench-pod",
        AWS_CONFIG_FILE=str(WORK / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(WORK / "no-credentials"),
        # The legacy script's boto3 walks the default chain before its unsigned STS call; on GKE
        # its IMDS probe would hit the metadata server. Off here, to the legacy side's benefit.
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def write_aws_config():
    script = BENCH_DIR / "legacy_credential_process.py"
    (WORK / "aws-config").write_text(
        "[profile legacy]\n"
        f"credential_process = {sys.executable} {script} {ROLE_ARN}\n"
        f"region = {REGION}\n"
    )


# --- Running and timing one process ---------------------------------------------------------

def run(cmd, env):
    """Runs cmd once: (wall seconds, stdout, stderr); a failure stops the benchmark."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        code = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise SystemExit(
            f"bench: {' '.join(map(str, cmd))} exited {code}:\n"
            f"{stderr.decode(errors='replace')}{stdout.decode(errors='replace')}"
        )
    return elapsed, stdout, stderr


def peak_rss_mb(cmd, env, runs=5):
    """Peak RSS (MB) of cmd and the children it waits for, the max of a few runs, as GNU time
    reports it. Not from this process: a child forked from this Python process (tens of MB
    with botocore loaded) carries the parent's RSS into its ru_maxrss up to its exec."""
    if not TIME.exists():
        raise SystemExit(f"bench: {TIME} is missing (Debian package time); it measures peak RSS")
    peak = 0
    for _ in range(runs):
        _, _, stderr = run([str(TIME), "-f", "maxrss_kib=%M", *cmd], env)
        peak = max(peak, int(stderr.decode().rsplit("maxrss_kib=", 1)[1].split()[0]))
    return peak * 1024 / 1e6  # ru_maxrss is in KiB; MB here means 10^6 bytes, like the goals


class Case:
    def __init__(self, name, cmd):
        self.name, self.cmd = name, cmd
        self.times = []

    def argv(self):
        return self.cmd() if callable(self.cmd) else self.cmd

    def once(self, env, record=True):
        elapsed, stdout, _ = run(self.argv(), env)
        if record:
            self.times.append(elapsed)
        return stdout


# --- The floor: the same three calls by a warmed client in this process ---------------------

class Floor:
    """Metadata token GET, STS AssumeRoleWithWebIdentity and a signed S3 ListObjectsV2 over
    one keep-alive requests.Session: what the network and the servers cost, and nothing else."""

    def __init__(self):
        self.http = requests.Session()
        self.http.trust_env = False
        self.times = []

    def once(self, record=True):
        started = time.perf_counter()
        token = self.http.get(
            f"http://{METADATA_HOST}/computeMetadata/v1/instance/service-accounts/default/identity",
            params={"audience": "sts.amazonaws.com", "format": "full"},
            headers={"Metadata-Flavor": "Google"},
            timeout=5,
        )
        token.raise_for_status()
        sts = self.http.post(
            MOTO + "/",
            data={
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": ROLE_ARN,
                "RoleSessionName": "bench-pod",
                "WebIdentityToken": token.text,
            },
            timeout=5,
        )
        sts.raise_for_status()
        credentials = Credentials(
            between(sts.text, "AccessKeyId"),
            between(sts.text, "SecretAccessKey"),
            between(sts.text, "SessionToken"),
        )
        listing = AWSRequest(method="GET", url=f"{MOTO}/{BUCKET}?list-type=2")
        SigV4Auth(credentials, "s3", REGION).add_auth(listing)
        s3 = self.http.get(listing.url, headers=dict(listing.headers.items()), timeout=5)
        s3.raise_for_status()
        if "<Key>" not in s3.text:
            raise SystemExit(f"bench: the floor's listing has no keys: {s3.text[:300]}")
        if record:
            self.times.append(time.perf_counter() - started)


def between(xml, tag):
    return xml.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]


# --- The report ----------------------------------------------------------------------------

def ms(seconds):
    return statistics.median(seconds) * 1000


def p90(seconds):
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))] * 1000


def fmt_ms(value):
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def fmt_mb(value):
    return f"{value:.1f} MB"


def verdict(ok):
    return "PASS" if ok else "MISS"


def versions():
    aws = subprocess.run(
        [shutil.which("aws") or "aws", "--version"], capture_output=True, text=True, env=child_env()
    )
    verifier = subprocess.run([VERIFIER, "--version"], capture_output=True, text=True)
    return (
        f"{verifier.stdout.strip()}; {(aws.stdout or aws.stderr).strip().split()[0]}; "
        f"Python {platform.python_version()}; {os.cpu_count()} CPUs; Linux {platform.release()}"
    )


def report(cases, floor, rss):
    verify, pipeline, uncached, cached, legacy, start = (
        cases[k] for k in ("verify", "pipeline", "uncached", "cached", "legacy", "start")
    )
    floor_ms, start_ms = ms(floor.times), ms(start.times)
    binary_mb = os.path.getsize(VERIFIER) / 1e6
    rss_mb = rss["verify"]
    speedup = ms(pipeline.times) / ms(verify.times)
    over_floor = ms(verify.times) / (floor_ms + start_ms)

    rows = [
        ("**1. Whole chain** (token, STS, S3 ListObjectsV2)", None, None, None),
        ("`gke-aws-verifier verify`", ms(verify.times), p90(verify.times), "1×"),
        ("Python `credential_process` + `aws s3api list-objects-v2`", ms(pipeline.times),
         p90(pipeline.times), f"{speedup:.1f}× slower than `verify`"),
        ("**2. Credential helper** (token, STS)", None, None, None),
        ("`gke-aws-verifier credential-process`, uncached", ms(uncached.times), p90(uncached.times),
         f"{ms(legacy.times) / ms(uncached.times):.1f}× faster than the Python script"),
        ("`gke-aws-verifier credential-process`, cached", ms(cached.times), p90(cached.times),
         f"{ms(legacy.times) / ms(cached.times):.0f}× faster than the Python script"),
        ("Python `credential_process` script alone", ms(legacy.times), p90(legacy.times), "1×"),
        ("**3. Floor**", None, None, None),
        ("The three calls, warmed client in one process (requests.Session)", floor_ms,
         p90(floor.times), ""),
        ("Process start (`gke-aws-verifier --version`)", start_ms, p90(start.times), ""),
        ("Floor + process start", floor_ms + start_ms, None,
         f"`verify` is {over_floor:.2f}× this"),
    ]
    lines = [
        f"Medians of {RUNS} alternating runs per case on loopback emulators (moto, "
        f"gke-metadata-emulator); the floor is {RUNS * FLOOR_PER_ROUND} in-process iterations. "
        f"{versions()}.",
        "",
        "| What | Median | p90 | Ratio |",
        "|---|---:|---:|---|",
    ]
    for what, median, high, ratio in rows:
        if median is None:
            lines.append(f"| {what} | | | |")
        else:
            lines.append(f"| {what} | {fmt_ms(median)} | {fmt_ms(high) if high else ''} | {ratio} |")
    lines += [
        "",
        "| Footprint | Figure |",
        "|---|---:|",
        f"| Peak RSS of `verify` (max of 5 runs, GNU time) | {fmt_mb(rss['verify'])} |",
        f"| Peak RSS of cached `credential-process` | {fmt_mb(rss['cached'])} |",
        f"| Peak RSS of the Python pipeline (the `aws` CLI or its helper, whichever is larger) | {fmt_mb(rss['pipeline'])} |",
        f"| Release binary `target/release/gke-aws-verifier` | {binary_mb:.2f} MB |",
        f"| Image estimate (binary + distroless cc-debian12)¹ | ≈ {binary_mb + BASE_IMAGE_MB:.0f} MB |",
        "",
        "¹ " + IMAGE_NOTE.format(BASE_IMAGE_MB),
        "",
        "| Goal | Figure | |",
        "|---|---:|---|",
        f"| `verify` ≥ 20× faster than the script pipeline | {speedup:.1f}× | {verdict(speedup >= 20)} |",
        f"| `verify` ≤ 1.5× floor + process start | {over_floor:.2f}× | {verdict(over_floor <= 1.5)} |",
        f"| cached `credential-process` < 5 ms median | {fmt_ms(ms(cached.times))} | {verdict(ms(cached.times) < 5)} |",
        f"| peak RSS of `verify` < 15 MB | {fmt_mb(rss_mb)} | {verdict(rss_mb < 15)} |",
        f"| release binary < 8 MB | {binary_mb:.2f} MB | {verdict(binary_mb < 8)} |",
    ]
    return "\n".join(lines) + "\n"


def main():
    write_aws_config()
    env = child_env()
    aws = shutil.which("aws")
    if not aws:
        raise SystemExit("bench: the aws CLI is not on PATH; run make venv")
    role = ["--role-arn", ROLE_ARN, "--region", REGION]
    warm_cache = WORK / "warm-cache"
    fresh = iter(range(10**6))
    cases = {
        "verify": Case("verify", [VERIFIER, "verify", *role, "--bucket", BUCKET]),
        "pipeline": Case(
            "pipeline", [aws, "--profile", "legacy", "s3api", "list-objects-v2", "--bucket", BUCKET]
        ),
        "uncached": Case(
            "uncached",
            lambda: [VERIFIER, "credential-process", *role, "--cache-dir", str(WORK / f"cold-{next(fresh)}")],
        ),
        "cached": Case("cached", [VERIFIER, "credential-process", *role, "--cache-dir", str(warm_cache)]),
        "legacy": Case(
            "legacy", [sys.executable, str(BENCH_DIR / "legacy_credential_process.py"), ROLE_ARN]
        ),
        "start": Case("start", [VERIFIER, "--version"]),
    }
    floor = Floor()

    # One unrecorded round: warms the page cache, moto's code paths and the credential cache,
    # and checks that every case works before anything is timed.
    print(f"==> warming up, then {RUNS} alternating rounds", file=sys.stderr)
    expected = {
        "verify": b"objects=5",
        "pipeline": b"reports/04.csv",
        "uncached": b'"Version":1',
        "cached": b'"Version":1',
        "legacy": b'"Version": 1',
        "start": b"gke-aws-verifier",
    }
    for case in cases.values():
        out = case.once(env, record=False)
        if expected[case.name] not in out:
            raise SystemExit(f"bench: {case.name} did not print {expected[case.name]!r}: {out[:400]!r}")
    floor.once(record=False)

    for round_ in range(RUNS):
        # A, B, A, B: each round runs every case once, in an order that rotates, so that a
        # slow spell on this machine lands on all cases alike.
        names = list(cases)
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            cases[name].once(env)
        for _ in range(FLOOR_PER_ROUND):
            floor.once()
        print(f"    round {round_ + 1}/{RUNS}", file=sys.stderr)

    # Peak RSS in a separate pass: GNU time around the timed runs would add its own start.
    rss = {name: peak_rss_mb(cases[name].argv(), env) for name in ("verify", "cached", "pipeline")}
    table = report(cases, floor, rss)
    print(table)
    (BENCH_DIR / "results.md").write_text("# `make bench`: latest results\n\n" + table)
    print(f"==> written to {BENCH_DIR / 'results.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
