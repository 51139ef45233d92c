"""Logging for stage scripts: everything a rule prints goes to its own log file."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def to_file(path: str | Path, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Send the `cine2lge` logger, warnings and stderr to `path` for the duration of a job.

    Exceptions are logged with their traceback and re-raised so Snakemake marks the job failed
    (and `--keep-going` continues with the other subjects).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")  # truncate once; both handles below append, so neither overwrites the other
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    with path.open("a") as stream, contextlib.redirect_stderr(stream):
        try:
            yield logging.getLogger("cine2lge")
        except Exception:
            logging.getLogger("cine2lge").exception("job failed")
            raise
        finally:
            root.removeHandler(handler)
            handler.close()
            sys.stderr.flush()
