"""The `boardsync` command line. Thin: parse the arguments, call the package that does the
work, render its result, and turn the outcome into an exit code.

Exit codes, the same for every command: 0 the boards match the postings (for a command that
does not look at the boards: it did what was asked); 2 they do not (changes pending, a
difference left on a board, a blocked or failed pair, a board not read); 1 an error, a usage
error or a refused plan. `validate` exits 1 when anything is invalid.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from boardsync import __version__
from boardsync.errors import BoardsyncError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from boardsync.config import Desired
    from boardsync.config.schema import Which
    from boardsync.daemon.lock import WriterLock
    from boardsync.reconcile import RunResult
    from boardsync.state import Store
    from boardsync.terminal import Terminal

Handler = Callable[[argparse.Namespace, "Terminal"], int]
_R = TypeVar("_R")


DEFAULT_CONFIG = "boardsync.yaml"
CONFIG_ENV = "BOARDSYNC_CONFIG"


def _wait_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", type=float, default=10.0, metavar="SECONDS",
        help="how long to wait for another boardsync (a daemon) to let go of the state database "
        "before giving up (default: 10)",
    )


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG),
        help=f"the root config file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--workspace", metavar="NAME", type=_workspace_name,
        help="the workspace of the state database this command reads and writes, when one database "
        "holds several (default: $BOARDSYNC_WORKSPACE, else the default workspace)",
    )


def _workspace_name(text: str) -> str:
    from boardsync import workspaces

    try:
        return workspaces.check(text)
    except BoardsyncError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quiet_arg(parser: argparse.ArgumentParser, prints: str) -> None:
    parser.add_argument(
        "-q", "--quiet", action="store_true",
        help=f"{prints}; no progress, no notices, log lines only for errors; errors still go to stderr",
    )


def _color_arg(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--no-color", action="store_true", default=default,
        help="no colour, even on a terminal (as NO_COLOR=1 does); output that is not a terminal never has any",
    )


def _json_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"{what} as JSON (shape in the README)")


def _key_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("key", nargs="?", metavar="KEY", help=f"only this posting (default: {what})")


def _writer_lock(command: str, wait: float = 0.0, *, quiet: bool = False) -> Callable[[str], WriterLock]:
    """How a command takes the state database's writer lock: waiting up to `wait` seconds
    (saying so once, unless `quiet`) for a daemon or another run to let go, then refusing
    with its name."""
    from boardsync import terminal
    from boardsync.daemon.lock import acquire_writer_lock

    def lock(url: str) -> WriterLock:
        return acquire_writer_lock(url, wait=wait, on_wait=None if quiet else terminal.waiting, command=command)

    return lock


# ------------------------------------------------------------------------------ handlers
# Each handler stays short: load, call, render, return the exit code.


def _cmd_validate(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents
    from boardsync.config import validate
    from boardsync.connectors import REGISTRY

    checks = {name: connector.findings for name, connector in REGISTRY.items()}
    report = validate(args.config, resolve_secrets=not args.no_secrets, checks=checks)
    if args.json:
        print(documents.validate_json(report))
    elif args.quiet:  # the problems are errors: they still go to stderr
        for problem in report.problems:
            print(problem, file=sys.stderr)
    else:
        term.show(console.validation(report))
    return 0 if report.ok else 1


def _cmd_schema(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync.config.schema import json_schema, render

    if args.check:
        return _check_schema_files(args.check, args.which)
    if args.which:
        print(render(json_schema(args.which)), end="")
    else:
        print(render({"root": json_schema("root"), "posting": json_schema("posting")}), end="")
    return 0


def _check_schema_files(paths: list[Path], which: Which | None) -> int:
    """`schema --check`: 0 when every file holds the schema this boardsync prints, else 1,
    naming each stale file with the command that writes it again."""
    from boardsync.config.schema import FILE_NAMES, is_current, which_schema

    failed = 0
    for path in paths:
        kind = which or which_schema(path)
        if kind is None:
            names = " or ".join(FILE_NAMES)
            print(f"{path}: cannot tell which schema it holds: name it {names}, "
                  "or say `boardsync schema root --check FILE` (or posting)", file=sys.stderr)
        elif not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
        elif not is_current(path, kind):
            print(f"{path}: stale, not the {kind} schema of boardsync {__version__}; write it again with:\n"
                  f"  boardsync schema {kind} > {path}", file=sys.stderr)
        else:
            continue
        failed += 1
    return 1 if failed else 0


def _cmd_sandbox(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync.sandbox.run import run_sandbox  # the servers load only for this command

    return run_sandbox(
        host=args.host, sorce_port=args.sorce_port,
        hirempire_port=args.hirempire_port, recruitifi_port=args.recruitifi_port,
    )


def _cmd_plan(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import session
    from boardsync.reconcile import Plan, plan, render

    args.horizon = _horizon(args.horizon)
    if args.snapshot is not None:  # no board, no secret: the boards as the snapshot holds them
        with session.opened_offline(args.config, args.snapshot) as (run, loaded):
            result = plan(run.desired, run.store, run.connectors, postings=args.posting, providers=args.provider,
                          recorded=loaded.reads, snapshot=loaded.age, horizon=args.horizon)
    else:
        # Read-only: no writer lock and no row written, so it runs beside the daemon at any time.
        with session.opened(args.config, read_only=True) as run:
            _opened()
            result = plan(run.desired, run.store, run.connectors, postings=args.posting, providers=args.provider,
                          horizon=args.horizon)
    planned = result.plan or Plan()
    if args.out is not None:
        _write_atomically(args.out, render.to_json(planned))
        if not args.quiet:
            print(f"plan written to {args.out}; apply exactly it with: boardsync reconcile --plan {args.out}",
                  file=sys.stderr)
    if args.json:
        print(render.to_json(planned))
    elif args.markdown:
        print(render.to_markdown(planned), end="")
    elif args.quiet:
        _say_errors("plan", result)
    else:
        print(render.to_text(planned, color=term.color), end="")
    _say_refused("plan", result.error if result.outcome == "refused" else None)
    return session.exit_code(result)


def _horizon(text: str) -> timedelta:
    """`--horizon`: a duration like 12h or 7d, refused (exit 1) when it is not one."""
    from boardsync.config.model import parse_duration
    from boardsync.errors import ConfigError

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--horizon {text!r}: {exc}") from exc


def _cmd_reconcile(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session
    from boardsync.errors import ConfigError
    from boardsync.reconcile import reconcile, render, saved

    saved_plan = None
    if args.plan is not None:
        if args.posting or args.provider:
            raise ConfigError("--plan applies a saved plan in the scope it was made in: "
                              "give --posting and --provider to `plan`, not here")
        if args.force:  # a saved plan is applied as it was checked: a refused one stays refused
            raise ConfigError("--plan applies a plan the safety check passed; --force is for a run without one")
        saved_plan = saved.read(args.plan)  # a file that is not a plan is refused before any board is read
    # A dry run writes nothing, as plan: it needs no writer lock.
    lock = None if args.dry_run else _writer_lock("reconcile", args.wait, quiet=args.quiet)
    with session.stopped_by_sigterm() as stop, \
            session.opened(args.config, lock=lock, read_only=args.dry_run, stop=stop) as run, \
            term.progress(shown=not args.quiet) as progress:
        _opened()
        result = reconcile(
            run.desired, run.store, run.connectors, dry_run=args.dry_run, force=args.force,
            postings=args.posting, providers=args.provider, trigger="command", progress=progress, stop=stop,
            saved_plan=saved_plan,
        )
        if not args.dry_run:  # the run's events go out before it exits; what fails waits for the next
            _deliver_notifications(run.desired, run.store)
    if stop.is_set():
        print("boardsync reconcile: stopped by SIGTERM; the call in flight was finished and recorded",
              file=sys.stderr)
    _say_refused("reconcile", result.error if result.outcome == "refused" else None)
    if args.json:
        print(documents.run_json(result, with_plan=args.dry_run))
    elif args.quiet:
        _say_errors("reconcile", result)
    else:
        if args.dry_run and result.plan is not None:
            print(render.to_text(result.plan, color=term.color), end="")
        term.show(console.run_report(result))
    return session.exit_code(result)


def _deliver_notifications(desired: Desired, store: Store) -> None:
    from boardsync.reconcile.outbox import Courier, targets

    delivery = Courier(store, targets(desired)).deliver(now_or_never=True)
    for target in delivery.failed:
        print(f"boardsync: notification target {target} did not take its message; "
              "it is kept for the next run (boardsync notify list)", file=sys.stderr)


def _cmd_notify(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import config, console, documents, session
    from boardsync.reconcile.outbox import Courier, send_test, targets

    if args.action == "test":
        desired = config.load(args.config)
        if not desired.root.notify:
            raise BoardsyncError("notify: no target is configured in the root file")
        answers = send_test(targets(desired))
        for shown, error in answers.items():
            print(f"{shown}: {'sent' if error is None else 'failed: ' + error}")
        return 0 if all(error is None for error in answers.values()) else 1
    with session.opened(args.config, boards=False) as run:
        rows = Courier(run.store, targets(run.desired)).pending()
    _answer(args, term, rows, documents.notify_json, console.notify_table)
    return 0


def _say_errors(command: str, result: RunResult) -> None:
    """What failed in a run (a board not read, a change that failed), on stderr: all that
    `-q` keeps of the report."""
    for error in result.errors:
        print(f"boardsync {command}: {error}", file=sys.stderr)


def _say_refused(command: str, reason: str | None) -> None:
    """The safety check's refusal, on stderr: the plan and the dry run show it as the run would."""
    if reason:
        print(f"boardsync {command}: refused: {reason}", file=sys.stderr)


