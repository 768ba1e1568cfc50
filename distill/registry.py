"""Tables from a name to an implementation: methods, transfer sets, output formats, architectures.

After timm's `@register_model`: each table is filled beside the definitions it names, and
looking up a name that is not there raises a one-line `DistillError` listing the choices.
Adding a method, transfer set, output format or architecture is one entry, never a new `elif`.

    LOSSES = Registry("method")

    @LOSSES.register("hard", help="cross-entropy on the teacher's argmax")
    def hard(T, alpha): ...

    LOSSES["hard"]        # the function;  LOSSES["hardd"] -> DistillError: unknown method 'hardd'; choose one of ...
    LOSSES.help["hard"]   # its one-line description, for --help texts and tables

An entry can also be *provided* by a module that is imported only when the name is first looked
up (`provide("tiny_lm", "distill.lm")`): the table can name it without importing that module,
which is how `distill.models` lists the language model without an import cycle.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator

from .errors import DistillError


class Registry:
    """An ordered table name -> item with one-line descriptions and a clear unknown-name error."""

    def __init__(self, kind: str):
        self.kind = kind                 # what a name names, for error messages: "method", "architecture", ...
        self._items: dict[str, Any] = {}
        self.help: dict[str, str] = {}
        self._providers: dict[str, str] = {}  # name -> module that registers it when imported

    def register(self, name: str, item: Any = None, *, help: str = ""):
        """`register(name, item)` adds an entry; `@register(name)` does the same as a decorator."""
        def add(obj):
            if name in self._items:
                raise DistillError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            self.help[name] = help
            self._providers.pop(name, None)
            return obj
        return add if item is None else add(item)

    def provide(self, name: str, module: str, help: str = "") -> None:
        """Name an entry that `module` registers when it is imported (imported on first lookup)."""
        self._providers[name] = module
        self.help.setdefault(name, help)

    def names(self) -> list[str]:
        return list(self._items) + [n for n in self._providers if n not in self._items]

    def choices(self) -> str:
        return ", ".join(self.names())

    def check(self, name: str) -> str:
        """Return `name` if it is in the table, else raise the one-line error that lists the choices."""
        if name not in self:
            raise DistillError(f"unknown {self.kind} {name!r}; choose one of {self.choices()}")
        return name

    def __getitem__(self, name: str) -> Any:
        self.check(name)
        if name not in self._items:
            importlib.import_module(self._providers[name])
            if name not in self._items:
                raise DistillError(f"{self._providers[name]} did not register {self.kind} {name!r}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._items or name in self._providers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((name, self[name]) for name in self.names())

    def describe(self) -> dict[str, str]:
        """name -> one-line description, for --help texts and tables."""
        return {name: self.help.get(name, "") for name in self.names()}

    def find(self, predicate: Callable[[Any], bool]) -> str | None:
        """The name of the first registered item for which `predicate(item)` holds."""
        return next((name for name, item in self._items.items() if predicate(item)), None)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.choices()})"
