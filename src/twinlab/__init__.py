"""twinlab: an open workbench for clinical-trial digital twins."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("twinlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
