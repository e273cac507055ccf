"""apssh's module yaml_loader (for imports like ``from apssh.yaml_loader import ...``)."""

from ._yaml import YamlLoader, YamlLoaderError

__all__ = [
    "YamlLoader",
    "YamlLoaderError",
]
