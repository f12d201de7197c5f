"""Runs the fenced examples of the docs as written and checks what they show.

    python scripts/doc_examples.py [--list] [DOC...]

Every fenced block of README.md, docs/PYTHON.md and docs/JVM.md (or of the
DOCs named) is an example, run by its language:

- ``python``: blocks with ``>>>`` prompts run as doctests (the output
  shown is the output expected, ``...`` matches anything); others run as
  a script with this interpreter.
- ``java``: the statements run in a ``main`` (``import`` lines go above
  the class), compiled against the jar ``srpy-jvm/target/srpy-*.jar``.
- ``rust``: run as a doctest of ``srpy-client`` (``cargo test --doc``).
- ``sh``: run by bash from the repository root.
- ``toml`` marked ``server config``: a ``srpy-server --config`` file; a
  server starts with it.

An HTML comment on the line before a fence tells more (several, comma
separated): ``<!-- example: server -->`` (a server with 2 engines listens on
127.0.0.1:7733 while it runs; ``server with token``: and requires the token
in the file ``token`` of the example's folder), ``jython`` (a python block
for Jython 2.7), ``until stopped`` (a command that runs until stopped: it
is stopped once it has printed the lines of its output block), and
``not run: REASON``. A ``text`` block after ``<!-- example: output -->``
is the output the block before it must print.

Examples run in a private network namespace (``unshare --net``, as root),
so the documented port 7733 is free whatever else runs on this machine.
"""

from __future__ import annotations

import argparse
import doctest
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/PYTHON.md", "docs/JVM.md"]
PORT = 7733
FLAGS = {"server", "server with token", "jython", "until stopped", "server config"}
DIRECTIVE = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Example:
    doc: str
    line: int
    lang: str
    code: str
    flags: set[str] = field(default_factory=set)
    not_run: str | None = None
    output: str | None = None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def parse(doc: str) -> list[Example]:
    """The examples of one document, with their directives and outputs."""
    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    directive: str | None = None
    i = 0
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if m:
            directive = m.group(1)
            i += 1
            continue
        fence = FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                directive = None
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        code = "\n".join(body) + "\n"
        if directive == "output":
            if not examples or examples[-1].line < start - 40:
                raise SystemExit(f"{doc}:{start + 1}: an output block with no example before it")
            examples[-1].output = code
        elif fence.group(1) not in ("", "text"):
            ex = Example(doc, start + 1, fence.group(1), code)
            if directive and directive.startswith("not run:"):
                ex.not_run = directive.removeprefix("not run:").strip()
            else:
                for part in (directive or "").split(","):
                    part = part.strip()
                    if part in FLAGS:
                        ex.flags.add(part)
                    elif part:
                        raise SystemExit(f"{doc}:{start}: unknown example directive '{part}'")
            examples.append(ex)
        directive = None
    return examples


# ---- what the examples run in ---------------------------------------------------------


def python() -> str:
    return os.environ.get("SRPY_PYTHON") or sys.executable


