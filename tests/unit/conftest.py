"""Settings shared by the unit tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_name_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the locks named after compose projects in this session's own folder.

    Unit tests reuse project names such as "fake"; with the machine's shared
    folder, two test sessions running at once would lock each other out.
    """
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    yield
    if previous is None:
        os.environ.pop("XDG_RUNTIME_DIR", None)
    else:
        os.environ["XDG_RUNTIME_DIR"] = previous
