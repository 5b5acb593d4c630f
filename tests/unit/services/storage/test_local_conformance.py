"""LocalStorageService against the storage conformance suite (agentmap.testing.storage_conformance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmap.services.storage.local import LocalStorageService
from agentmap.testing.storage_conformance import StorageConformance


class TestLocalStorage(StorageConformance):
    @pytest.fixture
    def storage(self, storage_dir: Path) -> LocalStorageService:
        return LocalStorageService(storage_dir)
