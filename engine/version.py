"""The engine's version, written into each run's config and each export's metadata. A leaf: `engine.__version__`
re-exports it, and the modules that record it import it from here (importing `engine` back would be a circle)."""

__version__ = "0.1.0"  # pyproject.toml's [project] version
