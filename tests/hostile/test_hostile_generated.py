"""Generated malformed files (hypothesis) through the real importers.

Two properties, on SQLite and PostgreSQL:

* a file made malformed on purpose — a valid line with one hostile mutation, surrounded by
  random valid-looking lines — is refused: exit 1, a message naming the file and the
  mutated line, the ledger unchanged;
* any generated file (arbitrary JSON values per line, arbitrary text in CSV cells) either
  imports (exit 0) or is refused (exit 1) with the file named and the ledger unchanged —
  never a traceback, never another exit code.

A short run by default (fixed seed, few examples); ``CONSENTGATE_CAMPAIGN=long`` (``make
campaign``) runs many more examples.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile_world import LONG, SECRET_EMAIL, World, world_fixture  # noqa: F401 (the fixture)
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

# Examples per property and database in the long run (sized with the kill rounds, see
# tests/faults/test_kill.py; CONSENTGATE_CAMPAIGN_EXAMPLES overrides it).
EXAMPLES = int(os.environ.get("CONSENTGATE_CAMPAIGN_EXAMPLES", "50")) if LONG else 5
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

GOOD_EVENT = {
    "member_id": "u2",
    "type": "deny",
    "setting": "ai_training_posts",
    "effective_at": "2024-10-01T00:00:00Z",
}

# One hostile mutation of a good event line: (name, function of the line's dict -> raw line)
MUTATIONS: dict[str, Callable[[dict[str, Any], int], str]] = {
    "deep": lambda e, n: json.dumps(e)[:-1] + ', "evidence": ' + '{"a": ' * n + "1" + "}" * n + "}",
    "long-integer": lambda e, n: json.dumps(e)[:-1] + ', "evidence": {"n": ' + "7" * n + "}}",
    "repeated-key": lambda e, n: json.dumps(e)[:-1] + ', "type": "withdraw"}',
    "ts-overflow": lambda e, n: json.dumps(
        {
            **e,
            "effective_at": f"{(n % 2 and '0001-01-01T00:00:00+0') or '9999-12-31T23:59:59-0'}{1 + n % 9}:00",
        }
    ),
    "nul-id": lambda e, n: json.dumps({**e, "event_id": "e" * (n % 20) + "\x00"}),
    "long-id": lambda e, n: json.dumps({**e, "event_id": "e" * (129 + n)}),
    "nan": lambda e, n: (
        json.dumps(e)[:-1] + ', "evidence": {"x": ' + ("NaN", "Infinity", "-Infinity")[n % 3] + "}}"
    ),
    "control-member": lambda e, n: json.dumps({**e, "member_id": "u" + chr(n % 32) + "2"}),
    "unknown-field": lambda e, n: json.dumps({**e, f"x{n}": SECRET_EMAIL}),
}


def _events_file(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "gen.jsonl"
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass"))
    return path


def _refused_unchanged(world: World, path: Path, *args: str) -> str:
    before = world.dump()
    result = world.run(*args, str(path))
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output[-2000:]
    assert str(path) in output
    assert SECRET_EMAIL not in output
    assert world.dump() == before
    return output


good_lines = st.builds(
    lambda day, kind: json.dumps(
        {**GOOD_EVENT, "type": kind, "effective_at": f"2024-10-{day:02d}T00:00:00Z"}
    ),
    st.integers(1, 28),
    st.sampled_from(["deny", "withdraw"]),
)


@seed(20240918)
@SETTINGS
@given(
    before=st.lists(good_lines, max_size=4),
    after=st.lists(good_lines, max_size=4),
    mutation=st.sampled_from(sorted(MUTATIONS)),
    n=st.integers(min_value=1, max_value=5000),
)
def test_a_mutated_event_line_is_refused_by_line(
    world: World,
    tmp_path_factory: pytest.TempPathFactory,
    before: list[str],
    after: list[str],
    mutation: str,
    n: int,
) -> None:
    if mutation == "deep":
        n = 33 + n % 5000  # deeper than the limit, from just past it to far past it
    if mutation == "long-integer":
        n = 65 + n
    bad = MUTATIONS[mutation](dict(GOOD_EVENT), n)
    path = _events_file(tmp_path_factory.mktemp("gen"), [*before, bad, *after])
    output = _refused_unchanged(world, path, "consent", "import")
    assert re.search(re.escape(f"{path}:{len(before) + 1}: "), output), output[-2000:]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.text(max_size=10),
        "member_id": st.sampled_from(["u1", "u2", "e1", "nobody"]) | st.text(max_size=6),
        "type": st.sampled_from(["grant", "deny", "withdraw", "erase"]) | st.text(max_size=5),
        "setting": st.sampled_from(["ai_training_posts", "personalize_feed"]) | json_values,
        "policy_version": st.sampled_from(["v1", "v2"]) | json_values,
        "effective_at": st.sampled_from(
            ["2024-10-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "2024-10-01"]
        )
        | json_values,
        "covers_from": json_values,
        "evidence": json_values,
    },
)


@seed(20240814)
@SETTINGS
@given(st.lists(event_like | json_values, min_size=1, max_size=5))
def test_any_generated_events_file_imports_or_is_refused_cleanly(
    world: World, tmp_path_factory: pytest.TempPathFactory, docs: list[Any]
) -> None:
    lines = [json.dumps(d, allow_nan=True) for d in docs]
    path = _events_file(tmp_path_factory.mktemp("gen"), lines)
    before = world.dump()
    result = world.run("consent", "import", str(path))
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 1), output[-2000:]
    if result.exit_code == 1:
        assert str(path) in output
        assert world.dump() == before


cells = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12
) | st.sampled_from(["u1", "US", "EU", "\u2028", "\x0c", '"', "a,b", "\u200b"])


@seed(20230102)
@SETTINGS
@given(st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=5))
def test_any_generated_members_csv_imports_or_is_refused_cleanly(
    world: World, tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]]
) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["member_id", "jurisdiction", "email"])
    for row in rows:
        writer.writerow(row)
    path = tmp_path_factory.mktemp("gen") / "gen.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    before = world.dump()
    result = world.run("members", "import", str(path))
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 1), output[-2000:]
    if result.exit_code == 1:
        assert str(path) in output
        assert world.dump() == before
        # a problem is located on a line the file has (the csv module's line count)
        lines = len(buf.getvalue().split("\n")) - 1
        for found in re.findall(re.escape(str(path)) + r":(\d+):", output):
            assert 1 <= int(found) <= lines
