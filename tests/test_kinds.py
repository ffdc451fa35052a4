"""The meta-test: a kind is complete, and nothing outside archspec/layers/ knows a kind by name.

For every registered kind it names what is missing: a trait, its lowering, its
receptive-field rule, its README row, its case in the independent torch oracle, or
its case in the random-spec generator of the property tests.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import ClassVar, Literal, get_args

import pytest

import archspec
from archspec.layers import KINDS, TRAITS, Family, LayerBase
from archspec.layers.base import REGISTRY, Pointwise

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "archspec"


def declared_traits(cls: type[LayerBase]) -> set[str]:
    """Traits a kind declares on itself or on a family base class (LayerBase only announces them)."""
    below_base = [c for c in cls.__mro__ if c is not LayerBase and isinstance(c, type) and issubclass(c, LayerBase)]
    return {t for t in TRAITS if any(t in vars(c) for c in below_base)}


def missing_pieces(cls: type[LayerBase], readme: str, oracle: set[str], generated: set[str]) -> list[str]:
    kind = cls.kind()
    missing = [f"trait `{t}`" for t in TRAITS if t not in declared_traits(cls)]
    if cls.lower is LayerBase.lower:
        missing.append("lower()")
    if cls.receptive is LayerBase.receptive:
        missing.append("receptive() (how it acts on each axis)")
    if not cls.__doc__ or cls.__doc__ == LayerBase.__doc__:
        missing.append("a docstring (the schema's description)")
    if f"`{kind}`" not in readme:
        missing.append("its README row (### Layer kinds)")
    if kind not in oracle:
        missing.append("its case in tests/torch_oracle.py BUILDERS")
    if kind not in generated:
        missing.append("its case in tests/strategies.py (GENERATED_TYPES)")
    return missing


def _layer_kinds_table() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### Layer kinds")
    return text[start : text.index("\n### ", start + 1)]


def test_every_kind_is_complete():
    torch_oracle = pytest.importorskip("torch_oracle")  # needs torch
    from strategies import GENERATED_TYPES

    readme = _layer_kinds_table()
    gaps = {
        cls.kind(): missing
        for cls in KINDS
        if (missing := missing_pieces(cls, readme, set(torch_oracle.BUILDERS), set(GENERATED_TYPES)))
    }
    assert gaps == {}, "kinds with missing pieces:\n" + "\n".join(f"  {k}: {', '.join(v)}" for k, v in gaps.items())


def test_the_completeness_check_can_fail():
    """A kind that forgets its traits, lowering and documentation is reported, piece by piece."""

    class Forgetful(Pointwise):  # no `type` field: a family base, so it is not registered
        kind = classmethod(lambda cls: "forgetful")  # type: ignore[assignment]
        family: ClassVar[Family] = "act"

    missing = missing_pieces(Forgetful, "", set(), set())  # type: ignore[arg-type]
    assert "trait `family`" not in missing
    for expected in (
        "trait `output_activation`",
        "trait `batch_statistics`",
        "trait `learned_linear`",
        "lower()",
        "its README row (### Layer kinds)",
        "its case in tests/torch_oracle.py BUILDERS",
        "its case in tests/strategies.py (GENERATED_TYPES)",
    ):
        assert expected in missing
    assert "receptive() (how it acts on each axis)" not in missing  # Pointwise says: keeps positions


def test_trait_values_have_their_types():
    families = set(get_args(Family))
    for cls in KINDS:
        assert cls.family in families, cls.kind()
        for trait in TRAITS[1:]:
            assert isinstance(getattr(cls, trait), bool), (cls.kind(), trait)


def test_traits_say_what_the_kinds_are():
    """Spot checks against what the layers are (by hand, from PyTorch's documentation)."""
    by = archspec.layers.KIND_BY_TYPE
    assert by["softmax"].output_activation and by["log_softmax"].output_activation and not by["relu"].output_activation
    assert all(by[k].batch_statistics and by[k].cancels_bias for k in ("batchnorm1d", "batchnorm2d", "batchnorm3d"))
    assert not by["localresponsenorm"].batch_statistics
    assert by["conv1d"].learned_linear and by["linear"].learned_linear and not by["avgpool2d"].learned_linear
    assert by["avgpool2d"].affine_map and not by["maxpool2d"].affine_map and not by["relu"].affine_map
    random = {"dropout", "dropout1d", "dropout2d", "dropout3d", "stochastic_depth"}
    assert {k for k, c in by.items() if c.random_in_training} == random


def test_defining_a_kind_registers_it_and_a_duplicate_tag_is_refused():
    before = dict(REGISTRY)
    try:

        class Scratch(Pointwise):
            """A kind defined only by this test."""

            type: Literal["scratch_kind_for_test"]

        assert REGISTRY["scratch_kind_for_test"] is Scratch
        with pytest.raises(TypeError, match="defined twice"):

            class Again(Pointwise):
                type: Literal["scratch_kind_for_test"]

    finally:
        REGISTRY.clear()
        REGISTRY.update(before)


# --- nothing outside archspec/layers/ names a concrete kind ---

KIND_TAGS = {cls.kind() for cls in KINDS}
KIND_CLASSES = {cls.__name__ for cls in KINDS} | {
    c.__name__ for cls in KINDS for c in cls.__mro__ if issubclass(c, LayerBase) and c not in (LayerBase,)
}


def _outside_layers() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "layers" not in p.relative_to(PACKAGE).parts)


def _names_of_kinds(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("archspec.layers."):
            module = node.module or ""
            if module not in ("archspec.layers.base", "archspec.layers.fields", "archspec.layers.init"):
                found += [f"imports {a.name} from {module}" for a in node.names]
            found += [f"imports kind class {a.name}" for a in node.names if a.name in KIND_CLASSES - {"Pointwise", "Spatial"}]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in KIND_TAGS:
            found.append(f"line {node.lineno}: the type name {node.value!r}")
    return found


#: strings that happen to equal a type name but mean something else there
NOT_KINDS = {
    "archspec/runtime/gradcam.py": ["the type name 'linear'"],  # F.interpolate's mode
    "archspec/runtime/checkpoint.py": ["the type name 'mean'"] * 4,  # the normalisation's mean and std
    "archspec/importer/ops.py": ["the type name 'pad'"],  # F.pad's argument of that name
}


def test_no_module_outside_layers_names_a_concrete_kind():
    offenders = {
        str(p.relative_to(ROOT)): [re.sub(r"^line \d+: ", "", f) for f in found]
        for p in _outside_layers()
        if (found := _names_of_kinds(p))
    }
    assert offenders == NOT_KINDS


def test_the_name_scan_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from archspec.layers.conv import Conv2d\nif info.type == 'conv2d':\n    pass\n",
        encoding="utf-8",
    )
    found = _names_of_kinds(sample)
    assert any("Conv2d" in f for f in found) and any("'conv2d'" in f for f in found)


def test_runtime_modules_are_not_imported_by_the_layer_kinds():
    for path in (PACKAGE / "layers").glob("*.py"):
        assert not re.search(r"archspec\.runtime", path.read_text(encoding="utf-8")), path.name
