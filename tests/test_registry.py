"""Registry: names, duplicates, unknown names with help, contracts, plugins from every source."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmbench import registry
from mmbench.kinds import KINDS, METRICS, STUDENTS, registry_of
from mmbench.registry import (
    ContractError,
    DuplicateComponentError,
    InvalidNameError,
    PluginImportError,
    Registry,
    UnknownComponentError,
    load_entry_point_plugins,
    load_plugins,
)

pytestmark = pytest.mark.usefixtures("isolated_registries")


class _Thing:
    """A thing for tests."""

    def run(self) -> None: ...


class _Other(_Thing):
    """Another thing."""


class _Contract:
    def run(self) -> None: ...


@pytest.mark.parametrize("name", ["a", "mf", "light-gcn", "ratio-8-1-1", "acme/clip-xl", "x2/y-3"])
def test_valid_names(name):
    reg: Registry[type] = Registry("thing")
    obj = type("T", (), {"__module__": "mmbench.fake"})
    reg.register(name, obj)
    assert reg.get(name) is obj


@pytest.mark.parametrize("name", ["", "LightGCN", "light_gcn", "-a", "a-", "a--b", "a b", "a/b/c", "/a", "acme/", 3])
def test_invalid_names_raise(name):
    reg: Registry[type] = Registry("thing")
    with pytest.raises(InvalidNameError, match="kebab-case"):
        reg.register(name, _Thing)


def test_third_party_names_need_a_namespace():
    reg: Registry[type] = Registry("thing")
    namespace = _Thing.__module__.split(".")[0].replace("_", "-")  # this test module, not mmbench
    with pytest.raises(InvalidNameError, match=f"needs a namespace: register it as '{namespace}/my-thing'"):
        reg.register("my-thing", _Thing)
    reg.register(f"{namespace}/my-thing", _Thing)
    assert f"{namespace}/my-thing" in reg


def test_duplicate_names_both_origins():
    reg: Registry[type] = Registry("thing")
    reg.register("acme/x", _Thing)
    line = sys._getframe().f_lineno + 2
    with pytest.raises(DuplicateComponentError) as err:
        reg.register("acme/x", _Other)
    msg = str(err.value)
    assert "registered twice" in msg
    assert f"test_registry.py:{line - 3}" in msg and f"test_registry.py:{line}" in msg
    assert "_Thing" in msg and "_Other" in msg
    assert reg.get("acme/x") is _Thing


def test_decorator_registers_and_returns_the_object():
    reg: Registry[type] = Registry("thing")

    @reg.register("acme/deco")
    class Deco:
        """Decorated."""

    assert reg.get("acme/deco") is Deco
    entry = reg.entry("acme/deco")
    assert entry.summary == "Decorated."
    assert entry.qualname.endswith(":test_decorator_registers_and_returns_the_object.<locals>.Deco")
    assert entry.origin.startswith("tests") or "test_registry.py:" in entry.origin


def test_same_definition_reexecuted_replaces_entry():
    reg: Registry[type] = Registry("thing")
    for _ in range(2):  # same line, same qualname: a reload or a re-run notebook cell
        reg.register("acme/again", _Thing)
    assert reg.names() == ["acme/again"]


def test_unknown_name_suggests_and_lists():
    reg: Registry[type] = Registry("thing")
    for i in range(25):
        reg.register(f"acme/item-{i:02d}", type(f"T{i}", (), {}))
    reg.register("acme/lightgcn", _Thing)
    with pytest.raises(UnknownComponentError) as err:
        reg.get("lightgnc")
    msg = str(err.value)
    assert "unknown thing 'lightgnc'" in msg
    assert "Did you mean 'acme/lightgcn'" in msg
    assert "Known things (26):" in msg and "acme/item-00" in msg and "(6 more)" in msg
    assert "acme/item-24" not in msg  # only the first 20 are listed
    assert "mmbench ls thing" in msg


def test_unknown_name_shows_failed_plugins(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin_mod.py").write_text("import torch_scatter_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginImportError, match="No module named 'torch_scatter_does_not_exist'"):
        load_plugins(["broken_plugin_mod"], entry_points=False)
    with pytest.raises(UnknownComponentError) as err:
        STUDENTS.get("broken/student")
    msg = str(err.value)
    assert "Plugins that failed to import" in msg
    assert "broken_plugin_mod (--plugin): ModuleNotFoundError: No module named 'torch_scatter_does_not_exist'" in msg


def test_contract_checked_at_registration():
    reg: Registry[type] = Registry("thing", contract=_Contract)
    with pytest.raises(ContractError, match="missing run"):
        reg.register("acme/no-run", type("NoRun", (), {}))
    reg.register("acme/has-run", _Thing)


def test_every_kind_has_a_documented_contract():
    expected = {"dataset", "encoder", "fusion", "teacher", "student", "distill-loss", "imputer", "metric"}
    assert set(KINDS) == expected
    for reg in KINDS.values():
        assert reg.contract is not None and len((reg.contract.__doc__ or "").strip()) > 40, reg.kind
        methods = [n for n in vars(reg.contract) if not n.startswith("_") or n == "__call__"]
        assert 1 <= len(methods) <= 3, (reg.kind, methods)


def test_registry_of_accepts_plural_and_suggests():
    assert registry_of("students") is STUDENTS
    assert registry_of("metric") is METRICS
    with pytest.raises(UnknownComponentError, match="Did you mean 'student'"):
        registry_of("studnt")


def _make_dist(root: Path, dist: str, module: str, body: str, entry: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mmbench.plugins]\n{entry}\n")


PLUGIN_BODY = """
    from mmbench import register_student

    @register_student("acme/tiny")
    class TinyStudent:
        '''A tiny plugin student.'''

        def __init__(self, graph, *, width: int = 4):
            self.width = width

        def loss(self, users, pos, neg): ...

        def score(self, users): ...