def _cmd_snapshot(args: argparse.Namespace, term: Terminal) -> int:
    from datetime import UTC, datetime

    from boardsync import session
    from boardsync.reconcile import snapshot

    with session.opened(args.config, boards=False) as run:
        text = snapshot.to_json(snapshot.take(run.store, datetime.now(UTC)))
    if args.out is None:
        print(text, end="")
    else:
        _write_atomically(args.out, text)
        if not args.quiet:
            print(f"snapshot written to {args.out}", file=sys.stderr)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """`text` in `path`, whole or not at all: a reader never sees half a document."""
    from boardsync.errors import ConfigError

    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text)
        partial.replace(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write it: {exc.strerror or exc}") from exc


def _answer(args: argparse.Namespace, term: Terminal, result: _R,
            as_json: Callable[[_R], str], for_people: Callable[[_R], RenderableType], *, silent: bool = False) -> None:
    """A command's result: its JSON document under `--json`, else its view on the terminal
    (none when `silent`: a command whose `--quiet` prints nothing)."""
    if args.json:
        print(as_json(result))
    elif not silent:
        term.show(for_people(result))


def _cmd_status(args: argparse.Namespace, term: Terminal) -> int:
    from datetime import UTC, datetime

    from boardsync import console, documents, session
    from boardsync.dashboard import reads

    if args.unmanaged:
        return _status_unmanaged(args, term)
    with session.status_read(args.config) as (desired, state):
        facts = reads.status_facts(desired, state, datetime.now(UTC))
    if args.json:
        print(documents.status_json(facts.rows, facts.waits, facts.source))
    else:
        term.show(console.status_view(facts.rows, facts.waits, facts.source))
    return 0


def _status_unmanaged(args: argparse.Namespace, term: Terminal) -> int:
    """`status --unmanaged`: read-only, as plan (it keeps no wait a board asks for), so no lock.
    Exit 2 when a board could not be read, whose jobs are then not known."""
    from boardsync import console, documents, session
    from boardsync.reconcile.adoption import unmanaged

    with session.opened(args.config, read_only=True) as run:
        found = unmanaged(run.desired, run.store, run.connectors)
    _answer(args, term, found, documents.unmanaged_json, console.unmanaged_table)
    return 2 if found.errors else 0


def _cmd_adopt(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session
    from boardsync.reconcile.adoption import adopt

    with session.opened(args.config, lock=_writer_lock("adopt", args.wait, quiet=args.quiet)) as run:
        done = adopt(run.desired, run.store, run.connectors, args.key, args.board, args.id)
    _answer(args, term, done, documents.adopted_json, console.adopted_text, silent=args.quiet)
    return 0


def _cmd_import(args: argparse.Namespace, term: Terminal) -> int:
    """`import`: exit 0 when every job was imported or skipped on purpose, 2 when some were
    left unbound as ambiguous, 1 on an error (a board not read: nothing written)."""
    from boardsync import console, documents, session
    from boardsync.reconcile.importing import DEFAULT_FOLDER, check_out_folder, import_jobs, postings_folder

    lock = None if args.dry_run else _writer_lock("import", args.wait, quiet=args.quiet)
    with session.opened(args.config, lock=lock, read_only=args.dry_run) as run:
        out = check_out_folder(run.desired, args.out or postings_folder(run.desired) / DEFAULT_FOLDER)
        done = import_jobs(run.desired, run.store, run.connectors, out, board=args.board,
                           include_ended=args.all, dry_run=args.dry_run)
    if args.json:
        print(documents.imported_json(done))
    elif not args.quiet:
        if args.dry_run:
            for item in done.written:
                print(f"--- {item.path}\n{item.text}", end="")
        term.show(console.imported_view(done))
    return 2 if done.ambiguous else 0


def _cmd_forget(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session
    from boardsync.reconcile.adoption import forget

    # No board is called: the jobs stay as they are.
    with session.opened(args.config, lock=_writer_lock("forget", args.wait, quiet=args.quiet), boards=False) as run:
        done = forget(run.desired, run.store, args.key, args.board)
    _answer(args, term, done, documents.forgotten_json, console.forgotten_text, silent=args.quiet)
    return 0


def _cmd_drift(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session

    with session.opened(args.config, boards=False) as run:
        rows = run.store.drift_rows(open_only=args.open)
    _answer(args, term, rows, documents.drift_json, console.drift_table)
    return 0


def _cmd_history(args: argparse.Namespace, term: Terminal) -> int:
    """The runs since --since, or every board call of run RUN: the state database only."""
    from datetime import UTC, datetime

    from boardsync import console, documents, session
    from boardsync.errors import ConfigError
    from boardsync.state import history

    if args.run is not None:
        with session.opened(args.config, boards=False) as run:
            found = history.run_by_id(run.store, args.run)
            if found is None:
                raise ConfigError(f"no run {args.run} in {run.store.url} (`boardsync history` lists them)")
            calls = history.run_calls(run.store, args.run)
        if args.json:
            print(documents.run_calls_json(found, calls))
        else:
            term.show(console.run_calls_view(found, calls))
        return 0
    period = _duration_arg("--since", args.since)
    with session.opened(args.config, boards=False) as run:
        runs = history.runs_since(run.store, datetime.now(UTC) - period)
    if args.json:
        print(documents.history_json(runs))
    else:
        term.show(console.history_table(runs, args.since))
    return 0


def _cmd_log(args: argparse.Namespace, term: Terminal) -> int:
    """One posting's story on every board, from the state database only."""
    from boardsync import console, documents, session
    from boardsync.errors import ConfigError
    from boardsync.state import history

    with session.opened(args.config, boards=False) as run:
        story = history.posting_story(run.store, args.key)
    if not story.known:
        raise ConfigError(f"nothing is recorded of posting '{args.key}' in {run.store.url}")
    _answer(args, term, story, documents.story_json, console.story_view)
    return 0


def _duration_arg(option: str, text: str) -> timedelta:
    from boardsync.config.model import parse_duration
    from boardsync.errors import ConfigError

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r}: {exc}") from exc


def _cmd_visits(args: argparse.Namespace, term: Terminal) -> int:
    from datetime import UTC, datetime

    from boardsync import console, documents, session

    period = _duration_arg("--since", args.since)
    with session.opened(args.config, boards=False) as run:
        rows = run.store.visit_rows(since=datetime.now(UTC) - period)
    if args.json:
        print(documents.visits_json(rows))
    elif args.csv:
        print(documents.visits_csv(rows), end="")
    else:
        term.show(console.visits_table(rows, args.since))
    return 0


def _cmd_report(args: argparse.Namespace, term: Terminal) -> int:
    """`report --html FILE`: the dashboard as one file, read from the state database only."""
    from datetime import UTC, datetime

    from boardsync import dashboard, session

    period = _duration_arg("--since", args.since)
    # A reader, as status: no writer lock, no board called, nothing written, no database made.
    with session.opened(args.config, boards=False) as run:
        page = dashboard.gather(run.desired, run.store, since=period, since_text=args.since, now=datetime.now(UTC))
    _write_atomically(args.html, dashboard.render(page, standalone=True))
    if not args.quiet:
        print(f"dashboard written to {args.html}", file=sys.stderr)
    return 0


def _cmd_links(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session
    from boardsync.reconcile import fresh_links

    # It stores the links it fetches: a writer, so it takes the lock as plan and reconcile do.
    with session.opened(args.config, lock=_writer_lock("links", args.wait, quiet=args.quiet)) as run:
        results = fresh_links(run.desired, run.store, run.connectors, keys=[args.key] if args.key else None)
    _answer(args, term, results, documents.links_json, console.links_table)
    return 1 if any(r.error for r in results) else 0


def _cmd_sources(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session
    from boardsync.reconcile import tracked_sources

    # A long wait a board asks for is kept in the state database: a writer, as links is.
    lock = _writer_lock("sources", args.wait, quiet=args.quiet)
    with session.opened(args.config, lock=lock) as run:
        rows = tracked_sources(run.desired, run.store, run.connectors, keys=[args.key] if args.key else None)
    _answer(args, term, rows, documents.sources_json, console.sources_table)
    return 1 if any(r.error for r in rows) else 0


def _cmd_workspaces(args: argparse.Namespace, term: Terminal) -> int:
    import json

    from boardsync import console, workspaces
    from boardsync.config import load
    from boardsync.daemon.fleet import workspace_rows

    # The database's workspaces, whichever one --workspace selects.
    rows = workspace_rows(load(args.config, env={**os.environ, workspaces.ENV: workspaces.DEFAULT}).state_url)
    if args.json:
        print(json.dumps([{
            "workspace": r.name,
            "writer": None if r.writer is None else {
                "pid": r.writer.pid, "host": r.writer.host, "command": r.writer.command, "since": r.writer.since},
            "last_reconcile": r.last_reconcile.isoformat() if r.last_reconcile else None,
            "outcome": r.outcome,
        } for r in rows], indent=2))
    else:
        term.show(console.table(
            ["workspace", "written by", "last reconcile", "outcome"],
            [[r.name, r.writer.describe() if r.writer else "nobody",
              r.last_reconcile.strftime("%Y-%m-%d %H:%M") if r.last_reconcile else None, r.outcome] for r in rows],
        ))
    return 0


def _cmd_retry(args: argparse.Namespace, term: Terminal) -> int:
    from datetime import UTC, datetime

    from boardsync import console, documents, session
    from boardsync.errors import no_such_posting
    from boardsync.reconcile import record

    lock = _writer_lock("retry", args.wait, quiet=args.quiet)
    with session.opened(args.config, lock=lock, boards=False) as run:
        known = {p.key for p in run.desired.postings} | run.store.bound_postings()
        if args.key and args.key not in known:
            raise no_such_posting([args.key], known)
        lifted = record.backoffs_lifted(run.store, datetime.now(UTC), postings=[args.key] if args.key else None)
    if args.json:
        print(documents.retry_json(lifted))
    elif not args.quiet:
        term.show(console.retry_text(lifted))
    return 0


def _cmd_migrate(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import console, documents, session

    lock = _writer_lock("migrate", quiet=args.quiet)
    with session.opened(args.config, lock=lock, boards=False, migrate=True) as run:
        url, migration = run.store.url, run.store.migration
    assert migration is not None  # opened with migrate=True
    if args.json:
        print(documents.migrate_json(url, migration))
    elif not args.quiet:
        term.show(console.migrate_text(url, migration))
    return 0


def _cmd_demo(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync.demo import run_demo  # the sandbox servers load only for this command

    def command(argv: Sequence[str]) -> int:  # each step is the command a user types, with our flags
        return main([*(["--no-color"] if args.no_color else []), *argv])

    return run_demo(args.workdir, command=command)


def _cmd_hooks(args: argparse.Namespace, term: Terminal) -> int:
    import json
    from dataclasses import asdict

    from boardsync.config import load
    from boardsync.connectors import build_connectors
    from boardsync.daemon import subscribe

    act = {"install": subscribe.install, "remove": subscribe.remove, "list": subscribe.listed}[args.action]
    # Only the boards are called: the state database is neither opened nor locked.
    desired = load(args.config)
    connectors = build_connectors(desired.root.providers)
    try:
        rows = act(connectors, desired.root.daemon, args.url)
    finally:
        for connector in connectors.values():
            connector.close()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    elif not args.quiet:
        for r in rows:
            mark = "" if args.action != "list" else (" (this daemon's)" if r.ours else "")
            print(f"{r.board}: webhook {r.remote_id} {r.done}{mark}: {r.url} [{', '.join(r.events)}]")
        if not rows:
            print("no webhook of this daemon's on any board" if args.action != "list" else "no webhook on any board")
    return 0


def _cmd_daemon(args: argparse.Namespace, term: Terminal) -> int:
    from boardsync import log
    from boardsync.daemon.service import run_daemon

    log.configure(fields={"workspace": args.workspace} if args.workspace else None)
    if args.workspaces is not None:
        from boardsync.daemon.fleet import run_fleet

        return run_fleet(args.workspaces, check_every=args.check_every)
    return run_daemon(args.config, standby=not args.no_standby, listen=args.listen)


# ------------------------------------------------------------------------------ parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (an error), never 2, which means "not in sync"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="boardsync",
        description="Keep job postings in sync across Sorce, Hirempire and RecruitiFi.",
    )
    parser.add_argument("--version", action="version", version=f"boardsync {__version__}")
    _color_arg(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        # Also after the command; not given there, it leaves the value given before it.
        _color_arg(p, default=argparse.SUPPRESS)
        return p

    p = command("validate", _cmd_validate, "check the config and every posting, as the boards would")
    _config_arg(p)
    p.add_argument(
        "--no-secrets", action="store_true",
        help="check that secret references are well formed without resolving them (for pull requests)",
    )
    _json_arg(p, "the problems, warnings and what was found")
    _quiet_arg(p, "print nothing when valid, only the problems (on stderr) when not")

    p = command("schema", _cmd_schema, "print the JSON Schema of the root file and of a posting file")
    p.add_argument("which", nargs="?", choices=["root", "posting"], help="only one of the two")
    p.add_argument(
        "--check", nargs="+", type=Path, metavar="FILE",
        help="print nothing; exit 1 naming each FILE that does not hold the current schema (which one "
        "a FILE holds: WHICH if given, else its name, boardsync.schema.json or posting.schema.json)",
    )

    p = command("sandbox", _cmd_sandbox, "run the Sorce, Hirempire and RecruitiFi simulators on loopback")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--sorce-port", type=int, default=8701, metavar="PORT", help="Sorce's port (default: 8701)")
    p.add_argument("--hirempire-port", type=int, default=8702, metavar="PORT",
                   help="Hirempire's port (default: 8702)")
    p.add_argument("--recruitifi-port", type=int, default=8703, metavar="PORT",
                   help="RecruitiFi's port (default: 8703)")

    p = command("plan", _cmd_plan, "show what reconcile would change; exit 2 when changes are pending")
    _config_arg(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the plan as JSON (shape in the README)")
    fmt.add_argument("--markdown", action="store_true", help="the plan as Markdown, for a pull request")
    p.add_argument("--posting", action="append", metavar="KEY", help="only this posting (repeatable)")
    p.add_argument("--provider", action="append", metavar="NAME", help="only this board (repeatable)")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="no effect: plan only reads the state database and waits for no lock (kept for scripts)")
    p.add_argument("--snapshot", type=Path, metavar="FILE",
                   help="plan against this snapshot (boardsync snapshot, GET /snapshot) instead of the boards: "
                        "no board request, no board secret needed")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="also write the plan as JSON to FILE, for `reconcile --plan FILE` to apply exactly it")
    p.add_argument("--horizon", default="7d", metavar="DURATION",
                   help="how far ahead the Upcoming section looks: publish_at, close_at, expiries, link renewals "
                        "(default: 7d)")
    _quiet_arg(p, "print no plan (unless --json or --markdown): the exit code says whether changes are pending")

    p = command("reconcile", _cmd_reconcile, "make every board match the desired state")
    _config_arg(p)
    p.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    p.add_argument("--force", action="store_true", help="apply a plan the safety check refused")
    p.add_argument("--plan", type=Path, metavar="FILE",
                   help="apply exactly the plan `plan --out FILE` saved, in its scope; refused (exit 1, nothing "
                        "sent) when the postings or a pair it changes moved since it was made")
    p.add_argument("--posting", action="append", metavar="KEY", help="only this posting (repeatable)")
    p.add_argument("--provider", action="append", metavar="NAME", help="only this board (repeatable)")
    _wait_arg(p)
    _json_arg(p, "the run's result (with --dry-run, its plan too)")
    _quiet_arg(p, "print no report (unless --json): the exit code says whether the boards match")

    p = command("snapshot", _cmd_snapshot,
                "write each board's last observed state as JSON, to plan against without the boards")
    _config_arg(p)
    p.add_argument("--out", type=Path, metavar="FILE", help="write it to FILE (default: stdout)")
    _quiet_arg(p, "print nothing but errors")

    p = command("status", _cmd_status,
                "each posting on each board: state, drift, last sync, blocks, backoffs, a board's wait")
    _config_arg(p)
    p.add_argument("--unmanaged", action="store_true",
                   help="instead: the jobs on each board that no posting owns (reads the boards; exit 2 when one "
                        "cannot be read)")
    _json_arg(p, "the rows")
    _quiet_arg(p, "print the rows only")

    p = command("adopt", _cmd_adopt,
                "bind a job already on a board to a posting; the next run updates what differs")
    p.add_argument("key", metavar="KEY", help="the posting (it must name the board under boards:)")
    p.add_argument("--board", required=True, metavar="NAME", help="the board the job is on")
    p.add_argument("--id", required=True, metavar="REMOTE_ID", help="the job's id on the board (status --unmanaged)")
    _config_arg(p)
    _wait_arg(p)
    _json_arg(p, "the binding made")
    _quiet_arg(p, "print nothing")

    p = command("import", _cmd_import,
                "write a posting file for each job on the boards that no posting owns, and bind it")
    p.add_argument("--board", metavar="NAME", help="only the jobs of this board (default: every board that holds jobs)")
    p.add_argument("--out", type=Path, metavar="FOLDER",
                   help="where to write the files, inside the postings folder (default: <postings>/imported/)")
    p.add_argument("--dry-run", action="store_true", help="print the files it would write; write and bind nothing")
    p.add_argument("--all", action="store_true", help="closed and expired jobs too (default: skipped)")
    _config_arg(p)
    _wait_arg(p)
    _json_arg(p, "the files written and the jobs left out")
    _quiet_arg(p, "print nothing (unless --json): the exit code says whether any job was left ambiguous")

    p = command("forget", _cmd_forget,
                "stop managing a posting removed from the config, leaving its jobs as they are on the boards")
    p.add_argument("key", metavar="KEY", help="the posting's key")
    p.add_argument("--board", metavar="NAME", help="only on this board (default: every board it is bound on)")
    _config_arg(p)
    _wait_arg(p)
    _json_arg(p, "the bindings dropped")
    _quiet_arg(p, "print nothing")

    p = command("drift", _cmd_drift, "differences found between the boards and the desired state")
    _config_arg(p)
    p.add_argument("--open", action="store_true", help="only drift not yet resolved")
    _json_arg(p, "the rows")
    _quiet_arg(p, "print the rows only")

    p = command("visits", _cmd_visits, "visits and applicants per posting and channel")
    _config_arg(p)
    p.add_argument("--since", default="7d", metavar="PERIOD",
                   help="period for the change columns, as 30m, 12h or 7d (default: 7d)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="the rows as CSV, with a header line")
    out.add_argument("--json", action="store_true", help="the rows as JSON (shape in the README)")
    _quiet_arg(p, "print the rows only")

    p = command("report", _cmd_report,
                "write the dashboard (postings, drift, visits per channel, runs) as one HTML file that works offline")
    _config_arg(p)
    p.add_argument("--html", required=True, type=Path, metavar="FILE", help="the file to write")
    p.add_argument("--since", default="7d", metavar="PERIOD",
                   help="period of the charts and the change columns, as 30m, 12h or 7d (default: 7d)")
    _quiet_arg(p, "print nothing but errors")

    p = command("history", _cmd_history,
                "each run: when, what started it, the config commit, changes, errors, duration (the database only)")
    p.add_argument("run", nargs="?", type=int, metavar="RUN",
                   help="instead: every request run RUN sent to a board (method, path, status, duration)")
    _config_arg(p)
    p.add_argument("--since", default="7d", metavar="PERIOD",
                   help="the runs started in the last PERIOD, as 30m, 12h or 7d (default: 7d)")
    _json_arg(p, "the runs, or the run and its requests")
    _quiet_arg(p, "print the rows only")

    p = command("log", _cmd_log,
                "one posting's story on every board: changes, drift, blocks, visits and applicants by day")
    p.add_argument("key", metavar="KEY", help="the posting")
    _config_arg(p)
    _json_arg(p, "the events and the days")
    _quiet_arg(p, "print the rows only")

    p = command("links", _cmd_links, "a fresh signed RecruitiFi link per posting")
    _config_arg(p)
    _key_arg(p, "every posting that names RecruitiFi")
    _wait_arg(p)
    _json_arg(p, "the links")
    _quiet_arg(p, "print the links only")

    p = command("sources", _cmd_sources, "the tracked source URL of each channel, read from Hirempire")
    _config_arg(p)
    _key_arg(p, "every posting that names Hirempire")
    _wait_arg(p)
    _json_arg(p, "the channels")
    _quiet_arg(p, "print the channels only")

    p = command("retry", _cmd_retry, "lift the backoff of failed pairs, so the next run tries them now")
    _config_arg(p)
    _key_arg(p, "every pair backing off")
    _wait_arg(p)
    _json_arg(p, "the backoffs lifted")
    _quiet_arg(p, "print nothing")

    p = command("notify", _cmd_notify, "the notification targets: send a test message, list what is owed")
    p.add_argument("action", choices=["test", "list"],
                   help="test: send a test message to every target now; list: the deliveries pending or failed")
    _config_arg(p)
    _json_arg(p, "(list) the deliveries")
    _quiet_arg(p, "print the rows only")

    p = command("workspaces", _cmd_workspaces,
                "the workspaces of the state database, which process writes each, and its last reconcile")
    _config_arg(p)
    _json_arg(p, "the workspaces")

    p = command("migrate", _cmd_migrate, "create or upgrade the state database")
    _config_arg(p)
    _json_arg(p, "the database and its schema version")
    _quiet_arg(p, "print nothing")

    p = command("demo", _cmd_demo, "run a whole story against the sandbox boards")
    p.add_argument("--workdir", type=Path, help="where to keep the demo's files (default: a temp dir)")

    p = command("daemon", _cmd_daemon, "run as a long-lived service (systemd Type=notify)")
    _config_arg(p)
    p.add_argument("--workspaces", type=Path, metavar="DIR",
                   help="serve every root file directly under DIR as a workspace of its own (named after the "
                        "file), sharing them with the other daemons on the same PostgreSQL database")
    p.add_argument("--check-every", type=float, default=5.0, metavar="SECONDS",
                   help="with --workspaces: how often to look at the other daemons and this one's share (default: 5)")
    p.add_argument("--no-standby", action="store_true",
                   help="on PostgreSQL, exit 1 naming the holder when another daemon writes, instead of standing by")
    p.add_argument("--listen", metavar="HOST:PORT", help="where /healthz, /metrics and the rest listen, "
                   "instead of daemon.listen (port 0: a free one, written in the daemon_ready log line)")

    p = command("hooks", _cmd_hooks,
                "register the webhook that sends a board's job events to the daemon (Hirempire), or remove it")
    p.add_argument("action", choices=["install", "remove", "list"],
                   help="install: one webhook per board, kept when it is already there; remove: the daemon's "
                        "webhooks; list: every webhook on the boards")
    p.add_argument("--url", metavar="URL",
                   help="the daemon's public address, as the boards reach it (default: daemon.public_url)")
    _config_arg(p)
    _json_arg(p, "the webhooks")
    _quiet_arg(p, "print nothing")
    return parser


SHOWS_CREDENTIALS = frozenset({"links", "demo"})
"""Commands whose output is a credential on purpose (a signed link): their stdout is left whole."""

OWN_LOGS = frozenset({"daemon", "sandbox"})
"""Commands that are services: their log lines go where a service's go, not to the console."""


GC_FIRST_GENERATION = 50_000
"""Allocations between two young-generation collections (Python's default is 700)."""


_collector_tuned = False
"""Whether this process is one `boardsync` command that tuned the collector for itself (`run`)."""


def _collect_less() -> None:
    """Most of what a command makes lives until it ends (the postings, the boards' reads,
    the state's rows), so the collector's frequent passes over them free nothing: collect
    the young generation less often, and never walk again what was imported before now.
    A steady `reconcile` of 1,000 postings spends about an eighth less CPU."""
    global _collector_tuned
    gc.set_threshold(GC_FIRST_GENERATION, *gc.get_threshold()[1:])
    gc.freeze()
    _collector_tuned = True


OLDER_GENERATIONS = 1_000
"""Young-generation collections between two of the older generations, once a command opened
its run (Python's default is 10)."""


def _opened() -> None:
    """A command opened what its run needs (the config, the state, the boards, and the
    modules they imported), all of which lives until it ends: in a process of its own, the
    collector never walks any of it again. From here the young generation is still collected
    as often (a session or a request leaves short-lived cycles), but what outlived one pass,
    the run's reads and plan, is rarely walked again: it lives to the end as well. Not for the
    daemon, whose cycles end; a test that calls `main` keeps its collector."""
    if _collector_tuned:
        gc.freeze()
        gc.set_threshold(GC_FIRST_GENERATION, OLDER_GENERATIONS, OLDER_GENERATIONS)


def main(argv: Sequence[str] | None = None) -> int:
    from boardsync.log import masked_output
    from boardsync.terminal import Terminal

    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    # No secret value reaches what a command prints, whatever text an error carries.
    with masked_output(stdout=args.command not in SHOWS_CREDENTIALS), _in_workspace(getattr(args, "workspace", None)):
        term = Terminal.open(no_color=args.no_color)
        if args.command not in OWN_LOGS:
            term.route_logs(quiet=getattr(args, "quiet", False))
        try:
            return handler(args, term)
        except BoardsyncError as exc:
            print(f"boardsync {args.command}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"boardsync {args.command}: interrupted", file=sys.stderr)
            return 130


@contextmanager
def _in_workspace(name: str | None) -> Iterator[None]:
    """`--workspace NAME` for the length of a command: the config reads it where it reads
    $BOARDSYNC_WORKSPACE (`boardsync.workspaces`), and so does a process the command starts."""
    from boardsync import workspaces

    if name is None:
        yield
        return
    before = os.environ.get(workspaces.ENV)
    os.environ[workspaces.ENV] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ[workspaces.ENV]
        else:
            os.environ[workspaces.ENV] = before


def run() -> None:
    """The `boardsync` command: `main` in a process of its own, which tunes the collector
    for the whole process (so not `main` itself: a test calls it many times in one)."""
    _collect_less()
    raise SystemExit(main())


if __name__ == "__main__":
    run()
