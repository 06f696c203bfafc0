"""DESIGN.md's consent semantics, one table test per rule, plus a property test against a
brute-force reference model (tests/reference_model.py) over random histories."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest
from factories import day, event, make_policy, setting
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_model import Residence, reference_consent

from consentgate.consent import (
    BEGINNING,
    ConsentEvent,
    Decision,
    JurisdictionChange,
    Member,
    effective_consent,
    setting_status,
)
from consentgate.policy import PolicyHistory, PolicyVersion, Scope
from consentgate.snapshot import MOVES_SCHEMA, ConsentSnapshot, compute_snapshot, events_table

TS = pa.timestamp("us", tz="UTC")
PUB = Scope("train_ai_system", "user.content.public", "first_party")
PRIV = Scope("train_ai_system", "user.content.private", "first_party")
US, EU = Member.fixed("m1", "US"), Member.fixed("m1", "EU")
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
    _same_in_snapshot(member, scope, events, history, day(at), day(known), d)
    return d.state, d.covers_from


def _snapshot_of(
    member: Member,
    scope: Scope,
    events: list[ConsentEvent],
    history: PolicyHistory,
    at: datetime,
    known: datetime,
) -> ConsentSnapshot:
    first, *moves = member.jurisdictions
    return compute_snapshot(
        members=pa.table(
            {
                "member_id": [member.member_id],
                "jurisdiction": [first.jurisdiction],
                "effective_at": pa.array([first.effective_at], TS),
                "recorded_at": pa.array([first.recorded_at], TS),
            }
        ),
        moves=pa.table(
            {
                "member_id": [member.member_id] * len(moves),
                "jurisdiction": [m.jurisdiction for m in moves],
                "effective_at": pa.array([m.effective_at for m in moves], TS),
                "recorded_at": pa.array([m.recorded_at for m in moves], TS),
                "seq": pa.array([m.seq for m in moves], pa.int64()),
            },
            schema=MOVES_SCHEMA,
        ),
        events=events_table(events),
        history=history,
        use=scope.use,
        recipient=scope.recipient,
        as_of=at,
        known_at=known,
    )


def _same_in_snapshot(
    member: Member,
    scope: Scope,
    events: list[ConsentEvent],
    history: PolicyHistory,
    at: datetime,
    known: datetime,
    d: Decision,
) -> None:
    """The set-based snapshot says what ``effective_consent`` says (every table test)."""
    snap = _snapshot_of(member, scope, events, history, at, known)
    if scope.category not in snap.categories:
        return
    grants = {r["category"]: r["covers_from"] for r in snap.grants.to_pylist()}
    withdrawn = {r["category"] for r in snap.withdrawn.to_pylist()}
    assert grants.get(scope.category) == (d.covers_from if d.allowed else None)
    assert (scope.category in withdrawn) == (d.state == "withdrawn")


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
    assert decide(Member.fixed("m1", "US-CA"), PUB, [], at=60)[0] == "default_on"
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


# Rule 2, overlapping settings: each covering setting stands by its own latest event, else
# its default; the strictest standing wins.
NARROW = setting("narrow", categories=("user.behavior.browsing_history",))
BROAD = setting("broad", categories=("user.behavior",))
BROWSING = Scope("train_ai_system", "user.behavior.browsing_history", "first_party")
HO = PolicyHistory.of([make_policy("v1", effective=40, settings=[NARROW, BROAD])])


def test_refusal_of_a_narrow_setting_is_not_overridden_by_a_later_broader_grant() -> None:
    evs = [
        event("deny", setting_id="narrow", effective=50),
        event("grant", setting_id="broad", effective=60),
    ]
    assert decide(EU, BROWSING, evs, at=70, history=HO)[0] == "denied"
    assert decide(EU, BEHAVIOR, evs, at=70, history=HO) == ("granted", day(60))
    # What the member sees on each setting is what is enforced.
    kw = {"events": evs, "history": HO, "at": day(70), "known_at": day(100)}
    assert setting_status(EU, "narrow", **kw).state == "denied"  # type: ignore[arg-type]
    assert setting_status(EU, "broad", **kw).state == "granted"  # type: ignore[arg-type]


def test_refusal_of_a_broad_setting_is_not_overridden_by_a_later_narrow_grant() -> None:
    evs = [
        event("withdraw", setting_id="broad", effective=50),
        event("grant", setting_id="narrow", effective=60),
    ]
    assert decide(EU, BROWSING, evs, at=70, history=HO)[0] == "withdrawn"


def test_the_latest_refusal_names_the_state() -> None:
    evs = [
        event("withdraw", setting_id="broad", effective=50),
        event("deny", setting_id="narrow", effective=60),
    ]
    assert decide(EU, BROWSING, evs, at=70, history=HO)[0] == "denied"
    assert decide(EU, BROWSING, evs, at=55, history=HO)[0] == "withdrawn"


def test_several_covering_grants_authorise_from_the_earliest_covers_from() -> None:
    evs = [
        event("grant", setting_id="broad", effective=50, covers_from=10),
        event("grant", setting_id="narrow", effective=60, covers_from=30),
    ]
    assert decide(EU, BROWSING, evs, at=70, history=HO) == ("granted", day(10))


def test_a_later_grant_of_the_same_setting_replaces_its_refusal() -> None:
    evs = [
        event("deny", setting_id="narrow", effective=50),
        event("grant", setting_id="narrow", effective=60),
    ]
    assert decide(EU, BROWSING, evs, at=70, history=HO) == ("granted", day(60))


def test_a_grant_whose_frozen_scopes_miss_the_scope_is_no_refusal() -> None:
    # ai_posts widens to user.behavior in v2 (default on in the US). A deny covers every
    # scope the setting ever had; the member then grants under v1 (public posts only): for
    # user.behavior the setting now has no event, so its default decides.
    evs = [event("deny", effective=50), event("grant", effective=60, version="v1")]
    assert decide(US, BEHAVIOR, evs, at=150) == ("default_on", day(100))  # v2 added it
    assert decide(EU, BEHAVIOR, evs, at=150)[0] == "default_off"
    assert decide(US, PUB, evs, at=150) == ("granted", day(60))


def test_a_default_is_on_only_if_every_covering_setting_defaults_on() -> None:
    on = setting("broad", categories=("user.behavior",), defaults={"*": "on"})
    off = setting("narrow", categories=("user.behavior.browsing_history",))
    h = PolicyHistory.of([make_policy("v1", effective=40, settings=[on, off])])
    assert decide(US, BROWSING, [], at=70, history=h)[0] == "default_off"
    assert decide(US, BEHAVIOR, [], at=70, history=h) == ("default_on", day(40))
    both = PolicyHistory.of(
        [make_policy("v1", effective=40, settings=[on, {**off, "defaults": {"*": "on"}}])]
    )
    assert decide(US, BROWSING, [], at=70, history=both) == ("default_on", day(40))


# Reason before the first policy: a withdrawal is a withdrawal whether or not a policy is in
# force (v1 is published at day 0 and takes effect at day 40).
def test_withdrawal_before_any_policy_is_in_force_is_withdrawn() -> None:
    evs = [event("withdraw", effective=10)]
    assert decide(EU, PUB, evs, at=20) == ("withdrawn", None)
    kw = {"events": evs, "history": H, "at": day(20), "known_at": day(100)}
    assert setting_status(EU, "ai_posts", **kw).state == "withdrawn"  # type: ignore[arg-type]
    assert decide(EU, PUB, [], at=20)[0] == "not_offered"


# Jurisdiction history: a move is recorded with effective and recorded times, read at t as
# known at k; a default on covers data only from the later of the start of the default-on
# run and the start of the member's unbroken stretch where the default was on.
def _moved(*changes: tuple[str, float | None, float]) -> Member:
    return Member(
        "m1",
        tuple(
            JurisdictionChange(j, None if eff is None else day(eff), day(rec), seq=i)
            for i, (j, eff, rec) in enumerate(changes)
        ),
    )


def test_moving_into_a_default_on_jurisdiction_covers_data_only_from_the_move() -> None:
    member = _moved(("EU", None, 0), ("US", 100, 100))
    assert decide(member, PUB, [], at=90)[0] == "default_off"
    assert decide(member, PUB, [], at=150) == ("default_on", day(100))


def test_moving_out_of_a_default_on_jurisdiction_ends_the_default() -> None:
    member = _moved(("US", None, 0), ("EU", 100, 100))
    assert decide(member, PUB, [], at=90) == ("default_on", day(40))
    assert decide(member, PUB, [], at=150)[0] == "default_off"


def test_a_back_dated_move_counts_only_once_known() -> None:
    member = _moved(("EU", None, 0), ("US", 100, 120))
    assert decide(member, PUB, [], at=150, known=110)[0] == "default_off"
    assert decide(member, PUB, [], at=150, known=130) == ("default_on", day(100))
    kw = {"events": [], "history": H, "at": day(150)}
    assert setting_status(member, "ai_posts", known_at=day(110), **kw).state == "default_off"  # type: ignore[arg-type]
    assert member.jurisdiction_at(day(150), day(110)) == "EU"
    assert member.jurisdiction_at(day(150), day(130)) == "US"


def test_default_on_is_the_later_of_the_run_and_the_stretch() -> None:
    us_only = setting(defaults={"US": "on", "*": "off"})
    us_eu = setting(defaults={"US": "on", "EU": "on", "*": "off"})
    h = PolicyHistory.of(
        [
            make_policy("v1", effective=40, settings=[us_only]),
            make_policy("v2", published=60, effective=100, settings=[us_eu]),
        ]
    )
    # EU under v1 was off: the stretch starts when v2 turned EU on, although the US run
    # goes back to v1.
    member = _moved(("EU", None, 0), ("US", 120, 120))
    assert decide(member, PUB, [], at=150, history=h) == ("default_on", day(100))
    # US then EU: the EU run starts at v2, though the US stretch goes back to v1.
    member = _moved(("US", None, 0), ("EU", 120, 120))
    assert decide(member, PUB, [], at=150, history=h) == ("default_on", day(100))
    # Same jurisdiction throughout: the run.
    assert decide(Member.fixed("m1", "US"), PUB, [], at=150, history=h) == ("default_on", day(40))


def test_moving_back_restarts_the_stay() -> None:
    member = _moved(("US", None, 0), ("EU", 60, 60), ("US", 80, 80))
    assert decide(member, PUB, [], at=150) == ("default_on", day(80))


def test_a_first_jurisdiction_from_a_date_covers_nothing_before_it() -> None:
    member = _moved(("US", 70, 0))
    assert decide(member, PUB, [], at=60)[0] == "default_off"
    assert decide(member, PUB, [], at=150) == ("default_on", day(70))


def test_no_default_before_the_jurisdiction_is_known() -> None:
    member = _moved(("US", None, 50))
    assert decide(member, PUB, [], at=150, known=40)[0] == "default_off"
    assert decide(member, PUB, [], at=150, known=60) == ("default_on", day(40))


def test_the_later_of_two_moves_recorded_for_one_instant_holds() -> None:
    member = _moved(("EU", None, 0), ("US", 100, 100), ("UK", 100, 110))
    assert member.jurisdiction_at(day(150), day(105)) == "US"
    assert member.jurisdiction_at(day(150), day(120)) == "UK"
    assert decide(member, PUB, [], at=150, known=120)[0] == "default_off"


def test_a_fixed_member_is_known_from_the_beginning() -> None:
    assert US.jurisdictions[0].recorded_at == BEGINNING
    assert US.jurisdiction_at(day(-1000), day(-1000)) == "US"


def test_snapshot_lists_only_members_known_at_known_at() -> None:
    member = _moved(("US", None, 50))
    snap = _snapshot_of(member, PUB, [], H, day(150), day(40))
    assert snap.members.num_rows == 0 and snap.grants.num_rows == 0
    snap = _snapshot_of(member, PUB, [], H, day(150), day(60))
    assert snap.members.column("member_id").to_pylist() == ["m1"]


# --------------------------------------------------------------------------- properties

# Overlaps: user.content covers both user.content.* (sensitive: defaults off), user.behavior
# covers user.behavior.browsing_history (both may default on).
CATS = [
    "user.content.public",
    "user.content.private",
    "user.behavior",
    "user.behavior.browsing_history",
    "user.content",
]
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
                k: ("off" if sensitive else draw(st.sampled_from(["on", "on", "off"])))
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
    for i in range(draw(st.integers(0, 16))):
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


@st.composite
def residences(draw: st.DrawFn) -> list[Residence]:
    """A member's first jurisdiction (from the beginning or from a day, recorded some day)
    and up to three moves, some back-dated (recorded after they took effect)."""
    first_recorded = draw(st.sampled_from([0, 0, 0, 30, 120]))
    first_from = draw(st.none() | st.none() | st.integers(0, 200))
    out = [
        Residence(
            draw(st.sampled_from(JURS)),
            None if first_from is None else day(first_from),
            day(first_recorded),
            0,
        )
    ]
    for i in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        eff = draw(st.integers(0, 250))
        out.append(
            Residence(
                draw(st.sampled_from(JURS)),
                day(eff),
                day(max(eff + draw(st.sampled_from([0, 0, 3, 40])), first_recorded)),
                i + 1,
            )
        )
    return out


def _member(member_id: str, rs: list[Residence]) -> Member:
    return Member(
        member_id,
        tuple(JurisdictionChange(r.jurisdiction, r.effective, r.recorded, r.seq) for r in rs),
    )


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_effective_consent_matches_reference(data: st.DataObject) -> None:
    versions = data.draw(histories())
    events = data.draw(event_lists(versions, ["m1"]))
    history = PolicyHistory.of(versions)
    rs = data.draw(residences())
    scope = Scope(
        "train_ai_system",
        data.draw(st.sampled_from(CATS)),
        data.draw(st.sampled_from(["first_party", "first_party", "acme"])),
    )
    t, k = day(data.draw(st.integers(0, 260))), day(data.draw(st.integers(0, 300)))
    d = effective_consent(
        _member("m1", rs), scope, events=events, history=history, at=t, known_at=k
    )
    allowed, cov, kind = reference_consent(rs, scope, t, k, events, versions)
    assert (d.allowed, d.covers_from if d.allowed else None) == (allowed, cov)
    if kind in ("deny", "withdraw", "erased"):
        assert d.state == {"deny": "denied", "withdraw": "withdrawn", "erased": "erased"}[kind]


@st.composite
def overlapping_histories(draw: st.DrawFn) -> list[PolicyVersion]:
    """Versions whose settings overlap on user.behavior.browsing_history (broad covers it,
    narrow is it), all first party, with defaults that may be on: dense in the cases where
    several settings speak for one scope."""
    versions = []
    t = 10
    for i in range(draw(st.integers(1, 3))):
        chosen = draw(
            st.lists(
                st.sampled_from(["broad", "narrow", "mid"]), min_size=1, max_size=3, unique=True
            )
        )
        cats = {
            "broad": ("user.behavior",),
            "narrow": ("user.behavior.browsing_history",),
            "mid": draw(st.sampled_from([("user.behavior",), ("user.behavior.browsing_history",)])),
        }
        settings_ = [
            setting(
                sid,
                categories=cats[sid],
                defaults={
                    key: draw(st.sampled_from(["on", "off"]))
                    for key in draw(
                        st.lists(st.sampled_from(DEFAULT_KEYS), max_size=2, unique=True)
                    )
                },
            )
            for sid in chosen
        ]
        versions.append(make_policy(f"v{i + 1}", published=t, effective=t + 5, settings=settings_))
        t += draw(st.integers(10, 60))
    return versions


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_overlapping_settings_match_reference(data: st.DataObject) -> None:
    versions = data.draw(overlapping_histories())
    events = [e for e in data.draw(event_lists(versions, ["m1"])) if e.type.value != "erase"]
    history = PolicyHistory.of(versions)
    rs = data.draw(residences())
    scope = Scope(
        "train_ai_system",
        data.draw(st.sampled_from(["user.behavior", "user.behavior.browsing_history"])),
        "first_party",
    )
    t, k = day(data.draw(st.integers(0, 260))), day(data.draw(st.integers(200, 300)))
    member = _member("m1", rs)
    d = effective_consent(member, scope, events=events, history=history, at=t, known_at=k)
    allowed, cov, kind = reference_consent(rs, scope, t, k, events, versions)
    assert (d.allowed, d.covers_from if d.allowed else None) == (allowed, cov)
    if kind in ("deny", "withdraw"):
        assert d.state == {"deny": "denied", "withdraw": "withdrawn"}[kind]
    _same_in_snapshot(member, scope, events, history, t, k, d)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_snapshot_matches_reference(data: st.DataObject) -> None:
    versions = data.draw(histories())
    members = ["a", "b", "c", "d"]
    homes = {m: data.draw(residences()) for m in members}
    events = data.draw(event_lists(versions, members))
    history = PolicyHistory.of(versions)
    recipient = data.draw(st.sampled_from(RECIPS))
    t, k = day(data.draw(st.integers(0, 260))), day(data.draw(st.integers(0, 300)))
    firsts = [homes[m][0] for m in members]
    moves = [(m, r) for m in members for r in homes[m][1:]]
    snap = compute_snapshot(
        members=pa.table(
            {
                "member_id": members,
                "jurisdiction": [r.jurisdiction for r in firsts],
                "effective_at": pa.array([r.effective for r in firsts], TS),
                "recorded_at": pa.array([r.recorded for r in firsts], TS),
            }
        ),
        moves=pa.table(
            {
                "member_id": [m for m, _ in moves],
                "jurisdiction": [r.jurisdiction for _, r in moves],
                "effective_at": pa.array([r.effective for _, r in moves], TS),
                "recorded_at": pa.array([r.recorded for _, r in moves], TS),
                "seq": pa.array([r.seq for _, r in moves], pa.int64()),
            },
            schema=MOVES_SCHEMA,
        ),
        events=events_table(events),
        history=history,
        use="train_ai_system",
        recipient=recipient,
        as_of=t,
        known_at=k,
    )
    known = [m for m in members if homes[m][0].recorded <= k]
    assert snap.members.column("member_id").to_pylist() == known
    got = {(r["member_id"], r["category"]): r["covers_from"] for r in snap.grants.to_pylist()}
    want = {}
    withdrawn_want = set()
    for m in known:
        mine = [e for e in events if e.member_id == m]
        for c in snap.categories:
            allowed, cov, kind = reference_consent(
                homes[m], Scope("train_ai_system", c, recipient), t, k, mine, versions
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
        if e.type.value == "erase"
        and e.effective_at <= t
        and e.recorded_at <= k
        and e.member_id in known
    }


def test_snapshot_categories_cover_all_versions() -> None:
    assert H.scope_categories("train_ai_system", "first_party") == (
        "user.behavior",
        "user.content.public",
    )
    with pytest.raises(AssertionError):
        assert H.scope_categories("train_ai_system", "acme")
