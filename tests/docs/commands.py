#!/usr/bin/env python3
"""Every command block of the documentation runs as shown, or says why it cannot.

    tests/docs/run.sh              (make test-docs: starts the emulators, then this)
    tests/docs/run.sh FILE.md...   (only these files)

For README.md and docs/*.md: each command block that shows a command of this project
(doc_blocks.py says which, and how the output is compared) is run against the emulators, with
its exit code and its output's stable parts compared to what the block shows, unless an HTML
comment just before it marks it `docs-check: illustrative — REASON`. An unmarked block that
cannot run here fails: a sample nobody runs drifts from the binary. A `credential_process`
line of an AWS config sample runs as the SDKs run it (the project's binary from this build, the
pod's config file of this world) and must print credential_process version 1 JSON.

The emulators (moto, aws-sts-gate, two GKE metadata emulators) are started by run.sh with
scripts/lib/peers.sh, as `make demo` starts them; this file fills them with the world the
documents describe: account 123456789012, the roles `gke-reports-reader` (and its named role
`.exports`) trusting the GSA reports-reader@my-project, `gke-ledger-reader` trusting the unique
id of a ledger GSA since recreated, the buckets acme-reports (daily/…), acme-exports,
acme-ledger in eu-west-1, a pod's AWS config file with two web identity profiles, and a
`platform` profile for the engineer's own IAM reads.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import doc_blocks  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
REPORTS_GSA = ("reports-reader@my-project.iam.gserviceaccount.com", "112233445566778899001")
# The ledger GSA as the role trusts it (its first unique id) and as the metadata server mints it
# now (deleted and recreated under the same e-mail): docs/explain.md's example.
LEDGER_TRUSTED_ID = "100000000000000000001"
POD_NAME = "verify-x7k2p"  # the pod's HOSTNAME: verify's default session name
SMOKE_JOB_LOG = "kubectl logs job/gke-aws-verify-smoke-29000000"
# Placeholders of a synopsis, as the documents write them.
PLACEHOLDERS = {"GSA_EMAIL": REPORTS_GSA[0]}
TIMEOUT_S = 60


def trust_policy(unique_id: str) -> str:
    """The trust terraform/modules/aws-workload-role writes in GSA mode (aud, sub, oaud)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": unique_id, "accounts.google.com:sub": unique_id,
                                       "accounts.google.com:oaud": "sts.amazonaws.com"}}}]})


