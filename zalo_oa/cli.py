"""The ``zalo-oa`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from models import _crypto
from resolvers import jobs, sync
from resolvers import token as tokens
from resolvers.errors import DomainError
from zalo.sandbox import SandboxServer, demo_seed
from zalo.sandbox import run as run_sandbox
from zalo.sandbox.seed import DEMO_APP_ID
from zalo_oa import importer, keys, migrate
from zalo_oa.db import Database
from zalo_oa.demo import ensure_demo_account
from zalo_oa.http_protocol import UVICORN_HTTP
from zalo_oa.services import Services
from zalo_oa.settings import Settings, get_settings

app = typer.Typer(
    help="Run Zalo Official Accounts from your own back office.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="The key that encrypts secrets at rest.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)
T = TypeVar("T")


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        keys.configure(settings)
        database = Database.from_settings(settings)
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


@app.command("migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the database migrations (Alembic) up to REVISION."""
    settings = get_settings()
    with err.status("migrating…"):
        migrate.upgrade(settings, revision)
    err.print(f"[green]database at {revision}[/green]")


async def _first_admin_token(database: Database, settings: Settings) -> str | None:
    async with database.sessions() as session:
        if await tokens.any_exist(session):
            return None
        token, _ = await tokens.create(session, "admin", tokens.Scope.ADMIN)
        await session.commit()
    path = settings.data_dir / "admin-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def prepare_database(settings: Settings, allow_migrate: bool) -> None:
    """SQLite is migrated on start; PostgreSQL only with --migrate (else refuse to start)."""
    if settings.is_sqlite or allow_migrate:
        migrate.upgrade(settings)
        return

    async def check(database: Database) -> bool:
        return await migrate.is_current(database.engine)

    if not _run(settings, check):
        err.print(
            "[red]the database schema is out of date:[/red] run `zalo-oa migrate` "
            "or start with --migrate"
        )
        raise typer.Exit(3)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    allow_migrate: Annotated[
        bool, typer.Option("--migrate", help="Apply pending migrations on PostgreSQL too.")
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run the sandbox Zalo beside the module and "
            "point the module at it, with an authorized demo OA.",
        ),
    ] = False,
    sandbox_port: Annotated[int, typer.Option(help="Port of the sandbox Zalo.")] = 8900,
) -> None:
    """Start the service (GraphQL and GraphiQL at /graphql, REST under /v4/zalo-oa)."""
    settings = get_settings()
    prepare_database(settings, allow_migrate)
    os.environ[migrate.HEAD_ENV] = migrate.expected_head() or ""
    if sandbox:
        settings = start_sandbox(settings, host, port, sandbox_port)
    first = _run(settings, lambda db: _first_admin_token(db, settings))
    if first is not None:
        err.print(
            "[bold]First start: an admin API token was created.[/bold] It is shown once "
            f"and saved to {settings.data_dir / 'admin-token'} (owner-only):"
        )
        print(first, flush=True)
    err.print(f"GraphiQL: http://{host}:{port}/graphql")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": settings.log_level.lower(),
        "http": UVICORN_HTTP,  # httptools, a response's writes sent as one
    }
    if workers > 1 and not sandbox:
        # The supervisor only watches the workers: replace this process (which has imported
        # the whole module) by a bare interpreter running uvicorn, ~100 MB less resident.
        # glibc reads MALLOC_ARENA_MAX at start: two arenas per worker keep RSS from
        # growing with every thread that ever allocated.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        launch = (
            "import json, sys, uvicorn; uvicorn.run('zalo_oa.app:serve_app', factory=True, "
            "log_config=None, access_log=False, **json.loads(sys.argv[1]))"
        )
        os.execv(sys.executable, [sys.executable, "-c", launch, json.dumps(options)])
    uvicorn.run("zalo_oa.app:serve_app", factory=True, log_config=None, access_log=False, **options)


