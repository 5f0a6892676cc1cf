import pytest

from tests.e2e.harness import Harness


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path, f"sqlite:///{tmp_path}/baton.db")
    yield h
    h.close()


@pytest.fixture
def pg_harness(tmp_path, postgres_url):
    h = Harness(tmp_path, postgres_url)
    yield h
    h.close()
