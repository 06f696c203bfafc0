"""``consentgate demo``: a synthetic professional network modelled on the case.

Everything is generated with a fixed seed and goes through the same use cases as the CLI.
Later features (gate, redaction, remediation, proofs) extend this walkthrough.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from consentgate import workspace
from consentgate.errors import ConsentgateError
from consentgate.files import write_atomic
from consentgate.gate.source import open_source
from consentgate.store.engine import make_engine
from consentgate.timestamps import format_timestamp

Echo = Callable[[str], None]
JURISDICTIONS = [("US", 0.45), ("US-CA", 0.15), ("EU", 0.25), ("UK", 0.15)]
FIRST = [
    "Ann",
    "Bo",
    "Carla",
    "Dev",
    "Emeka",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
]
LAST = [
    "Lee",
    "Ek",
    "Garcia",
    "Patel",
    "Okafor",
    "Haddad",
    "Novak",
    "Sato",
    "Petrov",
    "Chen",
    "Mensah",
    "Weber",
    "Rossi",
    "Berg",
    "Khan",
    "Iyer",
]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _example(name: str) -> str:
    return resources.files("consentgate").joinpath("data", name).read_text(encoding="utf-8")


def run_demo(directory: Path, *, n_members: int = 3000, seed: int = 7, echo: Echo = print) -> None:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "consentgate.db"
    if db.exists():
        db.unlink()
    engine = make_engine(f"sqlite:///{db}")
    workspace.init_workspace(engine)
    echo(f"== consentgate demo: a synthetic professional network ({n_members} members) ==")
    echo(f"Workspace: {directory}/ (ledger: {db.name})\n")

    echo("1. Policy history")
    for name in ("policy-v1.yaml", "policy-v2.yaml"):
        path = directory / name
        path.write_text(_example(name), encoding="utf-8")
        published = workspace.publish_policy(
            engine, path.read_text(encoding="utf-8"), name=str(path), notice_days=30
        )
        material = [c for c in published.changes if c.material]
        echo(
            f"   published {published.policy.version}: effective {format_timestamp(published.policy.effective_from)}, {len(material)} material change(s)"
        )
    for name, why in (
        ("policy-bad-default.yaml", "private messages on by default"),
        ("policy-quiet-change.yaml", "changed after the fact"),
    ):
        path = directory / name
        path.write_text(_example(name), encoding="utf-8")
        try:
            workspace.publish_policy(
                engine, path.read_text(encoding="utf-8"), name=str(path), notice_days=30
            )
            echo(f"   UNEXPECTED: {name} was accepted")
        except ConsentgateError as exc:
            echo(f"   refused ({why}): {str(exc).splitlines()[0][:160]}")

    echo("\n2. Members")
    members = []
    weights = [w for _, w in JURISDICTIONS]
    for i in range(n_members):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        members.append(
            {
                "member_id": f"mem-{i:05d}",
                "jurisdiction": rng.choices([j for j, _ in JURISDICTIONS], weights)[0],
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "phone": f"+1 415 555 {i % 10000:04d}",
            }
        )
    mpath = directory / "members.jsonl"
    mpath.write_text("".join(json.dumps(m) + "\n" for m in members), encoding="utf-8")
    res = workspace.import_members(engine, members, source=mpath.name)
    by_jur = Counter(m["jurisdiction"] for m in members)
    echo(
        f"   imported {res.added} members: "
        + ", ".join(f"{j} {by_jur[j]}" for j, _ in JURISDICTIONS)
    )

    echo("\n3. Consent events")
    timely, late = _events(rng, members)
    tpath, lpath = directory / "events-2024-10.jsonl", directory / "events-backdated.jsonl"
    tpath.write_text("".join(json.dumps(e) + "\n" for e in timely), encoding="utf-8")
    lpath.write_text("".join(json.dumps(e) + "\n" for e in late), encoding="utf-8")
    r1 = workspace.import_events(
        engine, timely, source=tpath.name, recorded_at=_t("2024-10-31T00:00:00Z")
    )
    r2 = workspace.import_events(
        engine, late, source=lpath.name, recorded_at=_t("2024-11-20T00:00:00Z")
    )
    kinds = Counter(e["type"] for e in timely + late)
    echo(
        f"   {r1.added + r2.added} events: "
        + ", ".join(f"{k} {kinds[k]}" for k in ("grant", "deny", "withdraw", "erase"))
    )
    echo(
        f"   {len(late)} of them back-dated: effective in September/October, learned on 2024-11-20"
    )
    again = workspace.import_events(engine, tpath.read_text(encoding="utf-8"), source=tpath.name)
    echo(f"   re-importing the same file adds {again.added} (idempotent by event_id)")

    echo("\n4. Effective consent (bitemporal)")
    at = _t("2024-11-01T00:00:00Z")
    if late:
        sample = str(late[0]["member_id"])
        before = workspace.consent_status(
            engine, sample, "ai_training_posts", at=at, known_at=_t("2024-11-10T00:00:00Z")
        )
        after = workspace.consent_status(
            engine, sample, "ai_training_posts", at=at, known_at=_t("2024-11-30T00:00:00Z")
        )
        echo(f"   member {sample}, 'ai_training_posts' on 2024-11-01:")
        echo(f"     as known on 2024-11-10: {before.state}")
        echo(f"     as known on 2024-11-30: {after.state}  (a back-dated withdrawal arrived)")
    else:  # a small --members may draw none
        echo("   (no back-dated withdrawal among these members: no example to show)")
    states: Counter[str] = Counter()
    for m in members[:300]:
        states[
            workspace.consent_status(engine, str(m["member_id"]), "ai_training_posts", at=at).state
        ] += 1
    echo(
        "   first 300 members on 2024-11-01: "
        + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    )

    echo("\n5. Consent snapshots for AI training, as of 2024-11-01")
    for recipient in ("first_party", "acme-ai"):
        snap = workspace.build_snapshot(
            engine, use="train_ai_system", recipient=recipient, as_of=at
        )
        sha = write_atomic(directory / f"snapshot-{recipient}.parquet", snap.grants_parquet_bytes())
        cats = Counter(snap.grants.column("category").to_pylist())
        erased = sum(snap.members.column("erased").to_pylist())
        echo(
            f"   {recipient:11s}: {snap.grants.num_rows} consented rows "
            + str(dict(cats))
            + f"; {erased} erased; sha256 {sha[:16]}…"
        )

    echo("\n6. Training datasets through the gate (as of 2024-11-01, built now)")
    n_posts, n_messages = _records(rng, members, directory)
    echo(
        f"   sources: posts.parquet ({n_posts} public posts), messages.parquet ({n_messages} private messages)"
    )
    leaver = _leaver(engine, directory, at)
    redactor = workspace.make_redactor(engine)
    for label, source, recipient, out in (
        ("first-party model, public posts", "posts.parquet", "first_party", "dataset-posts"),
        ("Acme AI (third party), private messages", "messages.parquet", "acme-ai", "dataset-acme"),
    ):
        result = workspace.build(
            engine,
            open_source(directory / source),
            use="train_ai_system",
            recipient=recipient,
            out=directory / out,
            as_of=at,
            shards=8,
            redactor=redactor,
        )
        counts = result.manifest["counts"]
        echo(f"   {label}: dataset {result.dataset_id[:16]}… -> {out}/")
        echo(f"     {'included':32s} {counts['included']:>6}")
        for reason, n in sorted(counts["excluded"].items()):
            if n:
                echo(f"     {'excluded: ' + reason:32s} {n:>6}")
        echo(f"     {'input':32s} {counts['input']:>6}")
        owners = result.manifest["owner_columns"]
        if owners["treatment"] != "kept":
            echo(f"     owner columns {', '.join(owners['columns'])}: {owners['treatment']}")
    _past_cutoff_section(engine, directory, at, leaver, echo)
    if result.member_counts.num_rows:
        who = str(result.member_counts.column("member_id")[0])
        held = workspace.impact(engine, who)
        roles = ", ".join(
            f"{h.recipient}: {h.as_author} as author, {h.as_participant} as participant"
            for h in held
        )
        echo(f"   impact of member {who}: {len(held)} dataset(s) hold their records ({roles})")

    _withdrawal_section(engine, directory, at, result.member_counts, echo)  # issue 5

    echo("\n8. Audit trail")
    report = workspace.verify_audit(engine)
    echo(
        f"   intact: {report.entries} hash-chained entries, {report.rows} audited rows, head {report.head[:16]}…"
    )
    member, receipt = _proofs_section(
        engine, directory, echo, [str(e["member_id"]) for e in timely]
    )
    person = next(m for m in members if m["member_id"] == member)
    namesakes = sum(m["name"] == person["name"] for m in members) - 1
    _erasure_section(engine, db, echo, person, receipt, namesakes)
    from consentgate.ecosystem.showcase import ecosystem_section  # issue 13

    ecosystem_section(engine, directory, echo, model="topic-classifier")
    echo("\nTry: consentgate --db sqlite:///" + str(db) + " policy diff v1 v2")


def _leavers(
    counts: list[dict[str, Any]], acme: list[dict[str, Any]], shard_of: Callable[[str, int], int]
) -> tuple[list[str], str | None]:
    """Who withdraws in the withdrawal section: two authors of two posts or more in one
    shard of eight (the shard of the first such author, else the shard with the most; one
    author when no shard has two, none when there is no such author), and a member of the
    partner dataset who is neither (None when there is none). A small demo (``--members``)
    may have few such members."""
    authors = [str(r["member_id"]) for r in counts if r["as_author"] >= 2]
    if not authors:
        return [], None
    by_shard: dict[int, list[str]] = {}
    for m in authors:
        by_shard.setdefault(shard_of(m, 8), []).append(m)
    first = by_shard[shard_of(authors[0], 8)]
    pair = first[:2] if len(first) >= 2 else max(by_shard.values(), key=len)[:2]
    sharer = next(
        (str(r["member_id"]) for r in acme if r["member_id"] not in pair and r["as_author"] > 0),
        None,
    )
    return pair, sharer


def _leaver(engine: Any, directory: Path, at: datetime) -> str | None:
    """A member whose posts were eligible on ``at`` and who withdraws from AI training on
    posts later (effective 2024-12-15, recorded now); None when no member qualifies (a
    small ``--members``)."""
    import pyarrow.parquet as pq

    snap = workspace.build_snapshot(
        engine, use="train_ai_system", recipient="first_party", as_of=at, record=False
    )
    covers = {
        g["member_id"]: g["covers_from"]
        for g in snap.grants.to_pylist()
        if g["category"] == "user.content.public"
    }
    posts = pq.read_table(directory / "posts.parquet", columns=["author_id", "created_at"])
    member = next(
        (
            r["author_id"]
            for r in posts.to_pylist()
            if r["author_id"] in covers and covers[r["author_id"]] <= r["created_at"] <= at
        ),
        None,
    )
    if member is None:
        return None
    workspace.record_event(
        engine,
        {
            "member_id": member,
            "type": "withdraw",
            "setting": "ai_training_posts",
            "effective_at": "2024-12-15T00:00:00Z",
            "source": "web",
        },
    )
    return str(member)


def _past_cutoff_section(
    engine: Any, directory: Path, at: datetime, leaver: str | None, echo: Echo
) -> None:
    """A past cutoff is reproducible, never a way back to consent that has since ended."""
    if leaver is not None:
        then = workspace.consent_status(engine, leaver, "ai_training_posts", at=at)
        held = workspace.impact(engine, leaver)
        echo(
            f"   {leaver} withdrew from 'ai_training_posts' on 2024-12-15, after the cutoff: "
            f"on 2024-11-01 they were {then.state}, yet the builds made now exclude their "
            f"posts as withdrawn (eligible at the cutoff AND now); {len(held)} dataset(s) hold "
            "them"
        )
    again = workspace.build(
        engine,
        open_source(directory / "posts.parquet"),
        use="train_ai_system",
        recipient="first_party",
        out=directory / "dataset-posts-again",
        as_of=at,
        shards=8,
        redactor=workspace.make_redactor(engine),
    )
    if again.registered is not None:
        echo(
            f"   rebuilding it with identical inputs verifies: identical to registered dataset "
            f"{again.registered['dataset_id'][:16]}…, nothing new written or registered"
        )
    future = datetime.now(UTC) + timedelta(days=1)
    try:
        workspace.build(
            engine,
            open_source(directory / "posts.parquet"),
            use="train_ai_system",
            recipient="first_party",
            out=directory / "dataset-future",
            as_of=future,
            redactor=workspace.make_redactor(engine),
        )
        echo("   UNEXPECTED: a build with a cutoff in the future was accepted")
    except ConsentgateError as exc:
        echo(f"   refused: {exc}")


def _proofs_section(
    engine: Any, directory: Path, echo: Echo, candidates: list[str]
) -> tuple[str, Path]:
    """The log is published as C2SP tiles; a member gets a receipt and a proof their
    messages are NOT in a dataset (c2sp.org/tlog-proof files), and checks both offline with
    nothing but the public key — and the receipt against the published log. Returns the
    member and the receipt file."""
    from consentgate.tlog.checkpoint import parse_verifier_key
    from consentgate.tlog.published import open_log
    from consentgate.tlog.statements import (
        verify_in_published,
        verify_membership_proof,
        verify_receipt_proof,
    )
    from consentgate.tlog.tiles import CHECKPOINT
    from consentgate.workspace.log_publication import publish_log

    echo("\n9. Proofs a member can check offline")
    key = directory / "keys" / "log.key"
    public_key = workspace.ensure_signing_key(engine, key)
    (directory / "log.pub").write_text(public_key + "\n", encoding="utf-8")
    verifier = parse_verifier_key(public_key)
    acme = next(
        d
        for d in workspace.list_datasets(engine)
        if d.recipient == "acme-ai" and d.status == "active"
    )
    manifest = json.loads((Path(acme.path) / "manifest.json").read_text(encoding="utf-8"))
    inside = set(workspace.dataset_member_ids(engine, acme.dataset_id))
    member = next(m for m in candidates if m not in inside)
    receipt = workspace.issue_receipt_proof(engine, key, member)
    rpath = directory / f"receipt-{member}.tlog-proof"
    rpath.write_text(receipt.text, encoding="utf-8")
    checked = verify_receipt_proof(rpath.read_bytes(), log_keys=[verifier])
    echo(
        f"   receipt for {member}'s latest consent event: leaf {checked.leaf_index}, verified offline"
    )
    issued = workspace.prove_member_tlog(engine, key, member, acme.dataset_id)
    ppath = directory / f"proof-{member}-not-in-acme.tlog-proof"
    ppath.write_text(issued.text, encoding="utf-8")
    result = verify_membership_proof(
        ppath.read_bytes(),
        log_keys=[verifier],
        root_hex=manifest["members_root"],
        secret=bytes.fromhex(issued.member_secret_hex),
        member_id=member,
    )
    status = "IN" if result.present else "NOT in"
    echo(
        f"   proof that {member}'s data is {status} the Acme dataset: valid against "
        f"members_root {manifest['members_root'][:16]}… stated in the log"
    )
    published = publish_log(engine, key, directory / "log")
    fetch = open_log(str(directory / "log"))
    verify_in_published(
        checked.leaf_index,
        checked.entry,
        checked.checkpoint,
        note=fetch(CHECKPOINT).decode("utf-8"),
        fetch=fetch,
        log_keys=[verifier],
    )
    echo(
        f"   log published as C2SP tiles in log/ ({published.checkpoint.size} entries); the "
        "receipt checks against it too"
    )
    echo(
        f"   check it yourself: consentgate verify-receipt {rpath.name} --public-key log.pub "
        "--log log"
    )
    return member, rpath


def _erasure_section(
    engine: Any, db: Path, echo: Echo, person: dict[str, str], receipt: Path, namesakes: int
) -> None:
    """The receipt holder asks for erasure: their details leave the ledger file, the audit
    trail stays intact and their receipt still verifies against the log."""
    from consentgate.tlog.checkpoint import load_signer
    from consentgate.tlog.proof import parse_tlog_proof
    from consentgate.tlog.statements import verify_receipt_proof

    member = person["member_id"]
    echo(f"\n10. Erasure: {member} asks to be forgotten")
    details = [person[f].encode() for f in ("email", "phone")]
    found_before = sum(d in db.read_bytes() + _sibling_bytes(db) for d in details)
    workspace.record_event(
        engine, {"member_id": member, "type": "erase", "effective_at": "2024-12-01T00:00:00Z"}
    )
    on_disk = db.read_bytes() + _sibling_bytes(db)
    found_after = sum(d in on_disk for d in details)
    echo(
        f"   their email and phone in the ledger's files (database and write-ahead log): "
        f"{found_before} of 2 before, {found_after} of 2 after; their name is deleted too "
        f"(it stays only as the name of {namesakes} other member(s))"
    )
    key = db.parent / "keys" / "log.key"
    held = parse_tlog_proof(receipt.read_bytes())
    report = workspace.verify_log(
        engine, key_file=key, checkpoints=[(receipt.name, held.checkpoint)]
    )
    checked = verify_receipt_proof(receipt.read_bytes(), log_keys=[load_signer(key).verifier])
    echo(
        f"   audit trail intact: {report.entries} entries, {report.rows} rows, and the log extends "
        f"the checkpoint of the receipt issued before (leaf {checked.leaf_index}), which still "
        "verifies offline"
    )


def _sibling_bytes(db: Path) -> bytes:
    """The bytes SQLite keeps beside the database file (write-ahead log, journal)."""
    return b"".join(
        p.read_bytes()
        for p in (db.with_name(db.name + s) for s in ("-wal", "-journal"))
        if p.exists()
    )


def _records(rng: random.Random, members: list[dict[str, str]], directory: Path) -> tuple[int, int]:
    """Public posts and private messages (1-2 recipients) written as Parquet."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = [m["member_id"] for m in members]
    start = _t("2024-01-01T00:00:00Z")
    rows: dict[str, list[object]] = {
        k: [] for k in ("id", "category", "author_id", "recipient_ids", "created_at", "text")
    }
    for i in range(len(ids) * 3):
        message = rng.random() < 0.4
        author = rng.choice(ids[:300] if message else ids)
        rows["id"].append(f"rec-{i:06d}")
        rows["category"].append("user.content.private" if message else "user.content.public")
        rows["author_id"].append(author)
        rows["recipient_ids"].append(
            rng.sample([x for x in ids[:200] if x != author], rng.randint(1, 2))
            if message
            else None
        )
        rows["created_at"].append(start + timedelta(days=rng.uniform(240 if message else 0, 304)))
        rows["text"].append(
            "Thanks for the intro, let's talk next week."
            if message
            else "Excited to share our team's new project!"
        )
    table = pa.table(
        rows,
        schema=pa.schema(
            [
                ("id", pa.string()),
                ("category", pa.string()),
                ("author_id", pa.string()),
                ("recipient_ids", pa.list_(pa.string())),
                ("created_at", pa.timestamp("us", tz="UTC")),
                ("text", pa.string()),
            ]
        ),
    )
    private = pc.equal(table["category"], "user.content.private")
    posts, messages = table.filter(pc.invert(private)), table.filter(private)
    pq.write_table(posts, directory / "posts.parquet")
    pq.write_table(messages, directory / "messages.parquet")
    return int(posts.num_rows), int(messages.num_rows)