def start_sandbox(settings: Settings, host: str, port: int, sandbox_port: int) -> Settings:
    """Start the sandbox in this process and point every worker at it (through the env)."""
    callback = f"http://{host}:{port}/v4/zalo-oa/oauth/callback"
    server = SandboxServer(demo_seed(redirect_uri=callback), port=sandbox_port)
    server.start()
    for name, url in (
        ("OAUTH", server.oauth_base_url),
        ("OPENAPI", server.openapi_base_url),
        ("ZNS", server.zns_base_url),
    ):
        os.environ[f"ZALO_OA_{name}_BASE_URL"] = url
    get_settings.cache_clear()
    settings = get_settings()

    async def work(database: Database) -> str:
        services = Services.create(settings, database)
        try:
            return await ensure_demo_account(services, callback)
        finally:
            await services.close()

    err.print(f"sandbox Zalo at {server.base_url}: " + _run(settings, work))
    return settings


@app.command("sandbox")
def sandbox_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
) -> None:
    """Run the sandbox Zalo alone (OAuth under /oauth, OA API under /openapi, ZNS under /zns,
    control API under /__fake)."""
    err.print(f"sandbox Zalo on http://{host}:{port} (demo app {DEMO_APP_ID})")
    run_sandbox(host=host, port=port)


@app.command("refresh-tokens")
def refresh_tokens() -> None:
    """Refresh every authorized account whose access token expires within the hour."""
    settings = get_settings()

    async def work(database: Database) -> dict[str, str]:
        services = Services.create(settings, database)
        try:
            return await services.tokens.refresh_due()
        finally:
            await services.close()

    outcome = _run(settings, work)
    for code, result in outcome.items():
        err.print(f"{code}: {result}")
    err.print(f"{len(outcome)} account(s) due")
    if any(r.startswith("failed") for r in outcome.values()):
        raise typer.Exit(1)


