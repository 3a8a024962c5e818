"""add task outbox

The tasks battery's transactional outbox (``oakling.tasks.durable.OutboxEntry``,
table ``oakling_task_outbox``): with ``OAKLING_TASKS_OUTBOX=true`` a request's
announcements are rows of its own transaction until the broker has them.

Written by hand in the shape ``oakling db makemigrations`` gives (the
database test checks that autogenerate finds nothing left to migrate).

Revision ID: 0005_add_task_outbox
Revises: 0004_add_admin_log
Create Date: 2026-12-04 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_add_task_outbox"
down_revision = "0004_add_admin_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "oakling_task_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("countdown", sa.Float(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oakling_task_outbox")),
    )
    with op.batch_alter_table("oakling_task_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oakling_task_outbox_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision (tasks still waiting in the outbox are lost)."""
    op.drop_table("oakling_task_outbox")
