"""Type stub for the native module `platform_rust` (built from `rust/` by maturin)."""

__version__: str

def build_profile() -> str:
    """ "release" or "debug": the Cargo profile the extension was compiled with."""