def _events(
    rng: random.Random, members: list[dict[str, str]]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    timely: list[dict[str, object]] = []
    late: list[dict[str, object]] = []
    start = _t("2024-09-18T00:00:00Z")

    def when(days_from: int, days_to: int) -> str:
        return format_timestamp(start + timedelta(days=rng.uniform(days_from, days_to)))

    for m in members:
        mid, us = m["member_id"], m["jurisdiction"].startswith("US")
        roll = rng.random()
        base = {"member_id": mid, "source": "web"}
        if us and roll < 0.20:  # US members opting out of the default
            timely.append(
                {
                    **base,
                    "type": "deny",
                    "setting": "ai_training_posts",
                    "effective_at": when(0, 40),
                }
            )
        elif not us and roll < 0.30:  # EU/UK members opting in, some covering older posts
            grant: dict[str, object] = {
                **base,
                "type": "grant",
                "setting": "ai_training_posts",
                "policy_version": "v2",
                "effective_at": when(0, 30),
            }
            if rng.random() < 0.3:
                grant["covers_from"] = "2024-01-01T00:00:00Z"
            timely.append(grant)
        if roll > 0.93 or (int(mid[4:]) < 200 and rng.random() < 0.6):
            timely.append(
                {
                    **base,
                    "type": "grant",
                    "setting": "ai_training_messages_partners",
                    "policy_version": "v2",
                    "effective_at": when(0, 20),
                }
            )
        if us and 0.20 <= roll < 0.24:  # back-dated withdrawals, learned late
            late.append(
                {
                    **base,
                    "type": "withdraw",
                    "setting": "ai_training_posts",
                    "effective_at": when(2, 40),
                    "source": "api",
                }
            )
        if roll > 0.995:
            timely.append({**base, "type": "erase", "effective_at": when(30, 40)})
    return timely, late


# --------------------------------------------------------------------------- issue 5

TOPICS = {
    "pay": "salary bonus raise compensation payroll offer equity band review increase",
    "travel": "flight hotel trip airport booking visa itinerary luggage train conference",
    "hiring": "candidate interview resume recruiter role opening referral onsite screen hire",
    "project": "deadline launch roadmap milestone sprint release backlog spec design ship",
}


def _topic_posts(directory: Path) -> Path:
    """posts.parquet with a ``topic`` label and text made from the topic's words."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    posts = pq.read_table(directory / "posts.parquet")
    rng = random.Random(11)
    names = sorted(TOPICS)
    topics = [rng.choice(names) for _ in range(posts.num_rows)]
    every = " ".join(TOPICS.values()).split()
    texts = [  # five words of the topic, three of any topic: not trivially separable
        " ".join([*(rng.choice(TOPICS[t].split()) for _ in range(5)), *rng.sample(every, 3)])
        for t in topics
    ]
    table = posts.set_column(posts.schema.get_field_index("text"), "text", pa.array(texts))
    path = directory / "posts-topics.parquet"
    pq.write_table(table.append_column("topic", pa.array(topics)), path)
    return path


def _withdrawal_section(
    engine: Any, directory: Path, at: datetime, acme_members: Any, echo: Echo
) -> None:
    """A member withdraws: orders, dataset remediation, SISA retraining, a deletion notice."""
    from consentgate import workspace
    from consentgate.gate.run import shard_of
    from consentgate.remediation.notices import verify_notice

    echo("\n7. A withdrawal reaches datasets, models and a third party")
    built = workspace.build(
        engine,
        open_source(_topic_posts(directory)),
        use="train_ai_system",
        recipient="first_party",
        out=directory / "dataset-topics",
        as_of=at,
        shards=8,
    )
    try:
        from sklearn.naive_bayes import MultinomialNB
    except ImportError:
        echo("   (scikit-learn is not installed: pip install 'consentgate[unlearn]')")
        return
    from consentgate.unlearn import TextFeatures

    model = workspace.train_model(
        engine,
        "topic-classifier",
        [built.dataset_id],
        features=TextFeatures("text", n_features=2**10),
        label="topic",
        estimator_factory=MultinomialNB,
        artifact=directory / "models" / "topic-classifier-v1",
        seed=1,
        deployed_to=["feed"],
    )
    echo(
        f"   dataset-topics: {built.counts.included} posts with a topic label, 8 shards by author; "
        f"SISA model {model.model_id} trained per shard"
    )
    pair, sharer = _leavers(built.member_counts.to_pylist(), acme_members.to_pylist(), shard_of)
    if not pair:
        echo("   (no author with two posts in the topic dataset: too few members for this step)")
        return
    leaving = [(m, "ai_training_posts") for m in pair]
    if sharer is not None:
        leaving.append((sharer, "ai_training_messages_partners"))
    for member, setting in leaving:
        workspace.record_event(
            engine,
            {
                "member_id": member,
                "type": "withdraw",
                "setting": setting,
                "effective_at": format_timestamp(datetime.now(UTC)),
                "source": "web",
            },
        )
    echo(
        f"   {' and '.join(pair)} withdraw{'s' if len(pair) == 1 else ''} 'ai_training_posts'"
        + (f"; {sharer} withdraws message sharing" if sharer is not None else "")
    )
    for o in workspace.list_orders(engine):
        target = o.target[:12] + "…" if len(o.target) > 13 else o.target
        where = "" if o.shard is None else f" shard {o.shard}"
        echo(
            f"     order {o.action:13s} {target}{where}: {o.members} member(s), "
            f"due {format_timestamp(o.deadline)[:10]} ({o.legal_basis[0]})"
        )
    for o in {o.target: o for o in workspace.list_orders(engine) if o.kind == "dataset"}.values():
        done = workspace.remediate(engine, o.target)
        echo(
            f"   remediated {o.target[:12]}… -> {done.out.name if done.out else '-'}: "
            f"{done.records_removed} of {done.records_before} records removed (re-checked now), "
            f"{len(done.parts_rewritten) + len(done.parts_removed)} part(s) rewritten, "
            f"{len(done.parts_kept)} kept byte-identical"
        )
    result = workspace.retrain(engine, model.model_id)
    ev = result.evidence
    echo(
        f"   retrained {result.new_model_id}: shard(s) {ev['shards_retrained']} of {ev['shard_count']} "
        f"({ev['rows_trained']} of {ev['rows_total']} rows, {ev['seconds']:.2f} s); accuracy "
        f"{ev['accuracy_before']:.3f} -> {ev['accuracy_after']:.3f} (in-sample)"
    )
    key = directory / "keys" / "log.key"
    for sent in workspace.send_notices(engine, key_file=key, outbox=directory / "outbox"):
        from consentgate.tlog.checkpoint import load_signer

        body = verify_notice(sent.path.read_text(), load_signer(key).verifier)
        echo(
            f"   deletion notice {sent.notice_id} to {sent.recipient}: {sent.records} pseudonymous "
            f"record reference(s), due {body['deadline'][:10]}, signature verified -> "
            f"{sent.path.relative_to(directory)}"
        )
    report = workspace.dsar(engine, pair[0])
    echo(
        f"   {pair[0]}'s access report: {len(report.datasets)} dataset(s), "
        f"{len(report.models)} model(s), {len(report.remediation)} order(s) "
        f"({sum(o.status == 'done' for o in report.remediation)} done)"
    )
