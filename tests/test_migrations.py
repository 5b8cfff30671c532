"""`flask db upgrade` on an empty database builds exactly the schema the models describe."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import models as _models  # noqa: F401  (every table on the metadata)
from app.extensions import db as _db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def empty_database(tmp_path, db_url):
    if db_url.startswith("postgresql"):
        schema = f"mig_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(db_url)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in db_url else "?"
        yield f"{db_url}{sep}options=-csearch_path%3D{schema}"
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite'}"


def test_upgrade_matches_models_and_seeds_checkpoints(empty_database):
    env = {**os.environ, "DATABASE_URL": empty_database, "LIXIAO_ENV": "development"}
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    engine = sa.create_engine(empty_database.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), _db.metadata)
        assert diff == [], diff
        assert conn.execute(sa.text("SELECT count(*) FROM checkpoints")).scalar() >= 17
    engine.dispose()
