"""The layout of chatkit_app: the core never imports a subpackage, and the
subpackages (its concerns) use one another in one direction only.

The core is the top-level modules (models, services, store, server…).
``apps.py`` is left out on purpose: it is where the concerns are plugged
into the core (see its docstring). Imports are read from the source with
``ast``, wherever they are: at the top, inside a function, or under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

APP = Path(__file__).resolve().parents[1]
# Where the app is assembled: it imports every concern to plug it in.
COMPOSITION_ROOT = {"apps"}


def subpackages() -> set[str]:
    return {path.parent.name for path in APP.glob("*/__init__.py")}


def core_modules() -> dict[str, Path]:
    return {
        path.stem: path
        for path in APP.glob("*.py")
        if path.stem not in COMPOSITION_ROOT and path.stem != "__init__"
    }


def imported_modules(source: str, module: str) -> set[str]:
    """Every ``chatkit_app…`` module that ``source`` (the module ``module``,
    a dotted name inside the app) imports, as absolute dotted names; ``from
    package import name`` counts as importing ``package.name`` too, since
    the name may be a module."""
    package = module.rsplit(".", 1)[0] if "." in module else ""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = ["chatkit_app", *filter(None, package.split("."))]
                base = parts[: len(parts) - (node.level - 1)]
                target = ".".join([*base, *filter(None, [node.module])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "chatkit_app" or name.startswith("chatkit_app.")}


def subpackages_imported(source: str, module: str) -> set[str]:
    """The chatkit_app subpackages ``source`` imports anything from."""
    packages = subpackages()
    return {
        name.split(".")[1]
        for name in imported_modules(source, module)
        if name.count(".") >= 1 and name.split(".")[1] in packages
    }


def test_the_core_never_imports_a_subpackage():
    violations = {
        f"{name}.py imports {', '.join(sorted(used))}"
        for name, path in core_modules().items()
        if (used := subpackages_imported(path.read_text(), name))
    }
    assert not violations, "Concerns plug in through apps.py, not the core: " + "; ".join(
        sorted(violations)
    )


def test_the_subpackages_depend_on_one_another_without_a_cycle():
    graph: dict[str, set[str]] = {package: set() for package in subpackages()}
    for package in graph:
        for path in (APP / package).rglob("*.py"):
            module = ".".join(path.relative_to(APP).with_suffix("").parts)
            graph[package] |= subpackages_imported(path.read_text(), module) - {package}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise AssertionError(f"Subpackages import each other in a circle: {cycle}") from None


def test_the_check_sees_every_way_a_core_module_could_import_a_subpackage():
    """The checks above cannot pass by missing an import."""
    violating = """
from .live import events
from . import responders
import chatkit_app.ui.options
from chatkit_app.attachments.links import SignedLinks

def later():
    from .admin import ConversationAdmin

if TYPE_CHECKING:
    from .assistants import Assistant
"""
    assert subpackages_imported(violating, "store") == {
        "live",
        "responders",
        "ui",
        "attachments",
        "admin",
        "assistants",
    }
    clean = "from . import selectors, services\nfrom .models import Message\nimport chatkit\n"
    assert subpackages_imported(clean, "store") == set()
    # Relative imports are read from where the module is.
    assert subpackages_imported("from ..models import Message", "live.events") == set()
    assert subpackages_imported("from ..ui import options", "live.events") == {"ui"}
