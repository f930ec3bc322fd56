"""The SCTP tests need a kernel with SCTP: `make test-sctp` runs them in a VM when this kernel
has none (tests/vm/sctp_vm.py). Anywhere else they skip, with the reason, as one line."""

from __future__ import annotations

import pytest

from eir.host import sctp_unavailable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = sctp_unavailable()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"{reason}: `make test-sctp` runs these in a VM")
    for item in items:
        if "tests/sctp/" in str(item.fspath):
            item.add_marker(skip)
