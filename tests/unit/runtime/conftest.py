import pytest

from tests.unit.runtime.helpers import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
