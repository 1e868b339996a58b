"""Performance core of the Strategy Execution Platform (compiled from `rust/`)."""

from platform_rust._platform_rust import *  # noqa: F403
from platform_rust._platform_rust import __version__

__all__ = [  # noqa: F405
    "Authorization",
    "BookLevel",
    "ConsolidatedBook",
    "Crossing",
    "DecodedTransaction",
    "ExecutionEngine",
    "Hop",
    "NoRouteError",
    "Route",
    "Split",
    "__version__",
    "aggregate_order_books",
    "build_profile",
    "decode_transaction",
    "decode_transactions",
]
