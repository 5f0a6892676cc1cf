"""R8: the broker's Redis must not lose Baton's work. On a Redis that evicts keys
(``maxmemory-policy`` other than ``noeviction``) or keeps no append-only file, the web and the
worker refuse to start with one line naming the setting and its fix, /healthz answers 503 if it is
reconfigured later, and a development deployment may start anyway with a warning. On a real
redis-server (the broker fixture's: production's configuration), then reconfigured with CONFIG SET."""
from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from integration.service import tasks
from integration.service.settings import Settings
from integration.service.tasks import UnsafeBroker, broker_config_problem, check_broker
from integration.service.web import create_app
from tests.test_tasks import broker  # noqa: F401 - the fixture: a private redis-server as production runs it

EVICTING = ("maxmemory-policy", "allkeys-lru")
NO_AOF = ("appendonly", "no")


@pytest.fixture
def unsafe(broker):  # noqa: F811
    """Reconfigures the broker fixture's Redis (its own, for this test only). Never back to
    ``appendonly yes``: that starts an AOF rewrite, and Redis will not shut down during one."""
    def reconfigure(setting: str, value: str) -> None:
        broker.redis.config_set(setting, value)

    return reconfigure


def test_production_redis_starts_and_is_healthy(broker):  # noqa: F811
    assert broker_config_problem(broker.redis) is None
    client = create_app(broker.settings).test_client()
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json["redis_config"] == "ok"


@pytest.mark.parametrize("setting, fix", [(EVICTING, "set maxmemory-policy noeviction"),
                                          (NO_AOF, "set appendonly yes")])
def test_a_redis_that_can_lose_work_is_refused_at_start_with_one_line(broker, unsafe, setting, fix):  # noqa: F811
    unsafe(*setting)
    with pytest.raises(UnsafeBroker) as refused:
        create_app(broker.settings)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("Baton refuses to start: the broker Redis at 127.0.0.1:")
    assert f"{setting[0]} is {setting[1]}" in message and fix in message and "BATON_REDIS_UNSAFE=1" in message


def test_both_problems_are_named_at_once(broker, unsafe):  # noqa: F811
    unsafe(*EVICTING)
    unsafe(*NO_AOF)
    problem = broker_config_problem(broker.redis)
    assert "maxmemory-policy is allkeys-lru" in problem and "appendonly is no" in problem


def test_healthz_reports_a_redis_reconfigured_after_the_start(broker, unsafe):  # noqa: F811
    client = create_app(broker.settings).test_client()
    unsafe(*EVICTING)
    h = client.get("/healthz")
    assert h.status_code == 503 and h.json["status"] == "degraded"
    assert h.json["redis_config"].startswith("maxmemory-policy is allkeys-lru")
    assert "set maxmemory-policy noeviction" in h.json["redis_config"]
    assert h.json["queue"] == "ok" and h.json["database"] == "ok"
    unsafe("maxmemory-policy", "noeviction")
    assert client.get("/healthz").status_code == 200
    unsafe(*NO_AOF)
    h = client.get("/healthz")
    assert h.status_code == 503 and h.json["redis_config"] == "appendonly is no, so a Redis restart loses the queued tasks: set appendonly yes"


@pytest.mark.parametrize("override", [{"redis_unsafe": True}, {"development": True}])
def test_a_development_deployment_starts_anyway_with_a_warning(broker, unsafe, caplog, override):  # noqa: F811
    unsafe(*NO_AOF)
    with caplog.at_level(logging.WARNING, logger="baton.tasks"):
        client = create_app(dataclasses.replace(broker.settings, **override)).test_client()
    (warning,) = [r for r in caplog.records if r.message == "tasks.redis-config-unsafe"]
    assert "appendonly is no" in warning.why
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json["redis_config"].startswith("unsafe, allowed by BATON_")


def test_the_setting_is_read_from_the_environment():
    assert Settings.from_env({"BATON_REDIS_UNSAFE": "1"}).redis_unsafe
    assert not Settings.from_env({}).redis_unsafe


def test_the_embedded_queue_never_checks(broker, unsafe):  # noqa: F811
    """A caller that brings its own queue (the demo's in-process one) has no broker to check."""
    unsafe(*EVICTING)

    class Embedded:
        def ping(self):
            pass

    client = create_app(broker.settings, store=broker.store, queue=Embedded()).test_client()
    h = client.get("/healthz")
    assert h.status_code == 200 and "redis_config" not in h.json


# managed Redis: CONFIG renamed or forbidden (ElastiCache), INFO always allowed

class NoConfig:
    """A Redis client whose CONFIG GET is refused; INFO answers ``info`` (or fails too)."""

    connection_pool = redis.ConnectionPool(host="cache.internal", port=6379, db=0)

    def __init__(self, info: dict[str, dict] | None):
        self._info = info
        self.asked: list[str] = []

    def config_get(self, pattern):
        self.asked.append(f"CONFIG GET {pattern}")
        raise redis.ResponseError("unknown command 'CONFIG', with args beginning with: 'GET' 'appendonly'")

    def info(self, section):
        self.asked.append(f"INFO {section}")
        if self._info is None:
            raise redis.exceptions.NoPermissionError("this user has no permissions to run the 'info' command")
        return self._info[section]


def test_without_config_the_settings_are_read_from_info():
    safe = NoConfig({"persistence": {"aof_enabled": 1}, "memory": {"maxmemory_policy": "noeviction"}})
    assert broker_config_problem(safe) is None
    assert safe.asked == ["CONFIG GET appendonly", "INFO persistence", "INFO memory"]
    evicting = NoConfig({"persistence": {"aof_enabled": 0}, "memory": {"maxmemory_policy": "volatile-lru"}})
    assert "maxmemory-policy is volatile-lru" in broker_config_problem(evicting)
    with pytest.raises(UnsafeBroker, match=r"at cache\.internal:6379/0 .*appendonly is no"):
        check_broker(Settings(database_url="sqlite://"), evicting)


def test_a_redis_whose_configuration_cannot_be_read_is_not_refused(caplog):
    hidden = NoConfig(None)
    with caplog.at_level(logging.WARNING, logger="baton.tasks"):
        check_broker(Settings(database_url="sqlite://"), hidden)  # no refusal
    assert [r.message for r in caplog.records] == ["tasks.redis-config-unknown"]
    assert tasks.broker_health(Settings(database_url="sqlite://"), hidden) == (
        "unknown: cannot read CONFIG or INFO (NoPermissionError)", True)


def test_the_celery_worker_refuses_to_start_with_one_line(broker, unsafe, tmp_path):  # noqa: F811
    """The Procfile's worker command, as a process: exits at once, its last line the reason."""
    unsafe(*EVICTING)
    env = {**os.environ, "REDIS_URL": broker.settings.redis_url, "DATABASE_URL": broker.settings.database_url,
           "BATON_SECRET_KEY": broker.settings.secret_key}
    env.pop("BATON_DEVELOPMENT", None)
    env.pop("BATON_REDIS_UNSAFE", None)
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "integration.service.worker", "worker", "--pool=solo"],
                          cwd=Path(__file__).parents[1], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Baton refuses to start: the broker Redis at 127.0.0.1:")
    assert "set maxmemory-policy noeviction" in last and "Traceback" not in done.stderr
