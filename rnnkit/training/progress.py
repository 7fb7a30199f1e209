"""The progress bar (tqdm, imported lazily) and the JSONL metrics log.

The bar is shown only on an interactive terminal: it stays quiet when stderr is
not a TTY, when the ``CI`` environment variable is set, or when tqdm is missing.
"""

from __future__ import annotations

import json
import os
import sys


def progress_enabled(progress) -> bool:
    """``progress=None`` decides automatically; True/False force it (True still needs tqdm)."""
    if progress is not None:
        return bool(progress)
    return sys.stderr.isatty() and not os.environ.get("CI")


class ProgressBar:
    """A tqdm bar when enabled and available, otherwise a do-nothing stand-in."""

    def __init__(self, enabled: bool, total=None, initial=0, desc="train"):
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit="step",
                             dynamic_ncols=True, leave=True)

    def update(self, loss: float, tokens_per_s: float | None) -> None:
        if self._bar is not None:
            postfix = {"loss": f"{loss:.4f}"}
            if tokens_per_s is not None:
                postfix["tok/s"] = f"{tokens_per_s:,.0f}"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def append_jsonl(path, record: dict) -> None:
    """Append one JSON object as one line (flushed, so a killed run keeps what it logged)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, allow_nan=False) + "\n")
        f.flush()


def read_jsonl(path) -> list[dict]:
    """Every complete record of a JSONL log; a torn last line (killed writer) is skipped."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return records


def truncate_jsonl(path, last_step: int) -> None:
    """Keep only records up to ``last_step`` (on resume, drop what the lost run logged
    after its last checkpoint). Rewritten atomically."""
    records = [r for r in read_jsonl(path) if r.get("step", 0) <= last_step]
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
