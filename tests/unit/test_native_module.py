"""The compiled extension is importable and built the way `make install` promises."""

from __future__ import annotations

import tomllib
from pathlib import Path

import platform_rust

REPO = Path(__file__).resolve().parents[2]


def test_version_matches_the_crate() -> None:
    cargo = tomllib.loads((REPO / "rust" / "Cargo.toml").read_text())
    assert platform_rust.__version__ == cargo["package"]["version"]


def test_extension_is_a_release_build() -> None:
    assert platform_rust.build_profile() == "release"


def test_stub_ships_beside_the_module() -> None:
    package = Path(platform_rust.__file__).parent
    assert (package / "_platform_rust.pyi").exists()
    assert (package / "py.typed").exists()
