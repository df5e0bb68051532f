"""Run a flashing plan step by step, with progress, or print it (`--dry-run`).

A plan is a list of steps: commands (esptool, mpremote, systemctl...) run
exactly as printed, and in-process actions (checks, image builds, UF2
copies) that describe themselves. esptool draws its own progress bars on the
terminal; mpremote's one `cp` line per file drives ours.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StepFailed(RuntimeError):
    """A step of the plan failed; the message says which and what state the board is in."""


@dataclass
class Step:
    """One step: `argv` to run, or `action` to call (described by `shown`)."""

    title: str
    argv: list[str] | None = None
    action: Callable[[], None] | None = None
    shown: str = ""
    files: int = 0  # mpremote: how many `cp` lines to expect (progress bar total)
    after_failure: str = "nothing was written to the board"
    env: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return shlex.join(self.argv) if self.argv is not None else f"({self.shown})"


def console() -> Console:
    return Console(stderr=False, highlight=False)


def print_plan(steps: list[Step], out: Console | None = None) -> None:
    """The dry run: every step with the exact command it would run."""
    out = out or console()
    for i, st in enumerate(steps, 1):
        out.print(f"[bold]{i}. {st.title}[/]")
        out.print(f"   {st.describe()}", markup=False, soft_wrap=True)


def run_plan(steps: list[Step], out: Console | None = None) -> None:
    """Run every step in order; raise StepFailed at the first failure."""
    out = out or console()
    for i, st in enumerate(steps, 1):
        out.print(f"[bold cyan]{i}/{len(steps)}[/] {st.title}")
        try:
            if st.action is not None:
                st.action()
            elif st.files:
                run_counted(st, out)
            else:
                _run_plain(st)
        except StepFailed:
            raise
        except Exception as e:
            raise StepFailed(f"step {i} ({st.title}) failed: {e}\n{st.after_failure}") from e


def _run_plain(st: Step) -> None:
    assert st.argv is not None
    # The tool owns the terminal: esptool draws its own progress bars and errors.
    rc = subprocess.run(st.argv, stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        raise RuntimeError(f"`{shlex.join(st.argv[:1] + st.argv[1:4])} ...` exited with {rc} (its output is above)")


def run_counted(st: Step, out: Console) -> None:
    """Run mpremote, advancing a bar per copied file; keep its other output for the error."""
    assert st.argv is not None
    tail: list[str] = []
    cols = (TextColumn("   copying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=out, transient=False) as bar:
        task = bar.add_task("files", total=st.files)
        proc = subprocess.Popen(st.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("cp "):
                bar.advance(task)
            else:
                tail = (tail + [line.rstrip()])[-15:]
        rc = proc.wait()
    if rc != 0:
        detail = "\n".join(f"   | {t}" for t in tail if t)
        raise RuntimeError(f"mpremote exited with {rc}:\n{detail}")


def fail(message: str) -> int:
    """Print an error the way every flashing command does; return exit code 1."""
    print(f"error: {message}", file=sys.stderr)
    return 1


def execute(steps: list[Step], dry_run: bool, done: str = "done") -> int:
    """A command's plan: printed (dry run) or run, then `done`; the exit code."""
    if dry_run:
        print_plan(steps)
        return 0
    try:
        run_plan(steps)
    except StepFailed as e:
        return fail(str(e))
    print(done)
    return 0
