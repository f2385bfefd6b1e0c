"""The shape every context keeps: no import cycles, small modules, pure domains, facades.

Read from the source with ``ast`` (nothing is imported), so a rule broken in a
module no test happens to import is still caught. Imports inside functions
count: a deferred import is how a cycle hides. ``if TYPE_CHECKING:`` blocks do
not, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import yunshang

SRC = Path(yunshang.__file__).resolve().parent
ROOT = SRC.parent

#: DESIGN: a file that passes ~600 lines becomes a sub-package.
MAX_LINES = 650

#: Written by a generator (``make client``), not read as a unit: exempt from the size rule.
GENERATED = ("yunshang.client.models",)

#: Packages a domain module may not import: rules are plain Python.
FRAMEWORKS = ("sqlalchemy", "fastapi", "starlette", "pydantic", "duckdb", "pyspark", "typer",
              "redis", "psycopg", "httpx")

#: The bounded contexts; each is reached from another only through its facade.
CONTEXTS = ("commerce", "devices", "analytics", "marketing", "qr", "delivery", "console",
            "launch")

#: The composition root: wires every context's services, routers and CLIs together.
ROOT_MODULES = ("yunshang.app", "yunshang.cli", "yunshang.platform")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    _module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts
}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(module: str) -> set[str]:
    """The modules ``module`` imports (ours and third parties', by full dotted name)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                out.add(child if child in MODULES else target)
    return out


def internal_graph() -> dict[str, set[str]]:
    return {m: {i for i in imports_of(m) if i in MODULES and i != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_reader_resolves_relative_and_deferred_imports() -> None:
    seen = imports_of("yunshang.kernel.db")
    assert "yunshang.kernel.outbox" in seen  # ``from .outbox import write_events``
    assert "yunshang.kernel.sql" in seen
    assert any(m.startswith("yunshang.") for m in imports_of("yunshang.cli"))  # in functions


def test_no_import_cycles_anywhere_in_src() -> None:
    cycles = _cycles(internal_graph())
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_no_module_is_over_the_size_a_reader_can_hold() -> None:
    big = {m: n for m, p in MODULES.items()
           if m not in GENERATED and (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these into sub-packages (DESIGN, ~600 lines): {big}"


def test_domain_modules_are_plain_python() -> None:
    offenders = {
        m: sorted(i for i in imports_of(m) if i.split(".")[0] in FRAMEWORKS)
        for m in MODULES if m.rsplit(".", 1)[-1] == "domain"
    }
    offenders = {m: i for m, i in offenders.items() if i}
    assert not offenders, f"domain modules importing frameworks: {offenders}"


def _context(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in CONTEXTS else None


def test_contexts_reach_each_other_only_through_their_facades() -> None:
    offenders = []
    for module in MODULES:
        own = _context(module)
        if module in ROOT_MODULES:
            continue
        for target in imports_of(module):
            other = _context(target)
            if other is None or other == own or not target.startswith("yunshang."):
                continue
            if target != f"yunshang.{other}":
                offenders.append(f"{module} imports {target}")
    assert not offenders, "use the other context's facade (its __init__):\n" + "\n".join(
        sorted(offenders))
