"""Where tests and benchmarks find the project's data files: `data/` in the checkout.

The files are not package data: they are read from the checkout, and a missing one is an
error (the checkout is incomplete), never a reason to skip.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"


def data_file(name: str) -> Path:
    """The path of `data/<name>`; FileNotFoundError when the checkout lacks it."""
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the checkout (see data/README.md)")
    return path


def data_dir(name: str) -> Path:
    """The path of the folder `data/<name>`; FileNotFoundError when the checkout lacks it."""
    path = DATA_DIR / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing from the checkout (see data/README.md)")
    return path


MAINNET_POOLS_SNAPSHOT = data_file("mainnet_pools_snapshot.json")
HISTORY_DIR = data_dir("history")  # see data/history/README.md
