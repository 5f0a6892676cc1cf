import pytest

import connectors
from tests.e2e.harness import Harness


@pytest.fixture(params=connectors.KEYS)
def harness(request, tmp_path):
    h = Harness(tmp_path, f"sqlite:///{tmp_path}/baton.db", request.param)
    yield h
    h.close()


@pytest.fixture(params=connectors.KEYS)
def pg_harness(request, tmp_path, postgres_url):
    h = Harness(tmp_path, postgres_url, request.param)
    yield h
    h.close()
