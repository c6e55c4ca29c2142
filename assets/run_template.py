"""Imported last in the run launcher's template process (assets/launcher.py), after the modules it
preloads: the objects they built are frozen, so the collector in every forked run worker never
scans (and so never writes to) those shared pages; a fork then copies only what a run changes."""

from __future__ import annotations

import gc
import sys

from assets.launcher import DEFAULT_PRELOAD

# multiprocessing's forkserver swallows an ImportError of a preloaded module: say which one, so a
# template that lost its code location (the runs then import it each) shows in the daemon's log.
missing = [name for name in DEFAULT_PRELOAD if name not in sys.modules]
if missing:
    print(f"run template: not preloaded: {', '.join(missing)}", file=sys.stderr, flush=True)

gc.collect()
gc.freeze()
PRELOADED = True
