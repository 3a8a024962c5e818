"""add sessions and session versions

The demo keeps its sessions in the database (``SESSION_BACKEND`` defaults
to ``"database"``): this revision creates the sessions battery's
``oakling_session`` table, unless the database has it already (a project
sharing the database may have made it). And it adds the auth battery's
``auth_user.session_version`` ("log out everywhere"), 0 for existing users:
their sessions stay logged in.

Written by ``oakling db makemigrations`` (see ``app.py``), with two edits:
the table is only created when missing, ruff's formatting, and a shorter
revision id (``tasks_alembic_version.version_num`` holds 32 characters).

Revision ID: 0003_sessions_and_versions
Revises: 0002_add_users_and_task_owners
Create Date: 2026-12-03 12:49:55.801508
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_sessions_and_versions"
down_revision = "0002_add_users_and_task_owners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # NOTE: ids are case-sensitive, expiry has microseconds: binary ASCII and
    # DATETIME(6) on MySQL and MariaDB (as oakling.sessions.database declares).
    if not sa.inspect(op.get_bind()).has_table("oakling_session"):
        op.create_table(
            "oakling_session",
            sa.Column(
                "session_key",
                sa.String(length=64).with_variant(
                    mysql.VARCHAR(charset="ascii", collation="ascii_bin", length=64),
                    "mysql",
                    "mariadb",
                ),
                nullable=False,
            ),
            sa.Column("data", sa.Text(), nullable=False),
            sa.Column(
                "expires_at",
                sa.DateTime(timezone=True).with_variant(
                    mysql.DATETIME(timezone=True, fsp=6), "mysql", "mariadb"
                ),
                nullable=False,
            ),
            sa.PrimaryKeyConstraint("session_key", name=op.f("pk_oakling_session")),
        )
        with op.batch_alter_table("oakling_session", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_oakling_session_expires_at"), ["expires_at"], unique=False
            )

    with op.batch_alter_table("auth_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    """Revert this revision (every session stored in the table is lost)."""
    with op.batch_alter_table("auth_user", schema=None) as batch_op:
        batch_op.drop_column("session_version")

    # NOTE: the index goes with its table.
    op.drop_table("oakling_session")
