"""fortellis-nb's two everyday commands, the same in PowerShell, cmd.exe, bash and zsh, on
Windows, macOS and Linux. Both set up what they need first (a .venv here).

    py dev.py lab         set up, start the sandbox, open JupyterLab on notebook 01 of your own
                          copies (./fortellis-notebooks, ignored by git; notebooks/ stays as committed)
    py dev.py test        set up (with test tools) and run every test
    py dev.py notebooks   re-execute the notebooks in place (on a private sandbox), outputs saved
                          with placeholders for the sandbox's port and links

(`py` is Windows' Python launcher; elsewhere `python3 dev.py ...`.) Any further arguments go to
JupyterLab, pytest, or (notebooks) name the notebooks to run. The environment is made with the
Python that runs this file, in $VENV (default .venv); FORTELLIS_CONSTRAINTS names a pip
constraints file. Only the standard library is used here: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def stamp(venv: Path, extra: str, constraints: str) -> Path:
    """The file that says this environment has what is asked for: a fingerprint of pyproject.toml
    (and the constraints file) and the extra. dev.sh writes the same name, so the two share a .venv."""
    files = [ROOT / "pyproject.toml", *([Path(constraints)] if constraints else [])]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    return venv / f".fortellis-nb-{digest}-{extra or 'base'}"


def setup(venv: Path, extra: str) -> Path:
    """The environment's Python, after installing this package (editable, with `extra`) if needed."""
    python = venv_python(venv)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    constraints = os.environ.get("FORTELLIS_CONSTRAINTS", "")
    done = stamp(venv, extra, constraints)
    if done.exists():
        return python
    # pip's own output goes to a log, shown only if the install fails: an editable install makes
    # setuptools print a notice about it that is of no use here.
    log = venv / "pip.log"
    print(f"Setting up {venv} ({extra or 'notebooks'}; pip's log: {log}) ...", flush=True)
    wanted = f".[{extra}]" if extra else "."
    with log.open("w") as out:
        for step in (["--upgrade", "pip"], [*(["-c", constraints] if constraints else []), "-e", wanted]):
            if subprocess.run([python, "-m", "pip", "install", *step], cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT).returncode:
                break
        else:
            subprocess.run([python, "-m", "fortellis_nb", "kernel-config"], check=True, stdout=subprocess.DEVNULL)
            done.touch()
            return python
    sys.stderr.write("".join(log.read_text(errors="replace").splitlines(True)[-40:]))
    sys.exit(f"Setting up {venv} failed; the whole log: {log}")


def need_system_tools() -> None:
    """The browser tests need Chromium (their harness runs on Linux and macOS: it stops Jupyter
    through POSIX process groups); the protocol tests need curl, node and npm."""
    chromium = os.environ.get("FORTELLIS_CHROMIUM") or "/usr/bin/chromium"
    missing = [name for name, found in (("chromium", os.name == "nt" or os.path.exists(chromium)),
                                        ("curl", shutil.which("curl")), ("nodejs", shutil.which("node")),
                                        ("npm", shutil.which("npm")))
               if not found]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(f"Installing {' '.join(missing)} with apt-get ...", flush=True)
        subprocess.run([apt, "update", "-qq"], check=True)
        subprocess.run([apt, "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        return
    how = f"sudo apt-get install {' '.join(missing)}" if apt else \
        "Chromium from `python -m playwright install chromium` with FORTELLIS_CHROMIUM set to its path"
    print(f"Note: {' '.join(missing)} not found; install them ({how}).\n"
          "      Tests that need them are skipped until then.", file=sys.stderr)


def hand_over(command: list) -> int:
    """Run `command` here and return its exit status. Ctrl+C reaches it as it reaches this process
    (the terminal sends it to both): JupyterLab and pytest decide what it means, not this one."""
    process = subprocess.Popen([str(part) for part in command], cwd=ROOT)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def lab(venv: Path, args: list[str]) -> int:
    # As `fortellis-nb lab` from pip: copies the notebooks into ./fortellis-notebooks (a copy
    # already there is kept: the learner's work), starts the sandbox (or says which server the
    # FORTELLIS_* settings name), opens JupyterLab there on notebook 01 (--allow-root as root)
    # and, when JupyterLab stops, says the sandbox runs on and how to stop it (--stop-sandbox:
    # stop it). The learner's outputs, pasted URLs and .env stay out of the tracked notebooks/.
    return hand_over([setup(venv, ""), "-m", "fortellis_nb", "lab", *args])


def test(venv: Path, args: list[str]) -> int:
    python = setup(venv, "test")
    need_system_tools()
    return hand_over([python, "-m", "pytest", "-n", "2", "--dist", "loadfile", *args])


def notebooks(venv: Path, args: list[str]) -> int:
    python = setup(venv, "test")
    names = args or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    with tempfile.TemporaryDirectory() as state:
        # No FORTELLIS_* settings: the notebooks run on the sandbox, as a learner's first run does.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORTELLIS_")}
        env["FORTELLIS_SANDBOX_STATE"] = state
        try:
            ran = subprocess.run(
                [python, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                 "--ExecutePreprocessor.timeout=300",
                 "--ClearMetadataPreprocessor.enabled=True", "--ClearMetadataPreprocessor.clear_cell_metadata=False",
                 "--ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec",
                 "--ClearMetadataPreprocessor.preserve_nb_metadata_mask=language_info", *names],
                cwd=ROOT, env=env).returncode
        finally:
            subprocess.run([python, "-m", "fortellis_nb.sandbox", "stop", "--state", state], cwd=ROOT,
                           stdout=subprocess.DEVNULL)
    if ran:
        return ran
    # The notebooks keep their kernel and language and no widget state (of this run, or of an
    # earlier save from JupyterLab), so the widgets' views go below and their snapshots show: read
    # on GitHub, converted to HTML offline, or opened in JupyterLab, they need no kernel and no
    # internet. The saved outputs show PORT for the sandbox's port and no link to it (the author's
    # would lead nowhere on a learner's machine); tests/nbval-sanitize.cfg still compares them.
    return hand_over([python, "-m", "tests.placeholder_outputs", *names])


COMMANDS = {"lab": lab, "test": test, "notebooks": notebooks}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    venv = Path(os.environ.get("VENV") or ".venv")
    return COMMANDS[argv[0]](venv if venv.is_absolute() else ROOT / venv, argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
