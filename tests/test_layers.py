"""The tree is the architecture (docs/architecture.md): imports only go down the layers, and there are no cycles.

Read from the source with ``ast``, so it needs no Locust in this process.
"""

from __future__ import annotations

import ast
import os

from conftest import REPO

PLUGINS = os.path.join(REPO, "plugins")

# Lowest first. A module may import its own layer only inside its own package (run/ from run/).
LAYERS = (
    ("config", "errors", "workload"),  # vocabulary
    ("options", "prepared", "target", "deadline"),
    ("credentials",),
    ("engines",),  # the two drivers
    ("session", "scenario"),  # the request path
    ("run",),  # the run's plugins
    ("observe",),  # plugins that watch the database and the run, on top of run/
    ("aws",),  # CloudWatch and S3: publish what run/ and observe/ hold, read Aurora's metrics back
    ("users", "__init__"),  # the API
    ("workloads",),  # workloads too large for a locustfile alone (TPC-C), built on the API
)


def _rank(module: str) -> int:
    top = module.split(".")[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"plugins.{module}: in no layer of tests/test_layers.py (add it to docs/architecture.md too)")


def _modules() -> dict[str, str]:
    found = {}
    for root, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, name), PLUGINS)[:-3].replace(os.sep, ".")
                found[rel.removesuffix(".__init__") if rel != "__init__" else "__init__"] = os.path.join(root, name)
    return found


def _imports(module: str, path: str, known: set[str]) -> set[str]:
    package = module.split(".")[:-1] if not path.endswith("__init__.py") else module.split(".")
    if module == "__init__":
        package = []
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else list(package)
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("plugins"):
                target = node.module.removeprefix("plugins").lstrip(".")
            else:
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}" if target else alias.name
                out.add(candidate if candidate in known else target)
    return {m for m in out if m in known and m != module}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(m, p, known) for m, p in modules.items()}


def test_imports_only_go_down_the_layers():
    graph = _graph()
    upward = []
    for module, targets in graph.items():
        for target in targets:
            if target == "__init__" and module == "users":
                continue  # users.py calls load_listeners(), for locustfiles that import plugins.users directly
            same_package = module.split(".")[0] == target.split(".")[0]
            if _rank(target) > _rank(module) or (_rank(target) == _rank(module) and not same_package):
                upward.append(f"plugins.{module} imports plugins.{target}")
    assert upward == []
    assert len(graph) > 30 and any(graph.values())


def test_no_import_cycles():
    graph = _graph()
    graph["users"] = graph["users"] - {"__init__"}  # the API module imports users lazily, on first use
    state: dict[str, int] = {}
    cycles = []

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
