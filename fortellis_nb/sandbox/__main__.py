"""``python -m fortellis_nb.sandbox``: run the sandbox identity server.

    python -m fortellis_nb.sandbox [serve] [--host 127.0.0.1] [--port N] [--state DIR]
    python -m fortellis_nb.sandbox start     # in the background (same options), or reuse the running one
    python -m fortellis_nb.sandbox status
    python -m fortellis_nb.sandbox stop
    python -m fortellis_nb.sandbox report    # per app: code exchanges, refreshes, API calls

``serve`` prints one line of JSON first (issuer, API Key and Secret, redirect URI, demo
user, Subscription-Id, API base URL, ...) so scripts and people can use it at once."""

from __future__ import annotations

import argparse
import errno
import json
import sqlite3
import sys
import time
from dataclasses import fields
from pathlib import Path

from .authority import Settings, is_loopback
from .jwt_rs256 import TOKEN_PROFILES
from .launcher import (
    EXIT_CANNOT_START,
    EXIT_STATE_DAMAGED,
    EXIT_STATE_IN_USE,
    PORT_FILE,
    SandboxStartError,
    default_state_dir,
    ensure_sandbox,
    open_here,
    preferred_port,
    probe,
    running_sandbox,
    stop_sandbox,
    unresponsive,
    unresponsive_sandbox,
)
from .server import Sandbox
from .state import disk_full, full_disk
from .storage import StateDamaged, StateInUse

#: The options ``start`` hands on to the server it starts in the background.
SERVER_OPTIONS = ("host", "port", "public_url", "code_lifetime", "token_lifetime", "token_profile", "rate_limit")
#: The server's own defaults (Settings), which --help states and the options start from.
DEFAULTS = {f.name: f.default for f in fields(Settings)}


