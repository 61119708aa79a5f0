"""The services package names its use-cases, each resolved from its own module on first use."""

import subprocess
import sys

import pytest

import phaseloom.services as services


@pytest.mark.parametrize("name", services.__all__)
def test_every_public_name_is_the_class_its_module_defines(name):
    cls = getattr(services, name)
    assert cls.__name__ == name
    assert cls.__module__.startswith("phaseloom.services.")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchService"):
        services.NoSuchService  # noqa: B018


def test_importing_the_package_imports_no_service():
    code = "import sys, phaseloom.services; print(sorted(m for m in sys.modules if m.startswith('phaseloom.services.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
