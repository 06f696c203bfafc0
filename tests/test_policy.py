"""Policy parsing, validation and DESIGN.md's publication rules."""

from __future__ import annotations

import pytest
from factories import make_policy, policy_yaml, setting

from consentgate.errors import InvalidInput, PolicyError, TaxonomyError
from consentgate.policy import (
    PolicyHistory,
    Scope,
    check_publication,
    diff,
    parse_policy,
    validate_policy,
)
from consentgate.taxonomy import default_taxonomy, is_sensitive


def test_parse_reports_file_line_and_field() -> None:
    text = policy_yaml().replace("use: train_ai_system", "use: [oops]")
    with pytest.raises(InvalidInput) as err:
        parse_policy(text, name="p.yaml")
    assert "p.yaml:" in str(err.value) and "settings[0].use" in str(err.value)


def test_naive_timestamp_refused() -> None:
    text = policy_yaml().replace("+00:00", "")
    with pytest.raises(InvalidInput, match="no timezone"):
        parse_policy(text, name="p.yaml")


def test_unknown_taxonomy_key_is_named() -> None:
    p = make_policy(settings=[setting(categories=("user.content.nonsense",))])
    with pytest.raises(InvalidInput, match=r"user\.content\.nonsense"):
        validate_policy(p, default_taxonomy())


def test_unknown_use_is_named() -> None:
    p = make_policy(settings=[setting(use="train_robots")])
    with pytest.raises(InvalidInput, match="train_robots"):
        validate_policy(p, default_taxonomy())


def test_taxonomy_extension_needs_known_parent() -> None:
    tax = default_taxonomy()
    assert (
        "user.content.private.inmail"
        in tax.extend(categories=["user.content.private.inmail"]).data_categories
    )
    with pytest.raises(InvalidInput, match="parent"):
        tax.extend(categories=["nowhere.child"])
    with pytest.raises(TaxonomyError, match="nowhere"):
        tax.check_category("nowhere")


def test_recipient_must_be_named() -> None:
    p = make_policy(settings=[setting(recipients=("acme",))])
    with pytest.raises(InvalidInput, match="acme"):
        validate_policy(p, default_taxonomy())


@pytest.mark.parametrize(
    "category",
    [
        "user.content.private",
        "user.content",  # covers private messages
        "user",
        "user.health_and_medical",
        "user.health_and_medical.genetic",
        "user.biometric.fingerprint",
        "user.demographic.political_opinion",
        "user.demographic.religious_belief",
        "user.demographic.sexual_orientation",
        "user.demographic.race_ethnicity",
        "user.criminal_history",
        "user.government_id.passport_number",
    ],
)
def test_privacy_by_default_refuses_default_on(category: str) -> None:
    p = make_policy(
        settings=[setting("s", categories=(category,), defaults={"US-CA": "on", "*": "off"})]
    )
    with pytest.raises(PolicyError) as err:
        check_publication(p, None)
    assert err.value.rule == "privacy-by-default" and err.value.setting == "s"


@pytest.mark.parametrize("category", ["user.content.public", "user.behavior", "user.contact.email"])
def test_privacy_by_default_allows_ordinary_default_on(category: str) -> None:
    assert not is_sensitive(category)
    check_publication(
        make_policy(settings=[setting(categories=(category,), defaults={"*": "on"})]), None
    )


def test_sensitive_default_off_is_allowed() -> None:
    check_publication(make_policy(settings=[setting(categories=("user.content.private",))]), None)


def test_material_change_needs_notice() -> None:
    v1 = make_policy("v1")
    v2 = make_policy(
        "v2",
        published=100,
        effective=120,
        settings=[setting(categories=("user.content.public", "user.behavior"))],
    )
    with pytest.raises(PolicyError) as err:
        check_publication(v2, v1, notice_days=30)
    assert err.value.rule == "notice" and err.value.setting == "ai_posts"
    ok = make_policy(
        "v2",
        published=100,
        effective=130,
        settings=[setting(categories=("user.content.public", "user.behavior"))],
    )
    assert any(c.material for c in check_publication(ok, v1, notice_days=30))


def test_default_turned_on_is_material() -> None:
    v1 = make_policy("v1")
    v2 = make_policy(
        "v2", published=100, effective=101, settings=[setting(defaults={"US": "on", "*": "off"})]
    )
    with pytest.raises(PolicyError, match="notice"):
        check_publication(v2, v1)


def test_non_material_change_needs_no_notice() -> None:
    v1 = make_policy(
        "v1",
        settings=[
            setting(categories=("user.content.public", "user.behavior"), defaults={"*": "on"})
        ],
    )
    v2 = make_policy(
        "v2", published=100, effective=101, settings=[setting(categories=("user.content.public",))]
    )
    changes = check_publication(v2, v1)
    assert changes and not any(c.material for c in changes)
    assert {c.kind for c in changes} == {"scope_removed", "default_off"}