def parser_for(prog: str) -> argparse.ArgumentParser:
    """The command line: a subcommand each (``serve`` when none is given), each with the
    function that runs it (``set_defaults(func=...)``). The options may stand before the
    subcommand or after it: the subcommands' copies have no defaults of their own, so an
    option given before the subcommand is not overwritten by a default after it."""
    state, server = option_parents(defaults=True)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], parents=[state, server])
    parser.set_defaults(func=serve)
    commands = parser.add_subparsers(title="commands (serve when none is given)", metavar="COMMAND")
    state, server = option_parents(defaults=False)
    for name, func, parents, text in (
            ("serve", serve, [state, server], "run the server in this terminal (the default)"),
            ("start", start, [state, server], "run it in the background, or reuse the running one"),
            ("status", status, [state], "print the running server's JSON line (issuer, API Key and Secret, ...)"),
            ("stop", stop, [state], "stop the running server"),
            ("report", report_command, [state], "per app: code exchanges, refreshes, API calls")):
        command = commands.add_parser(name, parents=parents, help=text, description=text)
        command.set_defaults(func=func)
        if name == "report":
            command.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def option_parents(*, defaults: bool) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The state option and the server's options, as parents: with their defaults (the main
    parser's) or without (a subcommand's)."""
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument("--state", default=None if defaults else argparse.SUPPRESS,
                       help=f"state directory (default {default_state_dir()})")
    server = argparse.ArgumentParser(add_help=False)
    add_server_options(server, defaults=defaults)
    return state, server


def add_server_options(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--host", default=default("127.0.0.1"),
                        help="address to listen on (default 127.0.0.1: only this machine can reach it)")
    parser.add_argument("--allow-remote", action="store_true", default=default(False),
                        help="allow a --host other machines can reach (0.0.0.0, a LAN address): a workshop room")
    parser.add_argument("--port", type=int, default=default(None), help="port (default: the last one used, else a free one)")
    parser.add_argument("--public-url", default=default(None),
                        help="the URL browsers and participants use to reach this server, if not http://HOST:PORT")
    parser.add_argument("--code-lifetime", type=float, default=default(DEFAULTS['code_lifetime']),
                        help=f"seconds an authorization code lives ({DEFAULTS['code_lifetime']:g})")
    parser.add_argument("--token-lifetime", type=float, default=default(DEFAULTS['token_lifetime']),
                        help=f"seconds an access token lives ({DEFAULTS['token_lifetime']:g})")
    parser.add_argument("--token-profile", choices=TOKEN_PROFILES, default=default(None),
                        help="the tokens' shape: tutorial (the tutorial's examples, the default) or fortellis-2022 "
                        "(Fortellis' tokens of 2020-2022); also FORTELLIS_SANDBOX_TOKEN_PROFILE")
    parser.add_argument("--rate-limit", type=int, default=default(DEFAULTS['rate_limit_per_minute']), metavar="N",
                        help="requests a minute one client may make to /v1/authorize and /v1/token "
                        f"({DEFAULTS['rate_limit_per_minute']}; 0: none)")


def main(argv: list[str] | None = None, prog: str = "python -m fortellis_nb.sandbox") -> int:
    parser = parser_for(prog)
    args = parser.parse_args(argv)
    args.state = (default_state_dir() if args.state is None else Path(args.state)).expanduser()
    args.prog, args.parser = prog, parser
    try:
        return args.func(args)
    except (OSError, sqlite3.Error) as exc:
        said = state_problem(exc, args.state, prog)
        if said is None:
            raise
        print(said, file=sys.stderr, flush=True)
        return EXIT_CANNOT_START


def status(args) -> int:
    info, frozen = probe(args.state)
    if frozen is not None:
        print(unresponsive(frozen, args.prog), file=sys.stderr)
        return 1
    print(json.dumps(info.as_dict()) if info else "not running")
    return 0 if info else 1


def stop(args) -> int:
    print("stopped" if stop_sandbox(args.state) else "not running")
    return 0


def report_command(args) -> int:
    return report(args.state, as_json=args.json)


def start(args) -> int:
    """The running sandbox of this state directory, or a new one in the background; its JSON line."""
    state = args.state
    passed = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in SERVER_OPTIONS
              if getattr(args, name) != args.parser.get_default(name)]
    if args.allow_remote:
        passed.append("--allow-remote")
    running = running_sandbox(state) if passed else None
    if running is not None:
        print(f"A sandbox is already running for {state} at {running.base_url}; it keeps its own settings "
              f"({' '.join(passed)} not applied). Stop it first to start one with them.", file=sys.stderr)
    try:
        info = ensure_sandbox(state, extra_args=tuple(passed))
    except SandboxStartError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    print(json.dumps(info.as_dict()))
    return 0


def serve(args) -> int:
    """Serve in this terminal until Ctrl+C, after one JSON line that says how to use the server."""
    state, prog = args.state, args.prog
    running, frozen = probe(state)
    if frozen is not None:
        print(unresponsive(frozen, prog), file=sys.stderr)
        return EXIT_STATE_IN_USE
    if running is not None:
        print(f"A sandbox is already running for {state} at {running.base_url} (pid {running.pid}).\n"
              f"It is ready to use as it is: the notebooks find it, and `{prog} status` prints its JSON "
              f"line (issuer, API Key and Secret, ...).\n"
              f"To run one in this terminal instead, stop it first: {prog} stop --state {state}", file=sys.stderr)
        return 1
    refusal = remote_refusal(args)
    if refusal is not None:
        return refusal
    port = args.port if args.port is not None else preferred_port(state, args.host)
    profile = {"token_profile": args.token_profile} if args.token_profile else {}  # else the environment's
    settings = Settings(state_dir=state, host=args.host, port=port, public_url=args.public_url,
                        allow_remote=args.allow_remote, code_lifetime=args.code_lifetime,
                        token_lifetime=args.token_lifetime, rate_limit_per_minute=args.rate_limit, **profile)
    started = []

    def ready(info):
        started.append(True)
        (state / PORT_FILE).write_text(str(info.base_url.rsplit(":", 1)[1]))
        print(json.dumps(info.as_dict()), flush=True)
        print(f"Sandbox identity server (not Fortellis) at {info.base_url}/ , issuer {info.issuer}\n"
              f"Sign in as {info.username} / {info.password}. Press Ctrl+C to stop.", flush=True)

    try:
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        Sandbox(settings).serve_forever(on_ready=ready)
    except StateInUse:
        frozen = unresponsive_sandbox(state)
        print(unresponsive(frozen, prog) if frozen else f"Another sandbox process is using {state} (it may be "
              f"starting or stopping). See it with: {prog} status --state {state}", file=sys.stderr)
        return EXIT_STATE_IN_USE
    except StateDamaged as exc:
        print(exc, file=sys.stderr, flush=True)
        return EXIT_STATE_DAMAGED
    except (OSError, sqlite3.Error) as exc:
        if started:  # not a start-up failure: the traceback is the news
            raise
        print(start_failure(exc, state, args.host, port, prog), file=sys.stderr, flush=True)
        return EXIT_CANNOT_START
    print("Sandbox stopped.", flush=True)
    return 0


def start_failure(exc: Exception, state: Path, host: str, port: int, prog: str) -> str:
    """One message for a sandbox that could not start: what is wrong, and what to do."""
    number = getattr(exc, "errno", None)
    if number == errno.EADDRINUSE:
        return (f"Port {port} on {host} is in use by another program, so the sandbox cannot listen there. Start it "
                f"on another port (--port 0 takes a free one), or stop the program that holds {port}.")
    if number == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: give --host one of its own (127.0.0.1, the default)."
    return state_problem(exc, state, prog) or f"The sandbox could not start: {exc} (its state folder: {state})."


def state_problem(exc: Exception, state: Path, prog: str) -> str | None:
    """What is wrong with the state folder (or its disk) that ``exc`` met, and what to do; None
    for any other failure."""
    number = getattr(exc, "errno", None)
    text = str(exc).lower()
    if disk_full(exc, state):
        return f"{full_disk(state)}. Free some space there and start again; nothing in the folder was changed."
    in_the_way = next((place for place in (state, *state.parents) if place.is_file()), None)
    if number in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT) and in_the_way is not None:  # (Windows: ENOENT)
        where = "is a file" if in_the_way == state else f"cannot be made: {in_the_way} is a file"
        return (f"The sandbox's state folder {state} {where}, not a folder. Move the file, or give another "
                f"folder: {prog} --state DIR (or FORTELLIS_SANDBOX_STATE).")
    if number in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in text or "unable to open" in text:
        return (f"The sandbox cannot write in its state folder {state} ({exc}). Make the folder writable by you, "
                f"or give another one: {prog} --state DIR (or FORTELLIS_SANDBOX_STATE).")
    return None


def remote_refusal(args) -> int | None:
    """2 (after saying why) for a --host other machines can reach without --allow-remote."""
    if is_loopback(args.host):
        return None
    if not args.allow_remote:
        print(f"Refusing to listen on {args.host}: other machines could reach this sandbox. Add --allow-remote "
              "to do that on purpose, or leave --host at 127.0.0.1.", file=sys.stderr)
        return 2
    print(f"Listening on {args.host}: other machines can reach this sandbox.", file=sys.stderr)
    return None


def report(state, *, as_json: bool = False, out=print) -> int:
    """The instructor's view of a room: for each app, how many successful code exchanges,
    refreshes and API calls it made (``GET /sandbox/admin/progress`` with the admin token)."""
    import urllib.request

    info = running_sandbox(state)
    if info is None:
        out(f"No sandbox is running for {state}.")
        return 1
    request = urllib.request.Request(f"{info.base_url}/sandbox/admin/progress",
                                     headers={"Authorization": f"Bearer {info.admin_token}"})
    with open_here(request, timeout=10) as response:
        rows = json.load(response)
    if as_json:
        out(json.dumps(rows, indent=2))
        return 0
    for line in progress_table(rows):
        out(line)
    done = sum(1 for r in rows if r["exchanges"] and r["refreshes"] and r["api_calls"])
    out(f"{len(rows)} apps; {done} got through exchange, refresh and an API call.")
    return 0


def progress_table(rows: list[dict]) -> list[str]:
    """The progress rows as a plain-text table, a line each, columns aligned."""
    header = ("app", "api key", "exchanges", "refreshes", "api calls", "last (UTC)")
    lines = [header] + [
        (r["name"][:30], r["api_key"], str(r["exchanges"]), str(r["refreshes"]), str(r["api_calls"]),
         time.strftime("%H:%M:%S", time.gmtime(r["last"])) if r["last"] else "-") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]


if __name__ == "__main__":
    sys.exit(main())
