"""``fortellis-nb``: one command for everything a learner or an instructor runs by hand.

    fortellis-nb lab [DIR]          copy the notebooks into DIR (./fortellis-notebooks) unless they
                                    are there, start the sandbox (or say which server FORTELLIS_*
                                    settings name instead), open JupyterLab on notebook 01
    fortellis-nb notebooks DIR      copy the notebooks into DIR (a file already there is kept)
    fortellis-nb check              the install check for workshop day
    fortellis-nb kernel-config      make this environment's kernels explain errors as the notebooks do
    fortellis-nb sandbox [serve|start|status|stop|report] [options]
                                    the sandbox identity server (as python -m fortellis_nb.sandbox)
    fortellis-nb example backend    an example server-side app (python -m fortellis_nb.examples.backend)

``python -m fortellis_nb ...`` is the same command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Where ``fortellis-nb lab`` puts the notebooks when no folder is named.
DEFAULT_FOLDER = "fortellis-notebooks"
FIRST_NOTEBOOK = "01-welcome-and-setup.ipynb"
_PACKAGE = Path(__file__).resolve().parent


def packaged_notebooks() -> Path:
    """The folder of the numbered notebooks: ``fortellis_nb/notebooks`` in an installed wheel,
    the repository's ``notebooks/`` in a source checkout (an editable install)."""
    for folder in (_PACKAGE / "notebooks", _PACKAGE.parent / "notebooks"):
        if (folder / FIRST_NOTEBOOK).is_file():
            return folder
    raise FileNotFoundError(f"The notebooks are not installed with fortellis_nb (looked in {_PACKAGE / 'notebooks'}); "
                            "reinstall it: pip install --force-reinstall fortellis-nb")


def notebook_files() -> list[Path]:
    return sorted(packaged_notebooks().glob("[0-9][0-9]-*.ipynb"))


def copy_notebooks(target: Path, out=print) -> tuple[list[str], list[str]]:
    """Copy the notebooks into ``target``; a notebook already there is never overwritten (it
    may hold the learner's work). Returns the names copied and the names kept."""
    target.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for source in notebook_files():
        destination = target / source.name
        if destination.exists():
            kept.append(source.name)
            continue
        shutil.copyfile(source, destination)
        copied.append(source.name)
    if copied:
        out(f"Copied {len(copied)} notebook{'s' * (len(copied) != 1)} into {target}.")
    if kept:
        out(f"Kept {len(kept)} notebook{'s' * (len(kept) != 1)} already in {target}, as they are "
            "(your work is never overwritten; delete or rename one to get a fresh copy).")
    return copied, kept


