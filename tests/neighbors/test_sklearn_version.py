"""The scikit-learn layer says which scikit-learn it needs when it is missing, too old or broken."""
import importlib.abc
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")
from hubness_fast.neighbors._sklearn import require_sklearn  # noqa: E402


def test_a_too_old_scikit_learn_is_named_with_the_version_needed(monkeypatch):
    import sklearn

    monkeypatch.setattr(sklearn, "__version__", "1.5.2")
    message = r"needs scikit-learn>=1\.6, found 1\.5\.2: pip install -U 'scikit-learn>=1\.6'"
    with pytest.raises(ImportError, match=message):
        require_sklearn()
    monkeypatch.setattr(sklearn, "__version__", "1.6.0rc1")
    require_sklearn()


def test_a_missing_or_broken_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ModuleNotFoundError
    with pytest.raises(ImportError, match=r"needs scikit-learn>=1\.6: pip install 'scikit-learn>=1\.6'"):
        require_sklearn()

    class Broken(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "sklearn":
                raise ImportError("numpy.core.multiarray failed to import")

    monkeypatch.delitem(sys.modules, "sklearn")
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.raises(ImportError, match="installed but failed to import: numpy.core.multiarray failed to import"):
        require_sklearn()


def test_importing_the_layer_with_an_old_scikit_learn_says_so():
    code = ("import sklearn; sklearn.__version__ = '1.5.2'\n"
            "try:\n    import hubness_fast.neighbors\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs scikit-learn>=1.6, found 1.5.2" in out


def test_a_missing_dependency_of_scikit_learn_is_named_as_such(monkeypatch):
    class NoScipy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "sklearn":
                raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    monkeypatch.delitem(sys.modules, "sklearn")
    monkeypatch.setattr(sys, "meta_path", [NoScipy(), *sys.meta_path])
    with pytest.raises(ImportError, match="installed but needs scipy, which is not: pip install scipy"):
        require_sklearn()
