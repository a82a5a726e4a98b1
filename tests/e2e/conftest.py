"""The e2e tier builds its labs in network namespaces: where this process cannot create
one (not root), every test is skipped, and the meson test shows SKIP (exit 77)."""
import pytest

from drfwdtest import netns_unavailable


@pytest.fixture(autouse=True)
def network_namespaces():
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