"""


def test_entry_point_plugin_registers_components(tmp_path, monkeypatch):
    _make_dist(tmp_path, "acme_mm", "acme_mm_plugin", PLUGIN_BODY, "acme = acme_mm_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "acme/tiny" not in STUDENTS
    assert load_entry_point_plugins() == []
    assert STUDENTS.entry("acme/tiny").summary == "A tiny plugin student."
    assert STUDENTS.entry("acme/tiny").origin.startswith("acme_mm_plugin.py:")


def test_entry_point_callable_plugin(tmp_path, monkeypatch):
    body = textwrap.dedent(PLUGIN_BODY).replace('@register_student("acme/tiny")', "") \
        + "\n\ndef register():\n    register_student('acme/called', TinyStudent)\n"
    _make_dist(tmp_path, "acme_call", "acme_call_plugin", body, "acme-call = acme_call_plugin:register")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_entry_point_plugins()
    assert "acme/called" in STUDENTS


def test_failing_entry_point_is_recorded_not_raised(tmp_path, monkeypatch):
    _make_dist(tmp_path, "bad_mm", "bad_mm_plugin", "raise RuntimeError('CUDA kernels not built')\n",
               "bad = bad_mm_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    failures = load_entry_point_plugins()
    assert len(failures) == 1
    assert failures[0].error == "RuntimeError: CUDA kernels not built"
    assert "entry point 'bad'" in failures[0].source
    with pytest.raises(UnknownComponentError, match="bad_mm_plugin .*CUDA kernels not built"):
        STUDENTS.get("bad/student")


def test_explicit_plugin_module(tmp_path, monkeypatch):
    (tmp_path / "local_plugin_mod.py").write_text(textwrap.dedent(PLUGIN_BODY).replace("acme/tiny", "local/tiny"))
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["local_plugin_mod"], entry_points=False)
    assert "local/tiny" in STUDENTS
    load_plugins(["local_plugin_mod"], entry_points=False)  # idempotent


def test_builtins_come_from_the_single_list():
    """Every built-in component's module is imported by mmbench/components/__init__.py, by name."""
    import ast

    import mmbench.components as comps

    listed = set()
    for node in ast.walk(ast.parse(Path(comps.__file__).read_text())):
        if isinstance(node, ast.ImportFrom):
            listed |= {f"{node.module}.{alias.name}" for alias in node.names}
    builtin_modules = {e.obj.__module__ for reg in KINDS.values() for e in reg.entries() if registry.is_builtin(e.obj)}
    assert builtin_modules, "no built-ins registered"
    assert builtin_modules <= listed, builtin_modules - listed


def test_metrics_must_declare_label_and_direction():
    with pytest.raises(ContractError, match=r"must be registered with label=..., higher_is_better=..."):
        METRICS.register("acme/precision", lambda ranks, k: ranks.greater)
    METRICS.register("acme/precision", lambda ranks, k: ranks.greater, label="P", higher_is_better=True)
    assert METRICS.entry("acme/precision").meta == {"label": "P", "higher_is_better": True}


def test_missing_plugin_module_error_is_short_but_a_broken_one_shows_its_traceback(tmp_path, monkeypatch):
    with pytest.raises(PluginImportError) as missing:
        load_plugins(["no_such_plugin_qq"], entry_points=False)
    assert "Traceback" not in str(missing.value) and "No module named 'no_such_plugin_qq'" in str(missing.value)
    (tmp_path / "buggy_plugin_qq.py").write_text("x = 1\nraise ValueError('bad default in plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginImportError) as buggy:
        load_plugins(["buggy_plugin_qq"], entry_points=False)
    assert "Traceback" in str(buggy.value) and "buggy_plugin_qq.py\", line 2" in str(buggy.value)


def test_the_python_api_sees_builtins_without_importing_components_first(tmp_path):
    # A fresh interpreter that never imports mmbench.components: the first registry read loads the built-ins.
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["MMBENCH_CACHE_DIR"] = {str(tmp_path)!r}
        from mmbench.data.load import load_dataset
        from mmbench.kinds import DATASETS, STUDENTS
        assert "mmbench.components" not in sys.modules
        data = load_dataset("amazon-beauty", {{"max_users": 50}})
        assert data.interactions is not None and len(data.interactions) > 0
        assert "lightgcn" in STUDENTS and len(DATASETS) > 3 and "gowalla" in DATASETS.names()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
