"""API keys are audited (issue 11): creating or revoking a key appends an ``api_key.created``
or ``api_key.revoked`` entry (key id and role, never the secret), and ``verify`` checks
every key row against its latest entry. Keys created before this revision get one entry
each now, recording the row as it is.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    from consentgate.store import access as store_access
    from consentgate.store import audit as store_audit
    from consentgate.store import tables as t
    from consentgate.timestamps import utcnow
    from consentgate.tlog import audit

    conn = op.get_bind()
    rows = store_access.list_keys(conn)
    if not rows:
        return
    secret = store_audit.workspace_secret(conn)
    items = []
    for row in rows:
        values = {c.name: getattr(row, c.name) for c in t.api_keys.columns}
        action = audit.API_KEY_REVOKED if row.revoked_at is not None else audit.API_KEY_CREATED
        items.append(store_audit.audit_item(secret, action, "api_keys", values))
    store_audit.append(conn, items, at=utcnow())


def downgrade() -> None:
    """Nothing is removed: the log is append-only (code before this revision does not
    know ``api_keys`` entries and reports their rows as missing when it verifies)."""
