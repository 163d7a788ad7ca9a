"""Settings come from the environment, strictly, with defaults that need nothing."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

from .conftest import ROOT


def test_env_bool_accepts_the_usual_spellings(monkeypatch):
    for raw, expected in [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("off", False),
        ("", False),
    ]:
        monkeypatch.setenv("FLAG", raw)
        assert env_bool("FLAG", not expected) is expected
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", True) is True


def test_env_bool_rejects_a_typo_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("DEBUG", "ture")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='ture' is not a boolean"):
        env_bool("DEBUG", False)


def test_env_int_rejects_text(monkeypatch):
    monkeypatch.setenv("SNAPSHOT_STALE_AFTER", "5m")
    with pytest.raises(ImproperlyConfigured, match="SNAPSHOT_STALE_AFTER='5m' is not an integer"):
        env_int("SNAPSHOT_STALE_AFTER", 300)


def test_secret_read_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env_str("SECRET_KEY") == "s3cret"
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE=.*missing: cannot read it"):
        env_str("SECRET_KEY")


def test_env_list(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example, b.example,,")
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def _settings_in_subprocess(env: dict, expr: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_embedded_defaults_need_no_server(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", NETPOL_VAR_DIR=str(tmp_path))
    result = _settings_in_subprocess(
        env, "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, len(s.SECRET_KEY)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://localhost//", "50"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # only the owner reads the key


def test_environment_names_postgres_and_redis(tmp_path):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        NETPOL_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://u:p@db.example:5433/netpol",
        REDIS_URL="redis://cache.example:6379/2",
    )
    env.pop("CELERY_BROKER_URL", None)
    result = _settings_in_subprocess(
        env, "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['PORT'], s.CELERY_BROKER_URL"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "5433",
        "redis://cache.example:6379/2",
    ]


def test_bad_boolean_stops_startup(tmp_path):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        NETPOL_VAR_DIR=str(tmp_path),
        DEBUG="maybe",
    )
    result = _settings_in_subprocess(env, "s.DEBUG")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.parametrize(
    "url, problem",
    [
        ("notaurl", "the scheme must be one of postgres, postgresql, sqlite"),
        ("postgres://ops:pw-secret-9@db:notaport/netpol", "a port must be a number"),
    ],
)
def test_a_malformed_database_url_stops_startup_naming_the_variable(tmp_path, url, problem):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", NETPOL_VAR_DIR=str(tmp_path), DATABASE_URL=url)
    result = _settings_in_subprocess(env, "s.DATABASES")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL=" in last_line and "is not a database URL" in last_line and problem in last_line
    assert "pw-secret-9" not in result.stderr


def _manage(tmp_path, *args, **env_vars):
    env = dict(os.environ, NETPOL_VAR_DIR=str(tmp_path), **env_vars)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path):
    result = _manage(tmp_path, "migrate", DATABASE_URL="postgres://ops:pw-secret-9@127.0.0.1:1/netpol")
    assert result.returncode == 1
    assert result.stderr.startswith("manage.py: cannot use the database at 127.0.0.1:1 (DATABASE_URL): ")
    assert "Traceback" not in result.stderr and "pw-secret-9" not in result.stderr


def test_a_configuration_error_is_one_line_not_a_traceback(tmp_path):
    result = _manage(tmp_path, "check", DATABASE_URL="notaurl")
    assert result.returncode == 2
    assert result.stderr.startswith("manage.py: configuration error: DATABASE_URL='notaurl' is not a database URL")
    assert "Traceback" not in result.stderr
