"""Package imports stay cheap: the public names load on first use, and each one resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["textseq", "textseq.lm", "textseq.train", "textseq.classify", "textseq.embeddings", "textseq.text"]


def test_importing_the_packages_does_not_import_torch():
    code = "import sys, " + ", ".join(PACKAGES) + "; print('torch' in sys.modules, 'gensim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_export_resolves(package):
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_by_submodule_lists_each_name_under_its_module():
    from textseq.lazy import by_submodule

    exports = by_submodule("pkg", {"config": ("A", "load"), "task": ("Run",)})
    assert exports == {"A": "pkg.config", "load": "pkg.config", "Run": "pkg.task"}
