"""Everything installs under one namespace, ``driftline`` (``driftline.stream``,
``driftline.sketches``, ...), while the folders stay at the top level of the repository.
The rest of the metadata is in pyproject.toml."""

from setuptools import find_packages, setup

TOP_LEVEL = ("sketches", "stream", "alerts", "grafana")

setup(
    packages=[f"driftline.{p}" for p in find_packages(include=[f"{t}*" for t in TOP_LEVEL])],
    package_dir={f"driftline.{t}": t for t in TOP_LEVEL},
)
