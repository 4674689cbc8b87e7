"""``aioports schema [NAME]``: the JSON Schemas the package ships (``schemas/``), so an agent
can read the contract from the tool it calls, without the docs or the source."""

from __future__ import annotations

from ._errors import UsageError
from ._results import Result, Style

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._context import Context

__all__ = ("SchemaList", "SchemaShown", "bundled", "load", "schema", "schema_names")

#: how a schema names another: ``urn:aioports:schema:process`` is ``schemas/process.json``
URN = "urn:aioports:schema:"


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
    return SchemaShown(name, load(name))


def load(name: str) -> dict[str, Any]:
    """The shipped schema ``name``, as its file has it."""
    import orjson

    document: dict[str, Any] = orjson.loads(_folder().joinpath(f"{name}.json").read_bytes())
    return document


def bundled(name: str) -> dict[str, Any]:
    """Schema ``name`` with every schema it refers to, transitively, embedded under its
    ``$defs`` with their own ``$id`` (JSON Schema 2020-12's bundling): one document in which
    every ``$ref`` resolves, as an MCP client's output schema must. The files keep
    one copy of each record (``process``, ``allocation``, ...) and refer to it."""
    root = load(name)
    embedded: dict[str, dict[str, Any]] = {}
    pending = [root]
    while pending:
        for ref in _refs(pending.pop()):
            other = ref.removeprefix(URN).partition("#")[0] if ref.startswith(URN) else name
            if other != name and other not in embedded:
                embedded[other] = load(other)
                pending.append(embedded[other])
    if embedded:
        defs = {f"aioports-{other}": schema for other, schema in sorted(embedded.items())}
        root["$defs"] = {**root.get("$defs", {}), **defs}
    return root


def _refs(node: object) -> list[str]:
    """Every ``$ref`` in ``node``, however deep."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


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
