"""Which schema operations cannot be undone by rolling the code back."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollback_advisor.sqlrisk import change_text, destructive_operations

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "migrations"


@pytest.mark.parametrize(("sql", "expected"), [
    ("ALTER TABLE orders DROP COLUMN coupon_code", ["drops column orders.coupon_code"]),
    ("alter table x alter column y type bigint", ["changes the type of x.y"]),
    ("ALTER TABLE t MODIFY COLUMN price DECIMAL(12,2)", ["changes the type of t.price"]),
    ("DROP TABLE IF EXISTS sessions", ["drops table sessions"]),
    ("TRUNCATE TABLE carts", ["truncates carts"]),
    ("DELETE FROM users", ["deletes every row of users"]),
    ("UPDATE accounts SET plan = 'free'", ["rewrites every row of accounts"]),
    ("ALTER TABLE a ADD COLUMN b int NOT NULL", ["adds NOT NULL column a.b without default"]),
    ("ALTER TABLE users RENAME COLUMN mail TO email", ["renames in users"]),
    ('op.drop_column("orders", "coupon")', ["drops orders.coupon"]),
    ('migrations.RemoveField(model_name="order", name="coupon")', ["drops order.coupon"]),
    ("remove_column :orders, :coupon", ["drops column orders.coupon"]),
    # Django operations (migration files)
    ("migrations.DeleteModel(name='Coupon')", ["drops Coupon"]),
    ("migrations.RenameField(model_name='order', old_name='mail', new_name='email')",
     ["renames field order.mail"]),
    ("migrations.RenameModel(old_name='Coupon', new_name='Voucher')", ["renames model Coupon"]),
    # Alembic operations, in autogenerate's multi-line style
    ("op.alter_column('account', 'name',\n    existing_type=sa.VARCHAR(length=50),\n"
     "    type_=sa.String(length=100),\n    existing_nullable=False)",
     ["changes the type of account.name"]),
    ("op.alter_column('a', 'b', nullable=False)", ["sets NOT NULL on a.b"]),
    ("op.alter_column('a', 'b', new_column_name='c')", ["renames column a.b"]),
    ("op.rename_table('a', 'b')", ["renames table a"]),
    # Rails migration DSL
    ("drop_table :coupons", ["drops table coupons"]),
    ("rename_table :a, :b", ["renames table a"]),
    ("change_column :orders, :total, :decimal", ["changes the type of orders.total"]),
    ("change_column_null :orders, :total, false", ["sets NOT NULL on orders.total"]),
    ("rename_column :users, :mail, :email", ["renames column users.mail"]),
    ("add_column :orders, :total, :integer, null: false",
     ["adds NOT NULL column orders.total without default"]),
    ("remove_columns :orders, :a, :b", ["drops columns of orders"]),
    # Liquibase DATABASECHANGELOG.DESCRIPTION
    ("dropColumn columnName=coupon, tableName=orders", ["drops column orders.coupon"]),
    ("dropColumn tableName=orders", ["drops columns of orders"]),
    ("dropTable tableName=ACT_DMN_X", ["drops table ACT_DMN_X"]),
    ("renameColumn newColumnName=CREATE_TIME_, oldColumnName=START_TIME_, tableName=T; "
     "addColumn tableName=X", ["renames column T.START_TIME_"]),
    ("modifyDataType columnName=ID_, newDataType=varchar(255), tableName=T",
     ["changes the type of T.ID_"]),
    ("addNotNullConstraint columnName=C, tableName=T", ["sets NOT NULL on T.C"]),
])
def test_destructive_operations_are_described(sql: str, expected: list[str]) -> None:
    """Each destructive operation is found and described with its table and column."""
    assert destructive_operations(sql) == expected


@pytest.mark.parametrize("sql", [
    "CREATE INDEX CONCURRENTLY idx ON orders(created_at)",
    "ALTER TABLE t DROP CONSTRAINT fk_t_user",
    "ALTER TABLE a ADD COLUMN b int NOT NULL DEFAULT 0",
    "DELETE FROM users WHERE id = 3",
    "UPDATE accounts SET plan = 'free' WHERE id = 7",
    "op.alter_column('a', 'b', existing_type=sa.Integer(), nullable=True)\n"
    "op.add_column('x', sa.Column('y', sa.Integer(), nullable=False))",
    "op.alter_column('a', 'b', nullable=False, server_default='0')",
    "change_column_default :orders, :total, 0",
    "add_column :orders, :total, :integer, null: false, default: 0",
    "rename_table_helper(x)",
    "createTable tableName=ACT_DMN_DEPLOYMENT; createIndex indexName=I, tableName=T",
])
def test_safe_operations_are_not_flagged(sql: str) -> None:
    """Additive or targeted statements are not called destructive."""
    assert destructive_operations(sql) == []


def test_real_additive_upgrade_scripts_are_not_flagged() -> None:
    """Flowable's 6.7.2 -> 6.8.0 upgrade and Alembic's offline output only add: nothing flagged."""
    for name in ("flowable.postgres.upgradestep.6.7.2.to.6.8.0.all.sql",
                 "offline-mode-output.excerpt.sql.txt"):
        assert destructive_operations((FIXTURES / name).read_text()) == [], name


def test_change_text_gathers_summary_and_details() -> None:
    """Summary and the sql/statements details are all read."""
    text = change_text("0042 drop coupon", {"statements": ["DROP TABLE a", "SELECT 1"],
                                            "sql": "TRUNCATE b"})
    assert sorted(destructive_operations(text)) == ["drops table a", "truncates b"]
