"""Loaded with ``-p`` before Django settings, so tests get their own queue and data dir."""

import os
from pathlib import Path

_root = Path(__file__).resolve().parent.parent
os.environ.setdefault("NETPOL_VAR_DIR", str(_root / "var" / "test"))
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"netpol-auditor-test-{os.getpid()}")
os.environ.setdefault("SNAPSHOT_STALE_AFTER", "4")
