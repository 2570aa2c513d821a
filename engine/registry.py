"""Registries are plain dicts filled by a decorator: a duplicate name raises, an unknown name lists the valid ones."""

from collections.abc import Callable
from typing import TypeVar

from engine.errors import UserError

T = TypeVar("T")


class Registry(dict):
    """A name -> object dict for one kind of thing (models, datasets, losses, ...)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding the decorated object under `name`; registering a name twice raises ValueError."""

        def add(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self[name] = obj
            return obj

        return add

    def get_or_fail(self, name: str):
        """Returns the entry for `name`, or raises UserError listing the valid names."""
        if name not in self:
            raise UserError(f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self))}")
        return self[name]
