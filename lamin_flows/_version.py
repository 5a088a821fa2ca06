"""The version of lamin_flows, importable from every layer without the package root."""

__version__ = "0.1.0"  # keep equal to [project] version in pyproject.toml
