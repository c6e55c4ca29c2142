"""What a sync shows while it runs: one progress bar per tenant and stage (ingest, model, sheet, telegram),
driven by the run's own Dagster events; the full event log goes to a file instead of the console."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

from dagster import AssetKey, DagsterEventType, Definitions, EventLogEntry
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

STAGES = ("ingest", "model", "sheet", "telegram")
# Asset groups (assets/) → the stage a seller would name.
_STAGE_OF_GROUP = {
    "wildberries_raw": "ingest",
    "ozon_raw": "ingest",
    "stock_model": "model",
    "sheet": "sheet",
    "telegram": "telegram",
}
_FILES_ASSET = AssetKey("sheet_files")


def steps_by_stage(defs: Definitions, selection: Sequence[AssetKey]) -> dict[str, str]:
    """Step key → stage for the steps a run of `selection` executes (an asset job runs one step per op)."""
    wanted = set(selection)
    stage_of: dict[str, str] = {}
    for assets_def in defs.assets or ():
        keys = [k for k in getattr(assets_def, "keys", ()) if k in wanted]
        if keys:
            stage_of[assets_def.op.name] = _STAGE_OF_GROUP[assets_def.group_names_by_key[keys[0]]]
    return stage_of


class TenantWatch:
    """One tenant's bars; `on_event` is handed to the run as its event listener."""

    def __init__(self, sync: SyncProgress, tenant: str, stage_of: dict[str, str]) -> None:
        self._sync, self._stage_of = sync, stage_of
        self.files_folder: Path | None = None
        self._tasks: dict[str, TaskID] = {}
        for stage in STAGES:
            steps = sum(1 for s in stage_of.values() if s == stage)
            if steps:
                self._tasks[stage] = sync.progress.add_task(stage, total=steps, tenant=tenant, start=False)

    def on_event(self, entry: EventLogEntry) -> None:
        self._sync.write_log(entry)
        event = entry.dagster_event
        if event is None or event.step_key is None:
            return
        stage = self._stage_of.get(event.step_key)
        task = self._tasks.get(stage) if stage else None
        if task is None:
            return
        progress = self._sync.progress
        if event.event_type == DagsterEventType.STEP_START:
            progress.start_task(task)
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            progress.advance(task)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            progress.update(task, description=f"[red]{stage} failed")
        elif event.event_type == DagsterEventType.STEP_UP_FOR_RETRY:
            progress.update(task, description=f"[yellow]{stage} (retrying)")
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key == _FILES_ASSET:
            folder = materialization.metadata.get("folder")
            if folder is not None:
                self.files_folder = Path(str(folder.value))

    def finish(self) -> None:
        """Stop the clocks (a skipped step, e.g. a seller without a spreadsheet, never succeeds)."""
        for task in self._tasks.values():
            self._sync.progress.stop_task(task)


class SyncProgress:
    """The bars on `console` and the event-log file, for the length of a `with` block."""

    def __init__(self, console: Console, log_path: Path) -> None:
        self.log_path = log_path
        self.progress = Progress(
            TextColumn("{task.fields[tenant]}"),
            TextColumn("{task.description:<8}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._log: IO[str] | None = None

    def __enter__(self) -> SyncProgress:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()
        if self._log is not None:
            self._log.close()

    def watch(self, tenant: str, stage_of: dict[str, str]) -> TenantWatch:
        return TenantWatch(self, tenant, stage_of)

    def write_log(self, entry: EventLogEntry) -> None:
        """The line Dagster's console logger would have printed."""
        if self._log is None:
            return
        event = entry.dagster_event
        parts = [
            datetime.fromtimestamp(entry.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S %z"),
            logging.getLevelName(entry.level),
            entry.job_name or "",
            entry.run_id,
            entry.step_key or "",
            event.event_type.name if event else "",
            entry.message,
        ]
        self._log.write(" - ".join(p for p in parts if p) + "\n")
        self._log.flush()


EventListener = Callable[[EventLogEntry], None]
