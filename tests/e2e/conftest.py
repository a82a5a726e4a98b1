"""The e2e tier builds its labs in network namespaces: where this process cannot create
one (not root), every test is skipped, and the meson test shows SKIP (exit 77)."""
import pytest

from drfwdtest import skip_without_netns


@pytest.fixture(autouse=True)
def network_namespaces():
    skip_without_netns()
