"""DESIGN.md's consent semantics, one table test per rule, plus a property test against a
brute-force reference model (tests/reference_model.py) over random histories."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest
from factories import day, event, make_policy, setting
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_model import reference_consent

from consentgate.consent import (
    ConsentEvent,
    Member,
    compute_snapshot,
    effective_consent,
    events_table,
    setting_status,
)
from consentgate.policy import PolicyHistory, PolicyVersion, Scope

PUB = Scope("train_ai_system", "user.content.public", "first_party")
PRIV = Scope("train_ai_system", "user.content.private", "first_party")
US, EU = Member("m1", "US"), Member("m1", "EU")
V1 = make_policy("v1", effective=40, settings=[setting(defaults={"US": "on", "*": "off"})])
WIDE = setting(
    categories=("user.content.public", "user.behavior"), defaults={"US": "on", "*": "off"}
)
V2 = make_policy("v2", published=60, effective=100, settings=[WIDE])
H = PolicyHistory.of([V1, V2])
BEHAVIOR = Scope("train_ai_system", "user.behavior", "first_party")


def decide(
    member: Member,
    scope: Scope,
    events: list[ConsentEvent],
    at: float,
    known: float = 10_000,
    history: PolicyHistory = H,
) -> tuple[str, datetime | None]:
    d = effective_consent(
        member, scope, events=events, history=history, at=day(at), known_at=day(known)
    )
    return d.state, d.covers_from


# Rule 1: erased at or before t -> no, whatever else was said.
def test_erased_wins_over_later_grant() -> None:
    evs = [event("erase", effective=50), event("grant", effective=60)]
    assert decide(EU, PUB, evs, at=70) == ("erased", None)
    assert decide(EU, PUB, evs, at=55)[0] == "erased"
    assert decide(EU, PUB, evs, at=45)[0] == "default_off"  # not yet erased


# Rule 2: latest covering event decides.
def test_latest_event_decides() -> None:
    evs = [
        event("grant", effective=50),
        event("withdraw", effective=60),
        event("grant", effective=70, covers_from=10),
    ]
    assert decide(EU, PUB, evs, at=55) == ("granted", day(50))
    assert decide(EU, PUB, evs, at=65)[0] == "withdrawn"
    assert decide(EU, PUB, evs, at=75) == ("granted", day(10))


def test_deny_beats_default_on() -> None:
    assert decide(US, PUB, [event("deny", effective=50)], at=60)[0] == "denied"


def test_grant_freezes_scopes_of_its_version() -> None:
    # v2 widens ai_posts to user.behavior; a v1 grant does not cover it.
    evs = [event("grant", effective=50, version="v1")]
    assert decide(EU, BEHAVIOR, evs, at=150)[0] == "default_off"
    assert decide(EU, PUB, evs, at=150)[0] == "granted"
    evs2 = [event("grant", effective=110, version="v2")]
    assert decide(EU, BEHAVIOR, evs2, at=150)[0] == "granted"


def test_withdraw_covers_every_scope_the_setting_ever_had() -> None:
    # A withdrawal recorded against v1's setting also ends default-on for v2's wider scope.
    evs = [event("withdraw", effective=50)]
    assert decide(US, BEHAVIOR, evs, at=150)[0] == "withdrawn"


def test_grant_needs_scope_still_declared_in_force() -> None:
    v3 = make_policy(
        "v3",
        published=150,
        effective=200,
        settings=[setting("other", categories=("user.behavior",))],
    )
    h = PolicyHistory.of([V1, V2, v3])
    evs = [event("grant", effective=50)]
    assert decide(EU, PUB, evs, at=150, history=h)[0] == "granted"
    assert decide(EU, PUB, evs, at=250, history=h)[0] == "not_offered"


def test_covers_from_defaults_to_effective_at() -> None:
    assert decide(EU, PUB, [event("grant", effective=50)], at=60) == ("granted", day(50))
    assert decide(EU, PUB, [event("grant", effective=50, covers_from=5)], at=60) == (
        "granted",
        day(5),
    )


# Rule 3: defaults by jurisdiction, from the start of the unbroken default-on run.
def test_default_by_jurisdiction() -> None:
    assert decide(US, PUB, [], at=60) == ("default_on", V1.effective_from)
    assert decide(Member("m1", "US-CA"), PUB, [], at=60)[0] == "default_on"
    assert decide(EU, PUB, [], at=60)[0] == "default_off"


def test_default_on_never_covers_before_the_run() -> None:
    off = setting(defaults={"*": "off"})
    on = setting(defaults={"*": "on"})
    h = PolicyHistory.of(
        [
            make_policy("v1", effective=40, settings=[on]),
            make_policy("v2", published=50, effective=100, settings=[off]),
            make_policy("v3", published=150, effective=200, settings=[on]),
            make_policy("v4", published=250, effective=300, settings=[on]),
        ]
    )
    assert decide(EU, PUB, [], at=350, history=h) == ("default_on", day(200))


def test_no_policy_in_force() -> None:
    assert decide(US, PUB, [event("grant", effective=10, version="v1")], at=20)[0] == "not_offered"


# Bitemporal: known_at hides events recorded later; back-dated events apply once known.
def test_back_dated_event_applies_only_once_known() -> None:
    evs = [event("withdraw", effective=50, recorded=80)]
    assert decide(US, PUB, evs, at=60, known=70)[0] == "default_on"
    assert decide(US, PUB, evs, at=60, known=90)[0] == "withdrawn"


def test_ties_break_by_recorded_then_seq() -> None:
    a = event("grant", effective=50, recorded=50, seq=10)
    b = event("withdraw", effective=50, recorded=51, seq=5)
    assert decide(EU, PUB, [a, b], at=60)[0] == "withdrawn"
    c = event("grant", effective=50, recorded=51, seq=11)
    assert decide(EU, PUB, [a, b, c], at=60)[0] == "granted"


def test_setting_status_states() -> None:
    kw = {"history": H, "known_at": day(10_000)}
    assert setting_status(US, "ai_posts", events=[], at=day(60), **kw).state == "default_on"
    assert setting_status(EU, "ai_posts", events=[], at=day(60), **kw).state == "default_off"
    assert setting_status(EU, "nope", events=[], at=day(60), **kw).state == "not_offered"
    assert setting_status(EU, "ai_posts", events=[], at=day(10), **kw).state == "not_offered"
    assert (
        setting_status(EU, "ai_posts", events=[event("deny", effective=50)], at=day(60), **kw).state
        == "denied"
    )
    assert (
        setting_status(
            EU, "ai_posts", events=[event("erase", effective=50)], at=day(60), **kw
        ).state
        == "erased"
    )


# --------------------------------------------------------------------------- properties

CATS = ["user.content.public", "user.content.private", "user.behavior", "user.content"]
RECIPS = ["first_party", "acme"]
JURS = ["US", "US-CA", "EU", "UK"]
DEFAULT_KEYS = ["US", "US-CA", "EU", "*"]


@st.composite
def histories(draw: st.DrawFn) -> list[PolicyVersion]:
    n = draw(st.integers(1, 3))
    versions = []
    t = 10
    for i in range(n):
        settings_ = []
        for sid in draw(
            st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=1, max_size=3, unique=True)
        ):
            cats = draw(st.lists(st.sampled_from(CATS), min_size=1, max_size=2, unique=True))
            sensitive = any(c in ("user.content.private", "user.content") for c in cats)
            defaults = {
                k: ("off" if sensitive else draw(st.sampled_from(["on", "off"])))
                for k in draw(st.lists(st.sampled_from(DEFAULT_KEYS), max_size=3, unique=True))
            }
            rec = draw(st.lists(st.sampled_from(RECIPS), min_size=1, max_size=2, unique=True))
            settings_.append(
                setting(sid, categories=tuple(cats), recipients=tuple(rec), defaults=defaults)
            )
        versions.append(
            make_policy(
                f"v{i + 1}",
                published=t,
                effective=t + 5,
                settings=settings_,
                recipients=[{"id": "acme", "name": "Acme", "uses": ["train_ai_system"]}],
            )
        )
        t += draw(st.integers(10, 60))
    return versions


@st.composite
def event_lists(
    draw: st.DrawFn, versions: list[PolicyVersion], members: list[str]
) -> list[ConsentEvent]:
    out = []
    for i in range(draw(st.integers(0, 12))):
        etype = draw(st.sampled_from(["grant", "grant", "deny", "withdraw", "erase"]))
        v = draw(st.sampled_from(versions))
        sid = draw(st.sampled_from([s.id for s in v.settings]))
        eff = draw(st.integers(0, 250))
        rec = eff + draw(st.sampled_from([0, 0, 5, 40]))  # some back-dated
        cov = draw(st.none() | st.integers(0, 250))
        out.append(
            event(
                etype,
                member=draw(st.sampled_from(members)),
                setting_id=sid,
                version=v.version,
                effective=eff,
                recorded=rec,
                covers_from=cov if etype == "grant" else None,
                seq=i + 1,
                event_id=f"p{i}",
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_effective_consent_matches_reference(data: st.DataObject) -> None:
    versions = data.draw(histories())
    events = data.draw(event_lists(versions, ["m1"]))
    history = PolicyHistory.of(versions)
    jur = data.draw(st.sampled_from(JURS))
    scope = Scope(
        "train_ai_system", data.draw(st.sampled_from(CATS)), data.draw(st.sampled_from(RECIPS))
    )
    t, k = day(data.draw(st.integers(0, 260))), day(data.draw(st.integers(0, 300)))
    d = effective_consent(
        Member("m1", jur), scope, events=events, history=history, at=t, known_at=k
    )
    allowed, cov, _ = reference_consent(jur, scope, t, k, events, versions)
    assert (d.allowed, d.covers_from if d.allowed else None) == (allowed, cov)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_snapshot_matches_reference(data: st.DataObject) -> None:
    versions = data.draw(histories())
    members = ["a", "b", "c", "d"]
    jurs = {m: data.draw(st.sampled_from(JURS)) for m in members}
    events = data.draw(event_lists(versions, members))
    history = PolicyHistory.of(versions)
    recipient = data.draw(st.sampled_from(RECIPS))
    t, k = day(data.draw(st.integers(0, 260))), day(data.draw(st.integers(0, 300)))
    snap = compute_snapshot(
        members=pa.table({"member_id": members, "jurisdiction": [jurs[m] for m in members]}),
        events=events_table(events),
        history=history,
        use="train_ai_system",
        recipient=recipient,
        as_of=t,
        known_at=k,
    )
    got = {(r["member_id"], r["category"]): r["covers_from"] for r in snap.grants.to_pylist()}
    want = {}
    withdrawn_want = set()
    for m in members:
        mine = [e for e in events if e.member_id == m]
        for c in snap.categories:
            allowed, cov, kind = reference_consent(
                jurs[m], Scope("train_ai_system", c, recipient), t, k, mine, versions
            )
            if allowed:
                want[(m, c)] = cov
            elif kind == "withdraw":
                withdrawn_want.add((m, c))
    assert got == want
    assert {(r["member_id"], r["category"]) for r in snap.withdrawn.to_pylist()} == withdrawn_want
    erased = {r["member_id"] for r in snap.members.to_pylist() if r["erased"]}
    assert erased == {
        e.member_id
        for e in events
        if e.type.value == "erase" and e.effective_at <= t and e.recorded_at <= k
    }


def test_snapshot_categories_cover_all_versions() -> None:
    assert H.scope_categories("train_ai_system", "first_party") == (
        "user.behavior",
        "user.content.public",
    )
    with pytest.raises(AssertionError):
        assert H.scope_categories("train_ai_system", "acme")
