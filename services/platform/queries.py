"""Statements whose cost must not grow with the number of values they carry.

`one_of(column, values)` is `column IN (…)`: on PostgreSQL one array parameter (`= ANY(:values)`),
so a statement about 1,000 rows is compiled once and sent as one value instead of a thousand
parameters rendered and bound on every call (polling runs such statements for each batch); on
SQLite the expanding IN it has always been. `upsert(table)` is the INSERT that takes ON CONFLICT
on whichever of the two databases Berth runs on."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Integer, String, any_, bindparam
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from models import db


def postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def upsert(table):
    """INSERT … with on_conflict_do_nothing() / on_conflict_do_update() for this database."""
    return (pg.insert if postgresql() else sqlite.insert)(table)


def one_of(column, values: Sequence) -> ColumnElement[bool]:
    if not postgresql():
        return column.in_(values)
    item = Integer if isinstance(column.type, Integer) else String
    return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
