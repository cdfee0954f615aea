"""Build the optional C extensions (every ``checker/_*.c``); the package works without them."""

from pathlib import Path

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(f"checker.{source.stem}", sources=[f"checker/{source.name}"],
                  depends=["checker/_common.h", "checker/_table.h"], optional=True)
        for source in sorted(Path(__file__).parent.joinpath("checker").glob("_*.c"))
    ]
)
