"""Build the optional C fingerprint extension; the package works without it."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("checker._fp", sources=["checker/_fp.c"], optional=True),
        Extension("checker._table", sources=["checker/_table.c"], optional=True),
    ]
)