class World:
    """The documents' account, buckets and files on the emulators, and how a command runs in it."""

    def __init__(self, work: Path):
        self.work = work
        self.bin = Path(required("DOCS_BIN"))
        self.moto = required("AWS_ENDPOINT_URL")
        self.sts = required("AWS_ENDPOINT_URL_STS")
        self.reports_metadata = required("DOCS_METADATA_REPORTS")
        self.ledger_metadata = required("DOCS_METADATA_LEDGER")
        self.seed()
        self.env = self.environment()
        self.write_pod_config()
        self.heads = {SMOKE_JOB_LOG: self.smoke_job_log}

    def seed(self) -> None:
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        iam = session.client("iam", endpoint_url=self.moto)
        # Idempotent: a second run on the same moto (run.sh's drift check) finds them there.
        roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
        for name, unique_id in [("gke-reports-reader", REPORTS_GSA[1]), ("gke-reports-reader.exports", REPORTS_GSA[1]),
                                ("gke-ledger-reader", LEDGER_TRUSTED_ID)]:
            if name not in roles:
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(unique_id))
        s3 = session.client("s3", endpoint_url=self.moto)
        buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        objects = {"acme-reports": ["daily/2026-11-27.csv", "daily/2026-11-28.csv"],
                   "acme-exports": ["exports/2026-11.parquet", "exports/2026-12.parquet"], "acme-ledger": ["ledger.csv"]}
        for bucket, keys in objects.items():
            if bucket not in buckets:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            for key in keys:
                s3.put_object(Bucket=bucket, Key=key, Body=b"day,total\n")

    def environment(self) -> dict[str, str]:
        """What a pod (and the engineer's shell) has here: no AWS keys, the emulators' addresses."""
        keep = {"HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"}
        env = {k: v for k, v in os.environ.items() if k in keep}
        credentials = self.work / "credentials"
        # The engineer's own IAM read credentials (`AWS_PROFILE=platform`); moto takes any keys.
        credentials.write_text("[platform]\naws_access_key_id = test\naws_secret_access_key = test\n")
        # XDG_CACHE_HOME: credential-process's default cache folder, inside the temp dir.
        env.update(PATH=f"{self.bin}:{os.environ['PATH']}", HOSTNAME=POD_NAME, XDG_CACHE_HOME=str(self.work / "cache"), GCE_METADATA_HOST=self.reports_metadata,
                   AWS_ENDPOINT_URL=self.moto, AWS_ENDPOINT_URL_STS=self.sts, AWS_CONFIG_FILE=str(self.work / "aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_EC2_METADATA_DISABLED="true", AWS_REGION=REGION)
        return env

    def write_pod_config(self) -> None:
        """The shared AWS config file the webhook writes for a KSA with the named role `exports`."""
        token = self.work / "token"
        done = subprocess.run([self.bin / "gke-aws-verifier", "token-file", "--once", "--path", str(token)],
                              env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            raise SystemExit(f"FAIL: token-file --once for the pod's token: {done.stderr.strip()}")
        profile = f"web_identity_token_file = {token}\nrole_session_name = {POD_NAME}\nregion = {REGION}\n"
        (self.work / "aws-config").write_text(
            f"[default]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/gke-reports-reader\n{profile}\n"
            f"[profile exports]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/gke-reports-reader.exports\n{profile}")

    def smoke_job_log(self) -> str:
        """What `kubectl logs` of a failed smoke Job shows: verify's JSON report, here for the
        recreated ledger GSA (the trust pins its old unique id), run for real."""
        env = dict(self.env, GCE_METADATA_HOST=self.ledger_metadata)
        done = subprocess.run(["gke-aws-verifier", "verify", "--format", "json", "--role-arn",
                               f"arn:aws:iam::{ACCOUNT}:role/gke-ledger-reader", "--region", REGION,
                               "--bucket", "acme-ledger"], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 4:
            raise SystemExit(f"FAIL: the smoke Job's verify should fail at STS (exit 4), got {done.returncode}: "
                             f"{done.stderr.strip()}")
        return done.stdout

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        """Runs one command line as the document writes it (a synopsis' […] taken in, its
        placeholders filled); a pipeline head that needs a cluster is fed from this world."""
        line = re.sub(r"\[([^\[\]]*)\]", r"\1", line)
        for name, value in PLACEHOLDERS.items():
            line = re.sub(rf"\b{name}\b", value, line)
        stdin = None
        head, bar, rest = line.partition("|")
        if bar and not doc_blocks.project_programs(head):
            feed = self.heads.get(head.strip())
            if feed is None:
                raise Unrunnable(f"`{head.strip()}` needs what is not here (mark the block illustrative, with why)")
            stdin, line = feed(), rest
        return subprocess.run(["bash", "-c", line], cwd=self.work, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=TIMEOUT_S)


class Unrunnable(Exception):
    pass


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"FAIL: {name} is not set: run this through tests/docs/run.sh (make test-docs)")
    return value


def check_credential_process(world: World, block: doc_blocks.Block) -> str | None:
    """Each `credential_process` line prints what the SDKs read: version 1 JSON with keys."""
    for command in doc_blocks.credential_processes(block):
        program = command.split()[0]
        # The documents install the binary in /usr/local/bin; here it is this build's.
        done = world.run(command.replace(program, Path(program).name, 1))
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            answer = None
        keys = {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
        if done.returncode != 0 or not isinstance(answer, dict) or answer.get("Version") != 1 or not keys <= set(answer):
            return f"`credential_process = {command}` printed no credentials (exit {done.returncode}):\n{done.stderr}"
    return None


def check(world: World, block: doc_blocks.Block, want_exit: int) -> str | None:
    """None when the block runs as shown, else what differs."""
    if block.lang == "ini":
        return check_credential_process(world, block)
    stdout, code = "", 0
    for index, line in enumerate(doc_blocks.commands(block.body)):
        try:
            done = world.run(line)
        except Unrunnable as e:
            return str(e)
        stdout += done.stdout
        code = done.returncode
        last = index == len(doc_blocks.commands(block.body)) - 1
        if not last and code != 0:
            return f"`{line}` exited {code}:\n{done.stdout}{done.stderr}"
    if code != want_exit:
        return f"exited {code}, the document says {want_exit} (`<!-- docs-check: exit N -->`):\n{stdout}{done.stderr}"
    if block.output and not doc_blocks.matches(block.output.body, stdout):
        return (f"the output shown at {block.output.where} no longer matches:\n"
                f"{doc_blocks.difference(block.output.body, stdout)}")
    return None


def documents(args: list[str]) -> list[Path]:
    if args:
        return [Path(a).resolve() for a in args]
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def main(args: list[str]) -> int:
    failures, ran, marked = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        for path in documents(args):
            shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
            for block in doc_blocks.blocks(shown, path.read_text(encoding="utf-8")):
                if not doc_blocks.shows_project_command(block):
                    continue
                verdict = doc_blocks.verdict(block)
                if verdict.error:
                    failures.append(verdict.error)
                elif verdict.illustrative:
                    marked.append(f"{block.where}: {verdict.illustrative}")
                else:
                    problem = check(world, block, verdict.exit_code)
                    if problem:
                        failures.append(f"{block.where}: {problem}")
                    else:
                        ran.append(block.where)
    for where in ran:
        print(f"ran   {where}")
    for where in marked:
        print(f"shown {where}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print(f"doc commands: {len(ran)} blocks ran as shown, {len(marked)} marked illustrative, {len(failures)} failed")
    return 1 if failures or not ran else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
