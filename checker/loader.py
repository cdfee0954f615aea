"""Loading a model class from a Python file by path.

The same (path, model name, parameters) always rebuilds the same model, in this process or
another: parallel search and trace replay depend on it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from checker.errors import InvalidInput
from checker.model import Model

__all__ = ["build_model", "load_model_class"]

_loaded: dict[tuple[str, float], Any] = {}


def _import(path: Path) -> Any:
    resolved = path.resolve()
    key = (str(resolved), resolved.stat().st_mtime)
    if key in _loaded:
        return _loaded[key]
    # The name must be the same in every process: worker processes unpickle states whose
    # record classes live in this module.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    module_name = f"checker_model_{digest}_{resolved.stem}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise InvalidInput(f"{path}, line {exc.lineno}: syntax error: {exc.msg}") from None
    except InvalidInput as exc:
        del sys.modules[module_name]
        raise InvalidInput(f"{path}: {exc}") from None
    except Exception as exc:
        del sys.modules[module_name]
        line = _line_in(exc, resolved)
        raise InvalidInput(
            f"{path}{line}: loading the model raised {type(exc).__name__}: {exc}"
        ) from None
    _loaded[key] = module
    return module


def _line_in(exc: BaseException, path: Path) -> str:
    tb = exc.__traceback__
    line = ""
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path:
            line = f", line {tb.tb_lineno}"
        tb = tb.tb_next
    return line


def load_model_class(path: str | Path, name: str | None = None) -> type[Model]:
    """The model class defined in the file at ``path`` (the one named ``name`` if given)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such model file")
    if path.suffix != ".py":
        raise InvalidInput(f"{path}: a model file must be a .py file")
    module = _import(path)
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Model)
        and value.__module__ == module.__name__
        and not value._abstract
    ]
    if name is not None:
        for cls in classes:
            if cls.__name__ == name:
                break
        else:
            found = ", ".join(c.__name__ for c in classes) or "none"
            raise InvalidInput(f"{path}: no model class named {name!r} (found: {found})")
    elif len(classes) == 1:
        cls = classes[0]
    elif not classes:
        raise InvalidInput(f"{path}: defines no model (a class deriving from checker.Model)")
    else:
        names = ", ".join(c.__name__ for c in classes)
        raise InvalidInput(f"{path}: defines several models ({names}); choose one with --model")
    cls.__checker_file__ = str(path.resolve())
    return cls


def build_model(path: str | Path, params: dict[str, Any] | None = None,
                name: str | None = None) -> Model:
    """Load the model class at ``path`` and instantiate it with ``params``."""
    cls = load_model_class(path, name)
    try:
        return cls(**(params or {}))
    except InvalidInput:
        raise
    except Exception as exc:
        line = _line_in(exc, Path(path).resolve())
        raise InvalidInput(
            f"{path}{line}: building the model raised {type(exc).__name__}: {exc}"
        ) from None
