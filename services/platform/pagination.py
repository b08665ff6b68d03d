"""The one way Berth pages a list: a page of rows, their count, the filters that made it."""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from sqlalchemy import ColumnElement, Select, func, select

from models import db

PER_PAGE = 50
MAX_PAGE = 100_000


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int = PER_PAGE
    filters: dict = field(default_factory=dict)

    @classmethod
    def of_list(cls, items: list, page: int, per_page: int = PER_PAGE, **filters) -> Page:
        """One page of a list already in memory (a page past the end shows the last one)."""
        pages = max(1, ceil(len(items) / per_page))
        page = max(1, min(page, pages))
        return cls(items[(page - 1) * per_page:page * per_page], len(items), page, per_page, filters)

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def filtered(self) -> bool:
        return any(self.filters.values())

    def args(self, page: int) -> dict:
        """Query arguments for another page of the same list (the filters that are set, and page)."""
        return {**{k: v for k, v in self.filters.items() if v}, "page": page}

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)


def page_number(raw) -> int:
    """A page number from a query argument: 1 when missing or not a number, at most MAX_PAGE."""
    try:
        return max(1, min(int(raw), MAX_PAGE))
    except (TypeError, ValueError):
        return 1


def paginate(query: Select, page: int, per_page: int = PER_PAGE, *, scalars: bool = True, counted: Select | None = None,
             **filters) -> Page:
    """One page of `query` (already ordered) and the count of all its rows (`counted`, when a
    cheaper statement counts the same rows): two statements whatever the table holds."""
    counted = counted if counted is not None else select(func.count()).select_from(query.order_by(None).subquery())
    total = db.session.scalar(counted) or 0
    page = min(page, max(1, ceil(total / per_page)))
    paged = query.offset((page - 1) * per_page).limit(per_page)
    rows = db.session.scalars(paged).unique().all() if scalars else db.session.execute(paged).unique().all()
    return Page(list(rows), total, page, per_page, filters)


def newest_before(query: Select, id_column: ColumnElement[int], before: int | None, limit: int) -> list:
    """The API's cursor pages: rows of `query` newest first (by `id_column`), with an id below
    `before` (None: from the newest), at most `limit`."""
    if before is not None:
        query = query.where(id_column < before)
    return list(db.session.scalars(query.order_by(id_column.desc()).limit(limit)))
