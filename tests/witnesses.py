"""Witnesses on loopback for tests: ``consentgate.tlog.witness_server`` apps run by uvicorn in
threads on 127.0.0.1 (ephemeral ports), stopped at the end; and policy files for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from consentgate.tlog.checkpoint import parse_verifier_key
from consentgate.tlog.witness import Cosigner
from consentgate.tlog.witness_server import WitnessState, create_witness_app, create_witness_key


@dataclass
class RunningWitness:
    name: str
    cosigner: Cosigner
    url: str
    state: Path
    server: uvicorn.Server


@contextmanager
def running_witnesses(
    directory: Path, log_keys: Sequence[str], *, count: int = 3, prefix: str = "w"
) -> Iterator[list[RunningWitness]]:
    """``count`` witnesses trusting ``log_keys`` (verifier key strings), each with its own
    key and state file in ``directory``; stopped (joined, at most 10 s each) on exit."""
    logs: dict[str, list] = {}
    for text in log_keys:
        key = parse_verifier_key(text)
        logs.setdefault(key.name, []).append(key)
    running: list[RunningWitness] = []
    threads: list[threading.Thread] = []
    try:
        for i in range(count):
            name = f"witness.test/{prefix}{i}"
            key_file = directory / f"{prefix}{i}.key"
            cosigner = create_witness_key(key_file, name=name)
            state = directory / f"{prefix}{i}.state"
            app = create_witness_app(cosigner, logs, WitnessState(state))
            config = uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 10
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("witness did not start")
                time.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            running.append(
                RunningWitness(name, cosigner, f"http://127.0.0.1:{port}", state, server)
            )
        yield running
    finally:
        for w in running:
            w.server.should_exit = True
        for t in threads:
            t.join(10)


def policy_text(
    log_keys: Sequence[str], witnesses: Sequence[RunningWitness], *, quorum: int | None = None
) -> str:
    """A tlog-policy: the logs, the witnesses with their URLs, and a k-of-n group."""
    lines = [f"log {k}" for k in log_keys]
    lines += [
        f"witness {w.name.rsplit('/', 1)[1]} {w.cosigner.verifier.key} {w.url}" for w in witnesses
    ]
    k = len(witnesses) if quorum is None else quorum
    names = " ".join(w.name.rsplit("/", 1)[1] for w in witnesses)
    lines += [f"group witnesses {k} {names}", "quorum witnesses"]
    return "\n".join(lines) + "\n"