def env() -> dict[str, str]:
    """The examples' environment: the test Python's folder first on PATH
    (its ``srpy-server`` and ``srpy`` scripts), no SRPY_* settings."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SRPY_")}
    e["PATH"] = os.pathsep.join([str(Path(python()).parent), e.get("PATH", "")])
    return e


class Server:
    """``srpy-server --engines 2`` on 127.0.0.1:7733 (optionally with a token)."""

    def __init__(self, folder: Path, token: bool) -> None:
        args = ["srpy-server", "--engines", "2", "--uri-file", str(folder / ".uri")]
        if token:
            (folder / "token").write_text(os.urandom(16).hex())
            os.chmod(folder / "token", 0o600)
            args += ["--token-file", str(folder / "token")]
        self.proc = subprocess.Popen(
            args, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 60
        while not (folder / ".uri").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("the example's server did not start:\n" + self.proc.communicate()[0])
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)


def run(
    cmd: list[str], folder: Path, timeout: float = 300, extra_env: dict[str, str] | None = None
) -> tuple[bool, str]:
    r = subprocess.run(
        cmd, cwd=folder, env={**env(), **(extra_env or {})}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    return r.returncode == 0, r.stdout + r.stderr


def jar() -> str:
    found = sorted(glob.glob(str(ROOT / "srpy-jvm/target/srpy-*.jar")))
    if not found:
        subprocess.run(
            ["mvn", "-B", "-q", "-f", str(ROOT / "srpy-jvm/pom.xml"), "package", "-DskipTests"],
            check=True,
        )
        found = sorted(glob.glob(str(ROOT / "srpy-jvm/target/srpy-*.jar")))
    return found[0]


def jython_jar() -> str:
    found = glob.glob(
        os.path.expanduser("~/.m2/repository/org/python/jython-standalone/*/jython-standalone-*.jar")
    )
    if not found:
        raise RuntimeError("jython-standalone is not in ~/.m2: run `bash scripts/test.sh jvm` first")
    return max(found)


def java_program(code: str) -> str:
    imports = [line for line in code.splitlines() if line.startswith("import ")]
    body = [line for line in code.splitlines() if not line.startswith("import ")]
    return "\n".join(
        [*imports, "public class Example {", "  public static void main(String[] args) throws Exception {",
         *("    " + line for line in body), "  }", "}", ""]
    )


def execute(ex: Example, folder: Path) -> tuple[bool, str, str | None]:
    """Runs one example in ``folder``: (it succeeded, its output, the
    output to compare with the shown one, or None)."""
    if ex.lang == "python" and "jython" in ex.flags:
        (folder / "example.py").write_text(ex.code)
        ok, out = run(["java", "-cp", f"{jython_jar()}:{jar()}", "org.python.util.jython",
                       "example.py"], folder)
        return ok, out, out
    if ex.lang == "python" and re.search(r"^>>> ", ex.code, re.MULTILINE):
        (folder / "example.txt").write_text(ex.code)
        ok, out = run([python(), "-m", "doctest", "-o", "ELLIPSIS", "-o",
                       "NORMALIZE_WHITESPACE", "example.txt"], folder)
        return ok, out, None
    if ex.lang == "python":
        (folder / "example.py").write_text(ex.code)
        ok, out = run([python(), "example.py"], folder)
        return ok, out, out
    if ex.lang == "java":
        (folder / "Example.java").write_text(java_program(ex.code))
        ok, out = run(["javac", "-cp", jar(), "Example.java"], folder)
        if ok:
            ok, out = run(["java", "-cp", f"{jar()}:.", "Example"], folder)
        return ok, out, out
    if ex.lang == "rust":
        rustdoc = {"RUSTDOCFLAGS": "--cfg srpy_readme"}
        ok, out = run(["cargo", "test", "--release", "--offline", "--doc", "-p", "srpy-client",
                       "--", "ReadmeExamples"], ROOT, extra_env=rustdoc)
        # The README's Rust blocks are the doctests of `ReadmeExamples`: one ran at least.
        ok = ok and re.search(r"test result: ok\. [1-9]\d* passed", out) is not None
        return ok, out, None
    if ex.lang == "sh" and "until stopped" in ex.flags:
        return until_stopped(ex, folder)
    if ex.lang == "sh":
        ok, out = run(["bash", "-euo", "pipefail", "-c", ex.code], ROOT)
        return ok, out, out
    if ex.lang == "toml" and "server config" in ex.flags:
        (folder / "token").write_text(os.urandom(16).hex())
        os.chmod(folder / "token", 0o600)
        (folder / "srpy.toml").write_text(ex.code)
        return until_stopped(
            Example(ex.doc, ex.line, "sh", "srpy-server --config srpy.toml --uri-file .uri\n",
                    output="srpy-server ... serving ...\n"),
            folder,
        )
    return False, f"no way to run a '{ex.lang}' block", None


def until_stopped(ex: Example, folder: Path) -> tuple[bool, str, str | None]:
    """Starts the command, waits until it has printed as many lines as its
    output block shows (60 s at most), then stops it (SIGTERM)."""
    want = len((ex.output or "").splitlines()) or 1
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(["bash", "-c", "exec " + ex.code.strip()], cwd=folder, env=env(),
                                stdout=log, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            log.seek(0)
            if len(log.read().splitlines()) >= want:
                break
            time.sleep(0.05)
        running = proc.poll() is None
        proc.terminate()
        proc.wait(30)
        log.seek(0)
        out = log.read()
    return running, out, out


def check(ex: Example) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="srpy-example-") as d:
        folder = Path(d)
        server = None
        if "server" in ex.flags or "server with token" in ex.flags:
            server = Server(folder, token="server with token" in ex.flags)
        try:
            ok, out, shown = execute(ex, folder)
        finally:
            if server:
                server.stop()
    if ok and ex.output is not None:
        checker = doctest.OutputChecker()
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        if shown is None or not checker.check_output(ex.output, shown, flags):
            return False, f"the output differs from the one shown:\n--- shown\n{ex.output}--- got\n{shown}"
    return ok, out


def in_private_network() -> None:
    """Re-runs this script in a new network namespace with loopback up."""
    if os.environ.get("SRPY_EXAMPLES_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if shutil.which("unshare") is None or os.geteuid() != 0:
        raise SystemExit("doc_examples: needs root and unshare (util-linux) for a private network")
    os.environ["SRPY_EXAMPLES_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--net", sys.executable, *sys.argv])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="*", default=DOCS, metavar="DOC")
    parser.add_argument("--list", action="store_true", help="list the examples, run nothing")
    args = parser.parse_args()
    examples = [ex for doc in args.docs for ex in parse(doc)]
    if args.list:
        for ex in examples:
            how = f"not run: {ex.not_run}" if ex.not_run else ", ".join(sorted(ex.flags)) or "-"
            print(f"{ex.where:<22} {ex.lang:<7} {how}")
        return 0
    in_private_network()
    failed = ran = 0
    for ex in examples:
        if ex.not_run:
            print(f"skip {ex.where} ({ex.lang}): not run: {ex.not_run}")
            continue
        t0 = time.monotonic()
        ok, out = check(ex)
        ran += 1
        print(f"{'ok  ' if ok else 'FAIL'} {ex.where} ({ex.lang}) {time.monotonic() - t0:.1f} s",
              flush=True)
        if not ok:
            failed += 1
            print("  " + out.replace("\n", "\n  ").rstrip())
    skipped = sum(1 for ex in examples if ex.not_run)
    print(f"examples: {ran - failed} passed, {failed} failed, {skipped} not run (reasons above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