def self_command() -> str:
    """How to run this command again from a shell: ``fortellis-nb`` if that is this
    environment's on PATH, else the script's full path, else this Python with ``-m fortellis_nb``."""
    scripts = Path(sys.executable).parent
    found = shutil.which("fortellis-nb")
    if found and Path(found).parent.resolve() == scripts.resolve():
        return "fortellis-nb"
    script = next((s for s in (scripts / "fortellis-nb", scripts / "fortellis-nb.exe") if s.is_file()), None)
    command = [str(script)] if script else [sys.executable, "-m", "fortellis_nb"]
    return " ".join(f'"{part}"' if " " in part else part for part in command)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(folder: Path, extra: list[str]) -> list[str]:
    """JupyterLab on ``folder``, opening notebook 01 (``--allow-root`` when run as root,
    which JupyterLab otherwise refuses)."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}",
               f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}", f"--ServerApp.default_url=/lab/tree/{FIRST_NOTEBOOK}"]
    if is_root() and "--allow-root" not in extra:
        command.append("--allow-root")
    return command + extra


def lab(folder: Path, extra: list[str], *, stop_after: bool = False, state_dir=None, out=print) -> int:
    from .install import kernel_config
    from .oauth.config import find_settings, not_the_sandbox
    from .oauth.errors import ConfigurationError
    from .sandbox import running_sandbox, stop_sandbox

    folder = folder.expanduser().resolve()
    copy_notebooks(folder, out=out)
    kernel_config(out=lambda line: None)
    dotenv = folder / ".env"  # the kernels run in the folder: its .env is the one the notebooks read
    try:
        settings = find_settings(dotenv=dotenv if dotenv.is_file() else False)
    except ConfigurationError as exc:
        out(f"The notebooks' settings cannot be read: {exc}")
        return 1
    if "issuer" in settings.values:
        out(not_the_sandbox(settings.values["issuer"], settings.sources))
    elif not _sandbox_ready(state_dir, out):
        return 1
    out(f"Opening JupyterLab on {folder / FIRST_NOTEBOOK}. Ctrl+C (twice) stops JupyterLab.")
    status = _run_jupyterlab(folder, extra)
    running = running_sandbox(state_dir)
    if stop_after:
        out("JupyterLab has stopped; " + ("so has the sandbox." if stop_sandbox(state_dir) else
                                          "the sandbox was not running."))
    elif running is not None:
        out(f"JupyterLab has stopped. The sandbox is still running at {running.base_url}/ for the next start "
            f"(notebooks open elsewhere may use it; its apps and users are kept either way).\n"
            f"Stop it with: {self_command()} sandbox stop")
    return status


def _sandbox_ready(state_dir, out) -> bool:
    """Start the sandbox (or find it running) and say that the notebooks use it, where it is
    and who signs in there."""
    from .sandbox import SandboxStartError, ensure_sandbox

    try:
        info = ensure_sandbox(state_dir)
    except SandboxStartError as exc:
        out(f"The sandbox did not start: {exc}")
        out(f"Run `{self_command()} check` to see what is wrong.")
        return False
    out(f"The notebooks use the local sandbox, ready at {info.base_url}/ (sign in as {info.username} / "
        f"{info.password}): no FORTELLIS_* settings name another server.")
    return True


#: JupyterLab's option for where it keeps workspaces (the open tabs and their layout).
WORKSPACES_OPTION = "--LabApp.workspaces_dir"


def _run_jupyterlab(folder: Path, extra: list[str]) -> int:
    """JupyterLab on ``folder`` until it stops, with a workspace of its own that goes with it:
    a kept workspace reopens every notebook it had open, and JupyterLab starts a kernel for
    each (all ten at once after the course). So each start opens notebook 01 alone, with one kernel."""
    import tempfile

    if any(option.startswith(WORKSPACES_OPTION) for option in extra):  # the learner's own choice
        return _wait(subprocess.Popen(lab_command(folder, extra)))
    with tempfile.TemporaryDirectory(prefix="fortellis-workspace-") as workspaces:
        return _wait(subprocess.Popen(lab_command(folder, [f"{WORKSPACES_OPTION}={workspaces}", *extra])))


def _wait(process: subprocess.Popen) -> int:
    """Wait for JupyterLab to end. A Ctrl+C reaches it too: the first makes it ask whether to
    shut down, the second (or its "y") stops it; until then this keeps waiting. Stopped any
    other way (a SIGTERM, a closed terminal), this command stops JupyterLab with it."""
    import signal

    previous = None
    if hasattr(signal, "SIGTERM"):
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, passed_on = parser.parse_known_args(argv)
    if passed_on and not args.passes_on:
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    return args.run(args, passed_on)


# Each command is run with its parsed options and the arguments it passes on to the program it
# starts (JupyterLab, the sandbox's own command, the example backend), which it does not know.
def _run_lab(args, passed_on: list[str]) -> int:
    # DIR comes first: after an option JupyterLab reads, a word is that option's value.
    has_folder = bool(passed_on) and not passed_on[0].startswith("-")
    folder = passed_on[0] if has_folder else DEFAULT_FOLDER
    return lab(Path(folder), passed_on[has_folder:], stop_after=args.stop_sandbox)


def _run_notebooks(args, passed_on: list[str]) -> int:
    copy_notebooks(Path(args.folder).expanduser())
    print(f"Open {Path(args.folder) / FIRST_NOTEBOOK} first, or run: {self_command()} lab {args.folder}")
    return 0


def _run_check(args, passed_on: list[str]) -> int:
    from .install import run_checks
    return run_checks(args.state_dir, keep_sandbox=args.keep_sandbox)


def _run_kernel_config(args, passed_on: list[str]) -> int:
    from .install import kernel_config
    return kernel_config(args.prefix)


def _run_sandbox(args, passed_on: list[str]) -> int:
    from .sandbox.__main__ import main as sandbox_main
    return sandbox_main(passed_on, prog=f"{self_command()} sandbox")


def _run_example_backend(args, passed_on: list[str]) -> int:
    from .lessons.backend import run_example_backend
    return run_example_backend(passed_on)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fortellis-nb", description="One command for everything a learner or "
                                     "an instructor runs by hand (python -m fortellis_nb is the same).",
                                     epilog="More: fortellis-nb COMMAND --help")
    parser.set_defaults(passes_on=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # allow_abbrev=False: JupyterLab's --stop... must not be read as an abbreviated --stop-sandbox.
    lab_parser = commands.add_parser(
        "lab", help="copy the notebooks (unless there), start the sandbox, open JupyterLab on notebook 01",
        usage="fortellis-nb lab [DIR] [--stop-sandbox] [JupyterLab's options]", allow_abbrev=False,
        description=f"Copy the notebooks into DIR (default ./{DEFAULT_FOLDER}) unless they are there, start the "
        "sandbox (unless FORTELLIS_* settings, in the environment or in DIR/.env, name another server: then it says "
        "which), and open JupyterLab on notebook 01, alone. DIR comes first; the options this command does not know go to "
        "JupyterLab (e.g. --port 8899 --no-browser).")
    lab_parser.add_argument("--stop-sandbox", action="store_true",
                            help="stop the sandbox when JupyterLab stops (default: leave it running for next time)")
    lab_parser.set_defaults(run=_run_lab, passes_on=True)
    copy = commands.add_parser("notebooks", help="copy the notebooks into a folder (files already there are kept)")
    copy.add_argument("folder", metavar="DIR")
    copy.set_defaults(run=_run_notebooks)
    check = commands.add_parser("check", help="check the installation for workshop day")
    check.add_argument("--state-dir", help="the sandbox's state folder (default: the usual one)")
    check.add_argument("--keep-sandbox", action="store_true", help="leave a sandbox started by the check running")
    check.set_defaults(run=_run_check)
    config = commands.add_parser("kernel-config", help="make this environment's kernels explain errors as the "
                                 "notebooks do, and its Jupyter keep widgets readable in saved "
                                 "notebooks (files in sys.prefix/etc)")
    config.add_argument("--prefix", help="the environment's prefix (default: this Python's)")
    config.set_defaults(run=_run_kernel_config)
    # The sandbox's and the example's own command lines read their arguments (and their --help).
    commands.add_parser("sandbox", add_help=False, help="the sandbox identity server: serve, start, status, stop, "
                        "report (fortellis-nb sandbox --help)").set_defaults(run=_run_sandbox, passes_on=True)
    example = commands.add_parser("example", help="run an example: backend, a server-side app that does the "
                                  "whole flow for its users (fortellis-nb example backend --help)")
    examples = example.add_subparsers(dest="example", required=True, metavar="EXAMPLE")
    examples.add_parser("backend", add_help=False, help="the example backend (notebook 10): "
                        "[--port N] [--rotate]").set_defaults(run=_run_example_backend, passes_on=True)
    return parser
