"""A small workspace for the remediation tests: members, consents, two sharded datasets.

* 30 US members ``u00``..``u29`` (AI training on posts defaults on in the US), 6 EU
  members ``e0``..``e5`` and one Californian ``c1`` who granted posts and messages;
* public posts with a ``topic`` label (text made from the topic's words), and private
  messages among ``e*``/``c1``;
* built as of 2024-11-01 into ``posts`` (first party) and ``acme`` (the third party
  ``acme-ai``, which records a disclosure), 4 shards each, by author.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = "2024-11-01T00:00:00Z"
SHARDS = 4
TOPICS = {
    "pay": "salary bonus raise compensation payroll offer equity band review increase",
    "travel": "flight hotel trip airport booking visa itinerary luggage train conference",
    "hiring": "candidate interview resume recruiter role opening referral onsite screen hire",
}
US = [f"u{i:02d}" for i in range(30)]
EU = [f"e{i}" for i in range(6)]
CA = ["c1"]


@dataclass(frozen=True)
class World:
    root: Path
    posts: str
    acme: str
    posts_dir: Path
    acme_dir: Path
    source: Path


def _text(rng: random.Random, topic: str) -> str:
    words = TOPICS[topic].split()
    return " ".join(rng.choice(words) for _ in range(8))


def write_records(path: Path, seed: int = 3) -> Path:
    rng = random.Random(seed)
    start = datetime(2024, 10, 1, tzinfo=UTC)
    rows: dict[str, list[Any]] = {
        k: []
        for k in ("id", "category", "author_id", "recipient_ids", "created_at", "text", "topic")
    }

    def add(rid: str, cat: str, author: str, recipients: list[str] | None, topic: str) -> None:
        rows["id"].append(rid)
        rows["category"].append(cat)
        rows["author_id"].append(author)
        rows["recipient_ids"].append(recipients)
        rows["created_at"].append(start + timedelta(hours=rng.randint(0, 24 * 29)))
        rows["text"].append(_text(rng, topic))
        rows["topic"].append(topic)

    n = 0
    for author in US + EU + CA:
        for _ in range(6):
            add(f"p{n:04d}", "user.content.public", author, None, rng.choice(sorted(TOPICS)))
            n += 1
    people = EU + CA
    for i in range(40):
        author = people[i % len(people)]
        others = [p for p in people if p != author]
        add(
            f"m{i:04d}",
            "user.content.private",
            author,
            rng.sample(others, rng.randint(1, 2)),
            rng.choice(sorted(TOPICS)),
        )
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("category", pa.string()),
            ("author_id", pa.string()),
            ("recipient_ids", pa.list_(pa.string())),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("text", pa.string()),
            ("topic", pa.string()),
        ]
    )
    pq.write_table(pa.table(rows, schema=schema), path)
    return path


def grants() -> list[dict[str, Any]]:
    out = []
    for m in EU + CA:
        for setting in ("ai_training_posts", "ai_training_messages_partners"):
            out.append(
                {
                    "member_id": m,
                    "type": "grant",
                    "setting": setting,
                    "policy_version": "v2",
                    "effective_at": "2024-09-20T00:00:00Z",
                }
            )
    return out


def make_world(cli: Callable[..., Any], examples: Path, root: Path) -> World:
    def ok(*args: str) -> Any:
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
        return r

    ok("init")
    for v in ("v1", "v2"):
        ok("policy", "publish", str(examples / f"policy-{v}.yaml"))
    members = ["member_id,jurisdiction"] + [f"{m},US" for m in US] + [f"{m},EU" for m in EU]
    members += [f"{m},US-CA" for m in CA]
    (root / "m.csv").write_text("\n".join(members) + "\n")
    ok("members", "import", str(root / "m.csv"))
    (root / "e.jsonl").write_text("".join(json.dumps(e) + "\n" for e in grants()))
    ok("consent", "import", str(root / "e.jsonl"))
    source = write_records(root / "records.parquet")
    ids = {}
    for name, recipient in (("posts", "first_party"), ("acme", "acme-ai")):
        r = ok(
            "build",
            str(source),
            "--use",
            "train_ai_system",
            "--recipient",
            recipient,
            "--as-of",
            AS_OF,
            "--out",
            str(root / name),
            "--shards",
            str(SHARDS),
            "--json",
        )
        ids[name] = r.json()["dataset_id"]
    return World(root, ids["posts"], ids["acme"], root / "posts", root / "acme", source)


def logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)