@token_app.command("create")
def token_create(
    module: Annotated[str, typer.Option(help="Name of the calling module.")],
    scope: Annotated[str, typer.Option(help="read, write or admin.")] = "read",
) -> None:
    """Create a token and print it alone on stdout (it is not stored in plain text)."""
    settings = get_settings()
    level = tokens.parse_scope(scope) if scope else tokens.Scope.READ

    async def work(database: Database) -> str:
        async with database.sessions() as session:
            token, _ = await tokens.create(session, module, level)
            await session.commit()
        return token

    try:
        print(_run(settings, work))
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the tokens themselves)."""
    settings = get_settings()

    async def work(database: Database) -> list[Any]:
        async with database.sessions() as session:
            return list(await tokens.list_all(session))

    table = Table("id", "prefix", "module", "scope", "created", "last used", "revoked")
    for row in _run(settings, work):
        table.add_row(
            str(row.id),
            row.prefix + "…",
            row.module,
            row.scope,
            str(row.created),
            str(row.last_used or ""),
            str(row.revoked or ""),
        )
    Console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (see token list).")],
) -> None:
    """Revoke a token; calls with it fail from now on."""
    settings = get_settings()

    async def work(database: Database) -> None:
        async with database.sessions() as session:
            await tokens.revoke(session, token_id)
            await session.commit()

    _run(settings, work)
    err.print(f"token {token_id} revoked")


import_app = typer.Typer(help="Bulk imports.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("followers")
def import_followers(
    file: Annotated[Path, typer.Argument(help="A .csv (header of REST names), .jsonl or .json.")],
    oa: Annotated[
        str | None, typer.Option(help="OA code for rows without ZaloOa (default: the default OA).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Where to write the bad rows (default: FILE.errors.csv).")
    ] = None,
    upsert: Annotated[bool, typer.Option(help="Update rows whose Code exists.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Rows per transaction.")] = 500,
) -> None:
    """Import followers; good rows land, each bad row is reported. Exit 1 if any was bad."""
    settings = get_settings()
    report = report or file.with_name(file.name + ".errors.csv")

    async def work(database: Database) -> importer.Outcome:
        with Progress() as bar:
            task = bar.add_task(f"importing {file.name}", total=None)
            return await importer.run(
                settings,
                database,
                file,
                oa=oa,
                upsert=upsert,
                batch=batch,
                progress=lambda rows: bar.update(task, completed=rows),
            )

    try:
        outcome = _run(settings, work)
    except importer.ImportFailed as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(
        f"{outcome.rows} rows read, {outcome.imported} imported, "
        f"{len({b.row for b in outcome.bad})} bad"
    )
    if outcome.bad:
        importer.write_report(report, outcome.bad)
        err.print(f"bad rows: {report}")
        raise typer.Exit(1)


sync_app = typer.Typer(help="Sync followers or ZNS templates from Zalo.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")


def _sync(kind: str, oa: str | None) -> None:
    """Run (or resume) a sync job here with a progress bar; exit 1 when it failed."""
    settings = get_settings()

    async def work(database: Database) -> Any:
        services = Services.create(settings, database)
        try:
            async with database.sessions() as session:
                job = await sync.start(session, kind, oa)
                await session.commit()
            with Progress(console=err) as bar:
                task = bar.add_task(f"{kind} {job.oa_code}", total=job.total)

                def show(row: Any) -> None:
                    bar.update(task, total=row.total, completed=row.done)

                final = await services.jobs.run(job.id, show)
                if final is not None and final.status in jobs.UNFINISHED:
                    err.print(f"job {job.id} is running in {final.holder}: following it")
                    final = await services.jobs.follow(job.id, show)
                return final
        finally:
            await services.close()

    final = _run(settings, work)
    if final is None:
        err.print("[red]the job was taken over by another process[/red]")
        raise typer.Exit(1)
    err.print(
        f"job {final.id} {final.status.lower()}: {final.done} of {final.total} done, "
        f"{final.created_count} created, {final.updated_count} updated, "
        f"{final.failed_count} failed"
    )
    if final.status != jobs.SUCCEEDED:
        if final.error:
            err.print(f"[red]error:[/red] {final.error}")
        raise typer.Exit(1)


@sync_app.command("followers")
def sync_followers(
    oa: Annotated[str | None, typer.Option(help="OA code (default: the default OA).")] = None,
) -> None:
    """Sync the OA's followers (list + details); resumes an interrupted sync."""
    _sync(sync.SYNC_FOLLOWERS, oa)


@sync_app.command("templates")
def sync_templates(
    oa: Annotated[str | None, typer.Option(help="OA code (default: the default OA).")] = None,
) -> None:
    """Sync the OA's ZNS templates (list + details)."""
    _sync(sync.SYNC_TEMPLATES, oa)


@keys_app.command("rotate")
def keys_rotate(
    new_key: Annotated[
        str | None, typer.Option(help="The new key (default: generate one).")
    ] = None,
) -> None:
    """Re-encrypt every stored secret under a new key, with a progress bar.

    With the embedded key file the file is rewritten; with ZALO_OA_SECRET_KEY set, put the
    printed key first in it (old keys may follow, comma-separated, until rotation is done).
    """
    settings = get_settings()
    key = new_key or _crypto.generate_key()
    old = keys.load_keys(settings)
    _crypto.configure(key, *old)  # new first: encrypt with it, still decrypt with the old

    async def work(database: Database) -> int:
        with Progress() as progress:
            task = progress.add_task("re-encrypting secrets", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await keys.rotate(database, step)

    database = Database.from_settings(settings)
    count = asyncio.run(_with_database(database, work))
    if settings.secret_key:
        err.print(f"{count} secrets re-encrypted. Set ZALO_OA_SECRET_KEY to the new key:")
        print(key)
    else:
        keys.write_key_file(settings, [key])
        err.print(f"{count} secrets re-encrypted; {keys.key_file(settings)} holds the new key")


async def _with_database(database: Database, work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        return await work(database)
    finally:
        await database.dispose()


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new key for ZALO_OA_SECRET_KEY."""
    print(_crypto.generate_key())


if __name__ == "__main__":
    app(prog_name="zalo-oa")
