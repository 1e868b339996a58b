"""Performance core of the Strategy Execution Platform (compiled from `rust/`).

Everything the native module exports, under the names its stub (`_platform_rust.pyi`, the
one description of the Rust API) declares: `__all__` is the native module's own.
"""

from platform_rust._platform_rust import *  # noqa: F403
from platform_rust._platform_rust import __all__ as __all__
from platform_rust._platform_rust import __version__ as __version__
