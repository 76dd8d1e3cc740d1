"""The packages import only downward, nothing imports an entry point, and only the entry points configure
logging (docs/DEVELOPING.md, "Layers"). Walks the imports (ast) of every module of the repository."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Lowest first; a package's modules import from their own package and from the layers below it.
LAYERS = [["utils"], ["coco_tools"], ["losses"], ["models", "datasets", "COCO_evaluator"], ["training"],
          ["cad"], ["reasoning"]]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# The original unMORE README's path of a command that moved to tools/: it runs that command's main.
ALIASES = {"utils/preprocess_votecut.py": "tools.preprocess_votecut"}
CONFIGURES_LOGGING = re.compile(r"basicConfig|addHandler|\.propagate\s*=|\bsetLevel\(|dictConfig|fileConfig")


def _modules() -> list[Path]:
    return sorted(p for p in REPO.rglob("*.py")
                  if not ({".git", "tests", "data", "outputs"} & set(p.relative_to(REPO).parts)))


def _is_entry_point(path: Path) -> bool:
    """A script run by path; a package module documented for `python -m` (no bootstrap) is a library module
    that others may import."""
    text = path.read_text()
    in_package = path.relative_to(REPO).parts[0] in RANK
    return '__name__ == "__main__"' in text and (not in_package or "_bootstrap.py" in text)


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_every_package_has_a_layer():
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages - {"tools"} == set(RANK)


def test_packages_import_only_downward():
    upward = []
    for path in _modules():
        package = path.relative_to(REPO).parts[0]
        if package not in RANK or _is_entry_point(path):
            continue
        for name in _imports(path):
            top = name.split(".")[0]
            if top in RANK and top != package and RANK[top] >= RANK[package]:
                upward.append(f"{path.relative_to(REPO)} imports {name}")
    assert upward == []


def test_nothing_imports_an_entry_point():
    entry_points = {_dotted(p) for p in _modules() if _is_entry_point(p)}
    importers = []
    for path in _modules():
        alias = ALIASES.get(str(path.relative_to(REPO)))
        importers += [f"{path.relative_to(REPO)} imports {name}" for name in _imports(path) & entry_points
                      if name != alias and not name.startswith(f"{alias}.")]
    assert importers == []


def test_only_the_entry_point_set_up_configures_logging():
    configuring = [str(p.relative_to(REPO)) for p in _modules()
                   if p.relative_to(REPO).parts[0] in RANK and not _is_entry_point(p)
                   and CONFIGURES_LOGGING.search(p.read_text())]
    assert configuring == ["utils/logging_utils.py"]


def test_developing_lists_the_layers():
    order = " < ".join("/".join(f"`{p}`" for p in packages) for packages in LAYERS)
    assert f"{order} < entry points" in (REPO / "docs" / "DEVELOPING.md").read_text()
