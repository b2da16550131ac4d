import pytest

from tests.support.homes import populate


@pytest.fixture
def populated(kura):
    return populate(kura)


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "dest"
