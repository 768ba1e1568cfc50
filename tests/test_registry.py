"""Registries instead of string chains; no import cycles in distill/."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "distill").glob("*.py") if p.stem != "__main__")


def test_registry_lookup_register_twice_and_providers():
    r = Registry("colour")
    r.register("red", 1, help="warm")

    @r.register("blue", help="cold")
    def blue():
        return 2

    assert r["red"] == 1 and r["blue"]() == 2 and list(r) == ["red", "blue"] and r.describe()["blue"] == "cold"
    with pytest.raises(DistillError, match=r"^unknown colour 'green'; choose one of red, blue$"):
        r["green"]
    with pytest.raises(DistillError, match="registered twice"):
        r.register("red", 3)
    r.provide("json", "json")  # a module that registers nothing
    assert "json" in r and "json" in r.choices()
    with pytest.raises(DistillError, match="did not register colour 'json'"):
        r["json"]


@pytest.mark.parametrize("table, kind", [
    ("distill.losses:METHODS", "method"),
    ("distill.data:TRANSFER_SETS", "transfer set"),
    ("distill.api:OUTPUTS", "output format"),
    ("distill.lm:OUTPUTS", "language-model output"),
    ("distill.models:ARCHITECTURES", "architecture"),
    ("distill.models:FAMILIES", "copier family"),
])
def test_every_table_rejects_an_unknown_name_with_its_choices(table, kind):
    import importlib
    module, name = table.split(":")
    reg = getattr(importlib.import_module(module), name)
    with pytest.raises(DistillError) as e:
        reg["no-such-name"]
    msg = str(e.value)
    assert msg.startswith(f"unknown {kind} 'no-such-name'; choose one of ") and "\n" not in msg
    assert all(n in msg for n in reg)


def test_public_entry_points_reject_unknown_names(fashion):
    import torch
    from distill.api import TeacherAPI
    from distill.data import make_transfer_set
    from distill.lm import teacher_answers
    from distill.losses import objective
    from distill.models import build_model, make_copier
    calls = [lambda: objective("magic"), lambda: make_transfer_set("books", fashion, 10),
             lambda: TeacherAPI(torch.nn.Linear(2, 2), output="everything"), lambda: build_model("resnet"),
             lambda: make_copier("vit"), lambda: teacher_answers(None, None, "telepathy", 4)]
    for call in calls:
        with pytest.raises(DistillError, match="^unknown .*; choose one of"):
            call()


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    r = subprocess.run([sys.executable, "-c", f"import distill.{module}"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "distill" / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out & set(MODULES)


def test_import_graph_has_no_cycles():
    graph = {m: _imports(m) for m in MODULES}
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for n in sorted(graph[m]):
            visit(n, path + [m])
        state[m] = 2

    for m in MODULES:
        visit(m, [])
