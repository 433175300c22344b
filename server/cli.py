"""`traffpunkt` command line: serve, db upgrade, import-event, create-user, set-password, demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import sys
from pathlib import Path

from sqlalchemy import select

from server.platform import db as database
from server.platform import logs, sessions
from server.platform.auth import STAFF_ROLES, hash_password
from server.platform.errors import DomainError
from server.platform.models import Event, User
from server.platform.settings import VAR_DIR, Settings
from server.programme.importer import import_event, read_event_file

DEMO_USERS = (("moderator", "Moderator KB", "moderator"), ("admin", "Administratör", "admin"),
              ("arkivarie", "Arkivarie KB", "archivist"), ("talare", "Talare KB", "speaker"),
              ("skrivtolk", "Skrivtolk", "captioner"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DomainError as exc:
        print(f"fel: {exc.message} ({exc.code})", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="traffpunkt", description=__doc__)
    sub = p.add_subparsers(required=True)
    serve = sub.add_parser("serve", help="serve the platform")
    _serve_args(serve)
    serve.set_defaults(func=cmd_serve)
    dbp = sub.add_parser("db", help="database commands").add_subparsers(required=True)
    dbp.add_parser("upgrade", help="run migrations").set_defaults(func=cmd_upgrade)
    imp = sub.add_parser("import-event", help="create an event from an event file (JSON)")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=cmd_import)
    cu = sub.add_parser("create-user", help="create a staff user")
    cu.add_argument("username")
    cu.add_argument("--role", required=True, choices=STAFF_ROLES)
    cu.add_argument("--name", default=None)
    cu.add_argument("--password-env", default=None, help="read the password from this variable")
    cu.set_defaults(func=cmd_create_user)
    sp = sub.add_parser("set-password", help="set a staff user's password; ends their sessions")
    sp.add_argument("username")
    sp.add_argument("--password-env", default=None, help="read the password from this variable")
    sp.set_defaults(func=cmd_set_password)
    purge = sub.add_parser("purge-recordings", help="delete unpublished recordings past retention")
    purge.set_defaults(func=cmd_purge_recordings)
    demo = sub.add_parser("demo", help="migrate, seed the autumn 2020 demo event, and serve")
    _serve_args(demo)
    demo.set_defaults(func=cmd_demo)
    return p


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-media", action="store_true", help="web node only (media elsewhere)")
    p.add_argument("--media-only", action="store_true", help="media node only")


def cmd_serve(args: argparse.Namespace) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from server.app import create_app
    from server.platform.runtime import tune_gc

    settings = Settings().model_copy(update=_node_role(args))
    json_logs = settings.log_format == "json" or (
        settings.log_format == "auto" and settings.production)
    logs.configure(json=json_logs, node=settings.node_id, level=settings.log_level)
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    # Hypercorn's lines go through the same handler (JSON with the node in production).
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = (logging.getLogger("hypercorn.access")
                        if os.environ.get("TRAFFPUNKT_ACCESS_LOG") else None)
    config.graceful_timeout = settings.shutdown_grace_seconds
    app = create_app(settings)
    print(f"Träffpunkt: http://{args.host}:{args.port}/", flush=True)
    tune_gc()
    asyncio.run(serve(app, config))
    return 0


def _node_role(args: argparse.Namespace) -> dict[str, str]:
    """--media-only: WHIP/WHEP/HLS and health only; --no-media: web only, media elsewhere."""
    if args.media_only and args.no_media:
        raise DomainError("serve.flags", "--media-only och --no-media utesluter varandra.")
    if args.media_only:
        return {"node_role": "media"}
    return {"node_role": "web"} if args.no_media else {}


def cmd_upgrade(_: argparse.Namespace) -> int:
    database.upgrade(Settings().database_url)
    print("databasen är uppdaterad")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    data = read_event_file(args.file)
    slug = asyncio.run(_import(Settings().database_url, data))
    print(f"evenemanget '{slug}' är skapat")
    return 0


async def _import(url: str, data) -> str:  # type: ignore[no-untyped-def]
    db = database.Database(url)
    try:
        async with db.transaction() as session:
            event = await import_event(session, data)
            return event.slug
    finally:
        await db.close()


def _password(args: argparse.Namespace) -> str:
    password = os.environ.get(args.password_env, "") if args.password_env else ""
    password = password or getpass.getpass("Lösenord: ")
    if len(password) < 10:
        raise DomainError("user.weak_password", "Lösenordet måste ha minst 10 tecken.")
    return password


def cmd_set_password(args: argparse.Namespace) -> int:
    ended = asyncio.run(_set_password(Settings().database_url, args.username, _password(args)))
    print(f"lösenordet för '{args.username}' är bytt; {ended} inloggningar avslutades")
    return 0


async def _set_password(url: str, username: str, password: str) -> int:
    """A new password ends every session of the user, on every device (platform/sessions)."""
    db = database.Database(url)
    try:
        async with db.transaction() as session:
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:
                raise DomainError("user.not_found", f"Användaren '{username}' finns inte.",
                                  username=username)
            user.password_hash = hash_password(password)
            return await sessions.end_all(session, user_id=user.id)
    finally:
        await db.close()


def cmd_create_user(args: argparse.Namespace) -> int:
    password = _password(args)
    asyncio.run(
        _create_user(Settings().database_url, args.username, args.name, args.role, password)
    )
    print(f"användaren '{args.username}' ({args.role}) är skapad")
    return 0


async def _create_user(url: str, username: str, name: str | None, role: str, password: str) -> None:
    db = database.Database(url)
    try:
        async with db.transaction() as session:
            if await session.scalar(select(User.id).where(User.username == username)):
                raise DomainError(
                    "user.exists", f"Användaren '{username}' finns redan.", username=username
                )
            session.add(User(username=username, display_name=name or username, role=role,
                             password_hash=hash_password(password)))
    finally:
        await db.close()


def cmd_purge_recordings(_: argparse.Namespace) -> int:
    from server.recording.service import purge_expired

    async def run(settings: Settings) -> list[int]:
        db = database.Database(settings.database_url)
        try:
            async with db.transaction() as session:
                return await purge_expired(session, Path(settings.media_root))
        finally:
            await db.close()

    gone = asyncio.run(run(Settings()))
    print(f"{len(gone)} inspelningar raderade" + (f": {gone}" if gone else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings()
    if settings.production:
        raise DomainError("demo.production", "Demoläget körs inte i produktion.")
    database.upgrade(settings.database_url)
    asyncio.run(_seed_demo(settings))
    return cmd_serve(args)


async def _seed_demo(settings: Settings) -> None:
    """Seed the autumn 2020 event and demo staff once; passwords are kept in ./var."""
    db = database.Database(settings.database_url)
    try:
        async with db.transaction() as session:
            data = read_event_file(settings.demo_event_file)
            if not await session.scalar(select(Event.id).where(Event.slug == data.slug)):
                await import_event(session, data)
            created = await _demo_users(session)
    finally:
        await db.close()
    _print_demo_credentials(created)


async def _demo_users(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    path = VAR_DIR / "demo-credentials.txt"
    created: dict[str, str] = {}
    for username, name, role in DEMO_USERS:
        if await session.scalar(select(User.id).where(User.username == username)):
            continue
        password = secrets.token_urlsafe(12)
        session.add(User(username=username, display_name=name, role=role,
                         password_hash=hash_password(password)))
        created[username] = password
    if created:
        VAR_DIR.mkdir(exist_ok=True)
        with path.open("a") as fh:
            fh.writelines(f"{u} {p}\n" for u, p in created.items())
        path.chmod(0o600)
    return created


def _print_demo_credentials(created: dict[str, str]) -> None:
    path = VAR_DIR / "demo-credentials.txt"
    print("Demoevenemang: /e/hosten-2020")
    print(f"Inloggning för personal finns i {path}:")
    if path.exists():
        print(path.read_text(), end="")


if __name__ == "__main__":
    raise SystemExit(main())
