"""Run a marketplace source into a tenant's dataset, all or nothing.

dlt extracts every resource before it loads anything, so a failure while talking to the
marketplace leaves the destination as it was; the half-extracted package is dropped so the next
run cannot load it. The caller gets the marketplace's reason, not dlt's wrapping.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.destination import loader_file_format
from pipelines.http_policy import MarketplaceError


class SyncError(RuntimeError):
    """A sync failed; the previous data is untouched. The message is safe to show a seller."""


@dataclass(frozen=True)
class LoadResult:
    load_id: str | None
    rows: dict[str, int]  # rows written per table in this load


def marketplace_cause(exc: BaseException) -> MarketplaceError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MarketplaceError):
            return current
        nested = getattr(current, "exception", None)
        current = nested if isinstance(nested, BaseException) else (current.__cause__ or current.__context__)
    return None


def run_source(pipeline: dlt.Pipeline, make_source: Callable[[], Any]) -> LoadResult:
    """Build the source (its token checks call the marketplace) and load it."""
    try:
        info = pipeline.run(make_source(), loader_file_format=loader_file_format(pipeline))
    except MarketplaceError as exc:
        raise SyncError(f"{pipeline.pipeline_name}: {exc}") from exc
    except PipelineStepFailed as exc:
        pipeline.abort_packages()
        cause = marketplace_cause(exc)
        if cause is not None:
            raise SyncError(f"{pipeline.pipeline_name}: {cause}") from cause
        raise SyncError(f"{pipeline.pipeline_name}: {exc.step} step failed: {exc.exception}") from exc
    rows = dict(pipeline.last_trace.last_normalize_info.row_counts) if pipeline.last_trace else {}
    return LoadResult(
        info.loads_ids[-1] if info.loads_ids else None,
        {k: v for k, v in rows.items() if not k.startswith("_dlt")},
    )


def release_free_memory() -> None:
    """Give the memory freed after a load back to the system: Arrow's allocator (mimalloc) and
    glibc keep freed pages for reuse, so a finished extract otherwise stays in the run's RSS
    through every later step (bench/bench_sync.py)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)  # glibc only
        if trim is not None:
            trim(0)


@contextmanager
def collect_load_garbage() -> Iterator[None]:
    """Free a load's garbage when the block ends, scanning only what the block made.

    The load's garbage sits in reference cycles (dlt's source, pipeline and trace) until the
    collector happens by: ~60–90 MB at 10 000 SKUs that every later step of the run would
    otherwise start from (bench/bench_sync.py). A full collection also walks the ~300 000
    objects alive before the load (Dagster, dlt, Polars: the imports), ≈0.15 CPU s each time,
    and allocating during the load set off one more of them. Frozen (`gc.freeze`), those are left
    out of every collection until the block ends; they are not the load's garbage, and anything
    they still refer to stays alive."""
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.unfreeze()
        release_free_memory()
