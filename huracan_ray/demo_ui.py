"""The demo's live progress display: one line per stage with counts and detail."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["StageProgress"]


class StageProgress:
    """A rich progress display where each stage is a task: ``stage`` → ``update``… → ``done``."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )

    def __enter__(self) -> StageProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def stage(self, name: str, total: int | None) -> TaskID:
        """Start a stage line."""
        return self._progress.add_task(name, total=total, detail="")

    def update(self, task: TaskID, done: int, total: int | None, detail: str = "") -> None:
        """Move a stage to ``done`` of ``total`` with a detail text."""
        kwargs = {"completed": done, "detail": detail}
        if total is not None:
            kwargs["total"] = total
        self._progress.update(task, **kwargs)

    def done(self, task: TaskID) -> None:
        """Mark a stage complete."""
        total = self._progress.tasks[task].total or self._progress.tasks[task].completed or 1
        self._progress.update(task, completed=total, total=total, detail="[green]done")
