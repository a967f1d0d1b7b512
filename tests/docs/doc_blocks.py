"""The command blocks of the documentation, and how their shown output is compared.

A fenced block in ```sh (bash, shell, console) is a command block when one of its commands is
this project's: `gke-aws-verifier` (and the other binaries), `make`, `terraform`, or a script
of the repository. The unlabelled (or ```text) block right after it, with only blank lines
between, is its output. An ```ini block (an AWS config file) shows a command of this project
in each `credential_process = …` line that runs one; that command must print credentials. An HTML comment just before a command block says how to treat it:

    <!-- docs-check: illustrative — REASON -->   not run; the reason is required
    <!-- docs-check: exit N -->                  run; it must exit N (default 0)

Everything else is run and compared. The comparison keeps what does not change between runs
(exit code, stage names, field names, the words and the shape of each line) and masks what
does: every run of digits (times, durations, counts, ports, ids, account ids) becomes 0,
and runs of blanks become one space. In the shown output, a line `…` stands for any number of
lines, and `…` inside a line for any text.
"""
from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(?P<lang>[A-Za-z0-9_+-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
COMMAND_LANGS = {"sh", "bash", "shell", "console"}
OUTPUT_LANGS = {"", "text"}
MARKER = re.compile(r"<!--\s*docs-check:\s*(?P<what>[^>]*?)\s*-->\s*\Z")
ILLUSTRATIVE = re.compile(r"illustrative\s*(?:—|–|--|-|:)?\s*(?P<reason>.*)\Z", re.S)
EXIT = re.compile(r"exit\s+(?P<code>\d+)\Z")
# Commands of this project; scripts of the repository count too (scripts/, tests/, bench/).
PROJECT_COMMANDS = {"gke-aws-verifier", "gke-aws-audit", "gke-aws-webhook", "gke-metadata-emulator",
                    "gke-cluster-issuer", "aws-sts-gate", "make", "terraform"}
PROJECT_SCRIPT = re.compile(r"(\./)?(scripts|tests|bench)/")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
ELLIPSIS = "…"
CREDENTIAL_PROCESS = re.compile(r"^\s*credential_process\s*=\s*(?P<command>\S.*?)\s*$", re.M)


@dataclass
class Block:
    """One fenced block: where it is, its language and text, and the marker before it."""
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    marker: str | None = None
    output: Block | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def blocks(path: Path, text: str) -> list[Block]:
    """Every fenced block of a Markdown text, each output block attached to its command block."""
    found: list[Block] = []
    end = 0
    for m in FENCE.finditer(text):
        gap = text[end:m.start()]
        marker = MARKER.search(gap.rstrip())
        block = Block(path, text.count("\n", 0, m.start()) + 1, m["lang"].lower(), m["body"],
                      marker["what"] if marker else None)
        previous = found[-1] if found else None
        if (previous and previous.lang in COMMAND_LANGS and block.lang in OUTPUT_LANGS and not gap.strip()
                and previous.output is None):
            previous.output = block
        else:
            found.append(block)
        end = m.end()
    return found


def commands(body: str) -> list[str]:
    """The logical command lines of a shell block: continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", body)
    lines = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def programs(line: str) -> list[str]:
    """The program each part of a pipeline or list runs, after its VAR=value assignments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # an unbalanced quote: the words as they stand
        words = line.split()
    found, start = [], True
    for word in words:
        if word in {"|", "||", "&&", ";", "&", "(", ")"}:
            start = True
            continue
        if start and (ASSIGNMENT.match(word) or word in {"eval", "time", "env"}):
            continue
        if start:
            found.append(word)
        start = False
    return found


def project_programs(line: str) -> list[str]:
    return [p for p in programs(line) if Path(p).name in PROJECT_COMMANDS or PROJECT_SCRIPT.match(p)]


def credential_processes(block: Block) -> list[str]:
    """The `credential_process` commands of an ```ini block that run a program of this project."""
    if block.lang != "ini":
        return []
    return [m["command"] for m in CREDENTIAL_PROCESS.finditer(block.body) if project_programs(m["command"])]


def shows_project_command(block: Block) -> bool:
    if block.lang == "ini":
        return bool(credential_processes(block))
    return block.lang in COMMAND_LANGS and any(project_programs(c) for c in commands(block.body))


@dataclass
class Verdict:
    """How a command block is treated: illustrative (with its reason), or run expecting an exit code."""
    illustrative: str | None = None
    exit_code: int = 0
    error: str | None = None


def verdict(block: Block) -> Verdict:
    if block.marker is None:
        return Verdict()
    m = ILLUSTRATIVE.match(block.marker)
    if m:
        if not m["reason"].strip():
            return Verdict(error=f"{block.where}: `docs-check: illustrative` needs a reason")
        return Verdict(illustrative=m["reason"].strip())
    m = EXIT.match(block.marker)
    if m:
        return Verdict(exit_code=int(m["code"]))
    return Verdict(error=f"{block.where}: unknown marker `docs-check: {block.marker}` "
                         "(`illustrative — REASON` or `exit N`)")


def mask(line: str) -> str:
    """A line without what changes between runs: digits become 0, blanks one space."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "0", line)).strip()


def _line_pattern(expected: str) -> re.Pattern[str]:
    shown = re.sub(rf"\s*{ELLIPSIS}\s*", ELLIPSIS, mask(expected))
    return re.compile(".*".join(re.escape(part) for part in shown.split(ELLIPSIS)) + r"\Z")


def matches(expected: str, actual: str) -> bool:
    """Whether the actual output has the shape of the shown one (a `…` line: any lines)."""
    want = [l for l in expected.splitlines() if l.strip()]
    got = [mask(l) for l in actual.splitlines() if l.strip()]
    patterns = [None if l.strip() == ELLIPSIS else _line_pattern(l) for l in want]

    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[i, j]
        if i == len(patterns):
            result = j == len(got)
        elif patterns[i] is None:
            result = any(match(i + 1, k) for k in range(j, len(got) + 1))
        else:
            result = j < len(got) and bool(patterns[i].match(got[j])) and match(i + 1, j + 1)
        memo[i, j] = result
        return result

    return match(0, 0)


def difference(expected: str, actual: str) -> str:
    """A diff of the masked shown and actual output, for the failure message."""
    want = [mask(l) for l in expected.splitlines() if l.strip()]
    got = [mask(l) for l in actual.splitlines() if l.strip()]
    return "\n".join(difflib.unified_diff(want, got, "shown (masked)", "actual (masked)", lineterm=""))
