"""``aioports schema [NAME]``: the JSON Schemas the package ships (``schemas/``), so an agent
can read the contract from the tool it calls, without the docs or the source."""

from __future__ import annotations

from ._errors import UsageError
from ._results import Result, Style

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._context import Context

__all__ = ("SchemaList", "SchemaShown", "schema", "schema_names")


def _folder() -> Any:
    from importlib import resources

    return resources.files("aioports.cli").joinpath("schemas")


def schema_names() -> list[str]:
    """Every shipped schema's name (its file's stem), sorted."""
    return sorted(e.name[: -len(".json")] for e in _folder().iterdir() if e.name.endswith(".json"))


def schema(ctx: Context) -> Result:
    name = ctx.parsed.args.get("name")
    names = schema_names()
    if name is None:
        return SchemaList(names)
    if name not in names:
        raise UsageError(f"no schema named {name!r}; the schemas are: {', '.join(names)}")
    import orjson

    return SchemaShown(name, orjson.loads(_folder().joinpath(f"{name}.json").read_bytes()))


class SchemaList(Result):
    """The names of the shipped schemas."""

    __slots__ = ("names",)

    def __init__(self, names: list[str]) -> None:
        self.names = names

    status = "ok"

    @property
    def message(self) -> str:
        return f"{len(self.names)} schemas; 'aioports schema NAME' prints one."

    def to_dict(self) -> dict[str, Any]:
        return {"schemas": list(self.names)}

    def human(self, style: Style) -> str:
        return "".join(f"{name}\n" for name in self.names)


class SchemaShown(Result):
    """One schema: the document is the schema itself, for people and under ``--json``."""

    __slots__ = ("body", "name")

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        self.name, self.body = name, document

    status = "ok"

    @property
    def message(self) -> str:
        return f"The JSON Schema {self.name}."

    def document(self) -> object:
        return self.body

    def human(self, style: Style) -> str:
        import orjson

        return orjson.dumps(self.body, option=orjson.OPT_INDENT_2).decode() + "\n"