def test_narrower_category_under_old_scope_is_not_new() -> None:
    v1 = make_policy("v1", settings=[setting(categories=("user.content",))])
    v2 = make_policy(
        "v2", published=100, effective=101, settings=[setting(categories=("user.content.public",))]
    )
    assert not any(c.material for c in diff(v1, v2))


def test_new_recipient_is_material() -> None:
    acme = {"id": "acme", "name": "Acme", "uses": ["train_ai_system"]}
    v1 = make_policy("v1")
    v2 = make_policy("v2", published=100, effective=101, recipients=[acme])
    with pytest.raises(PolicyError, match="notice"):
        check_publication(v2, v1)


def test_versions_take_effect_in_order_never_retroactively() -> None:
    v1 = make_policy("v1", published=0, effective=40)
    with pytest.raises(PolicyError, match="ordering"):
        check_publication(make_policy("v2", published=50, effective=30), v1)
    with pytest.raises(PolicyError, match="retroactively"):
        check_publication(make_policy("v0", published=10, effective=5), None)


def test_jurisdiction_default_resolution() -> None:
    p = make_policy(settings=[setting(defaults={"US": "on", "US-CA": "off", "*": "off"})])
    s = p.settings[0]
    assert s.default_for("US") and s.default_for("US-NY")
    assert not s.default_for("US-CA") and not s.default_for("EU")
    p2 = make_policy(settings=[setting(defaults={"EU": "off"})])
    assert not p2.settings[0].default_for("UK")  # no "*": off


def test_history_in_force_and_runs() -> None:
    on = {"*": "on"}
    v1 = make_policy("v1", effective=40, settings=[setting(defaults=on)])
    v2 = make_policy("v2", published=50, effective=100, settings=[setting()])
    v3 = make_policy("v3", published=150, effective=200, settings=[setting(defaults=on)])
    h = PolicyHistory.of([v3, v1, v2])
    assert h.in_force(v1.effective_from) == v1 and h.in_force(v2.effective_from) == v2
    scope = Scope("train_ai_system", "user.content.public", "first_party")
    assert h.default_run_start(scope, "US", v1.effective_from) == v1.effective_from
    assert h.default_run_start(scope, "US", v2.effective_from) is None
    assert h.default_run_start(scope, "US", v3.effective_from) == v3.effective_from


# Notice: a third party's terms widened is a material change (a new allowed use, a later or
# removed contract_until); narrowing them is not.
ACME = {
    "id": "acme",
    "name": "Acme",
    "uses": ["train_ai_system"],
    "contract_until": "2025-01-01T00:00:00+00:00",
}


def _acme(**changes: object) -> dict[str, object]:
    return {k: v for k, v in {**ACME, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("new_terms", "kind"),
    [
        ({"uses": ["train_ai_system", "third_party_sharing"]}, "recipient_use_added"),
        ({"contract_until": "2026-01-01T00:00:00+00:00"}, "contract_extended"),
        ({"contract_until": None}, "contract_end_removed"),
    ],
    ids=["use added", "contract extended", "contract end removed"],
)
def test_widened_contract_is_material_and_needs_notice(
    new_terms: dict[str, object], kind: str
) -> None:
    v1 = make_policy("v1", recipients=[_acme()])
    v2 = make_policy("v2", published=100, effective=105, recipients=[_acme(**new_terms)])
    with pytest.raises(PolicyError) as err:  # 5 days' notice is not enough
        check_publication(v2, v1, notice_days=30)
    assert err.value.rule == "notice" and err.value.setting == "acme"
    changes = diff(v1, v2)
    assert [(c.kind, c.subject, c.material) for c in changes] == [(kind, "acme", True)]
    on_time = make_policy("v2", published=100, effective=130, recipients=[_acme(**new_terms)])
    assert check_publication(on_time, v1, notice_days=30) == changes


@pytest.mark.parametrize(
    ("old_terms", "new_terms", "kinds"),
    [
        (
            {"uses": ["train_ai_system", "third_party_sharing"]},
            {},
            ["recipient_use_removed"],
        ),
        ({}, {"contract_until": "2024-06-01T00:00:00+00:00"}, ["contract_shortened"]),
        ({"contract_until": None}, {}, ["contract_end_added"]),
        ({}, {"name": "Acme Inc."}, ["recipient_renamed"]),
    ],
    ids=["use removed", "contract shortened", "contract end added", "renamed"],
)
def test_narrowed_contract_is_not_material(
    old_terms: dict[str, object], new_terms: dict[str, object], kinds: list[str]
) -> None:
    v1 = make_policy("v1", recipients=[_acme(**old_terms)])
    v2 = make_policy("v2", published=100, effective=101, recipients=[_acme(**new_terms)])
    changes = check_publication(v2, v1, notice_days=30)
    assert [c.kind for c in changes] == kinds and not any(c.material for c in changes)
