"""The two packages' public surfaces and the edge package's import boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ltcn_jax
import ltcn_kernels


@pytest.mark.parametrize("package", [ltcn_kernels, ltcn_jax], ids=lambda p: p.__name__)
def test_all_is_sorted_unique_and_resolves(package):
    names = list(package.__all__)
    assert names == sorted(set(names))
    for name in names:
        assert getattr(package, name) is not None, name


# Edge modules that exist to serve an optional extra, and the package each may add.
OPTIONAL_EDGE_MODULES = {"ltcn_kernels.gateway.prometheus": "prometheus_client"}


def _edge_imports(skip: tuple[str, ...], then: str = "") -> tuple[int, set[str]]:
    """In a fresh interpreter: what numpy, numba and tqdm (the edge install) import by
    themselves (numba pulls in scipy or yaml where they happen to be installed), then import
    every module of ltcn_kernels but ``skip`` (and then ``then``); the number of modules walked
    and the top-level packages that appeared beyond the standard library's."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import numpy, numba, tqdm\n"
        "base = {n.split('.')[0] for n in sys.modules}\n"
        "import ltcn_kernels\n"
        "mods = [m.name for m in pkgutil.walk_packages(ltcn_kernels.__path__, 'ltcn_kernels.')\n"
        f"        if not m.name.endswith('__main__') and m.name not in {skip!r}]\n"
        "for m in mods: importlib.import_module(m)\n"
        f"if {then!r}: importlib.import_module({then!r})\n"
        "tops = {n.split('.')[0] for n in sys.modules}\n"
        "print(len(mods)); print(' '.join(sorted(tops - base - set(sys.stdlib_module_names))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    count, outside = proc.stdout.splitlines()
    return int(count), set(outside.split()) - {"ltcn_kernels"}


def test_every_edge_module_imports_only_numpy_numba_and_the_standard_library():
    count, extra = _edge_imports(tuple(OPTIONAL_EDGE_MODULES))
    assert count >= 30  # every subpackage was walked (io, features, engine, gateway, bench)
    assert not extra, f"the edge package imports {sorted(extra)}"


@pytest.mark.parametrize("module", sorted(OPTIONAL_EDGE_MODULES))
def test_an_optional_edge_module_adds_only_its_extra(module):
    pytest.importorskip(OPTIONAL_EDGE_MODULES[module])
    _, extra = _edge_imports(tuple(OPTIONAL_EDGE_MODULES), then=module)
    assert extra == {OPTIONAL_EDGE_MODULES[module]}


def test_training_package_and_cli_import_no_jax():
    # `ltcn --help` imports the training side's command module (its parsers) in an edge
    # install too, which has no jax: neither the package nor that module may import it.
    code = (
        "import sys, ltcn_jax, ltcn_jax.cli\n"
        "print(','.join(m for m in ('jax', 'flax', 'optax', 'sklearn') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert proc.stdout.strip() == ""


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ltcn_jax.nope  # noqa: B018
