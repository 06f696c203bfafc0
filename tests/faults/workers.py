"""Run real ``consentgate`` commands in separate processes at once (the faults tests).

``run_parallel`` starts every command list as its own ``python -m`` process with the
same environment and waits for all of them, with a bound on the wall time; nothing
sleeps to provoke a race: the processes are simply started together and the ledger's
locks decide who goes first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# One process runs several commands in a row (one Python start-up for all of them):
# the driver calls the real entry point for each and reports exit codes and stderr.
DRIVER = """
import contextlib, io, json, sys
from consentgate.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        except BaseException as exc:  # a traceback would be a failure: report it
            import traceback
            traceback.print_exc(file=err)
            code = 99
    results.append({"code": code, "stderr": err.getvalue()})
print(json.dumps(results))
"""


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str


def environment(key_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CONSENTGATE_KEY_DIR"] = str(key_dir)
    env.update(extra)
    return env


def run_parallel(
    db_url: str, jobs: list[list[list[str]]], env: dict[str, str], *, timeout: float = 120
) -> list[list[Outcome]]:
    """Each job (a list of argument lists) in its own process, all started at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps([["--db", db_url, *a] for a in job])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    outcomes: list[list[Outcome]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"worker died (exit {proc.returncode}): {err[-2000:]}"
        outcomes.append([Outcome(r["code"], r["stderr"]) for r in json.loads(out)])
    return outcomes


# A writer for a fixed time: imports batches of fresh events, one after another, until the
# deadline, and reports every command's exit code, stderr and the events it acknowledged
# (``added`` of an import that exited 0). Event ids are unique per writer and batch.
TIMED_DRIVER = """
import contextlib, io, json, sys, time
from pathlib import Path
from consentgate.cli import main
spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec["seconds"]
results = []
batch = 0
while time.monotonic() < deadline:
    path = Path(spec["dir"]) / f"timed-{spec['writer']}-{batch}.jsonl"
    path.write_text("".join(
        json.dumps({
            "event_id": f"t{spec['writer']}-b{batch}-e{i}",
            "member_id": f"m{(spec['writer'] * 7 + batch + i) % spec['members']}",
            "type": "grant" if (batch + i) % 2 else "withdraw",
            "setting": "ai_training_posts",
            "policy_version": "v2",
            "effective_at": "2024-10-%02dT%02d:%02d:%02dZ" % (
                1 + batch % 28, i % 24, spec["writer"] % 60, batch % 60),
        }) + "\\n"
        for i in range(spec["events"])
    ))
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(["--db", spec["db"], "consent", "import", str(path), "--json"])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        except BaseException:
            import traceback
            traceback.print_exc(file=err)
            code = 99
    added = json.loads(out.getvalue())["added"] if code == 0 else 0
    results.append({"code": code, "stderr": err.getvalue(), "added": added})
    path.unlink()
    batch += 1
print(json.dumps(results))
"""


@dataclass(frozen=True)
class TimedOutcome:
    code: int
    stderr: str
    added: int


def run_timed(
    db_url: str,
    writers: int,
    seconds: float,
    *,
    events: int,
    members: int,
    work_dir: Path,
    env: dict[str, str],
) -> list[list[TimedOutcome]]:
    """``writers`` processes importing batches of ``events`` fresh events for ``seconds``."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                TIMED_DRIVER,
                json.dumps(
                    {
                        "db": db_url,
                        "writer": w,
                        "seconds": seconds,
                        "events": events,
                        "members": members,
                        "dir": str(work_dir),
                    }
                ),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    outcomes: list[list[TimedOutcome]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 300)
        assert proc.returncode == 0, f"worker died (exit {proc.returncode}): {err[-2000:]}"
        outcomes.append([TimedOutcome(r["code"], r["stderr"], r["added"]) for r in json.loads(out)])
    return outcomes
