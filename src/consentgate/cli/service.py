"""``consentgate serve`` and ``consentgate keys create|list|revoke``."""

from __future__ import annotations

import click

from consentgate import access
from consentgate.cli.common import AppContext, echo_json, json_option, pass_app, print_table
from consentgate.timestamps import format_timestamp


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--demo",
    is_flag=True,
    help="Add the demo sign-in page (anyone may act as any member or the officer); "
    "every page says DEMO. Only for the demo workspace.",
)
@pass_app
def serve(app: AppContext, host: str, port: int, demo: bool) -> None:
    """Serve the HTTP API (docs/service.md) on the database the CLI uses, with JSON logs
    on stderr. SIGTERM or Ctrl-C stops accepting connections and waits for requests in
    flight (up to service_shutdown_seconds)."""
    import uvicorn

    from consentgate.service import create_app
    from consentgate.service.observability import configure_logging

    configure_logging()
    web = create_app(app.settings, engine=app.engine(), demo=demo)
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        access_log=False,  # it prints paths, which hold member ids; ours logs route names
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=app.settings.service_shutdown_seconds,
    )
    uvicorn.Server(config).run()


@click.group()
def keys() -> None:
    """API keys of the service's clients (pipeline, officer, admin)."""


def _row(k: access.ApiKey) -> dict[str, str | None]:
    return {
        "key_id": k.key_id,
        "role": k.role,
        "label": k.label,
        "created_at": format_timestamp(k.created_at),
        "revoked_at": format_timestamp(k.revoked_at) if k.revoked_at else None,
    }


@keys.command("create")
@click.option("--role", type=click.Choice(access.KEY_ROLES), required=True)
@click.option("--label", default="", help="What the key is for (shown in lists).")
@json_option
@pass_app
def keys_create(app: AppContext, role: str, label: str, as_json: bool) -> None:
    """Create an API key and print it, once: only a keyed hash of it is stored."""
    created = access.create_key(app.engine(), role=role, label=label)
    if as_json:
        echo_json({**_row(created.key), "key": created.secret})
        return
    click.echo(f"API key {created.key.key_id} ({role}). Store it now; it is not shown again:")
    click.echo(created.secret)


@keys.command("list")
@json_option
@pass_app
def keys_list(app: AppContext, as_json: bool) -> None:
    """List API keys (never their secrets)."""
    rows = [_row(k) for k in access.list_keys(app.engine())]
    if as_json:
        echo_json(rows)
        return
    cols = ["key_id", "role", "label", "created_at", "revoked_at"]
    print_table("API keys", cols, [[r[c] for c in cols] for r in rows])


@keys.command("revoke")
@click.argument("key_id")
@json_option
@pass_app
def keys_revoke(app: AppContext, key_id: str, as_json: bool) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    key = access.revoke_key(app.engine(), key_id)
    if as_json:
        echo_json(_row(key))
    else:
        click.echo(f"Revoked: {key.key_id}")


COMMANDS = [serve, keys]
