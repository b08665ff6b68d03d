"""The tag cache behind the repository page's search and Refresh, on the real registry."""
from __future__ import annotations

from models import Registry, db
from services.registries import registries as service
from services.registries.clients.types import TagList
from tests.helpers import create_registry


def test_refresh_keeps_the_searches_of_a_list_that_did_not_change(app, registries, monkeypatch):
    """Refresh fetches the whole list again; when it holds the same tags, the searches already
    done on it are kept, not ordered again; a list that changed is searched anew."""
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    pusher.push("team/refreshed", "1.0")
    ordered = []
    real = TagList.newest_first

    def counted(self, names, limit):
        ordered.append(limit)
        return real(self, names, limit)
    monkeypatch.setattr(TagList, "newest_first", counted)
    with app.app_context():
        registry = db.session.get(Registry, rid)
        first = service.search_tags(registry, "team/refreshed", "", 50, refresh=True)
        again = service.search_tags(registry, "team/refreshed", "", 50, refresh=True)
        assert [t.name for t in first[0]] == [t.name for t in again[0]] == ["1.0"] and ordered == [50]
        service.search_tags(registry, "team/refreshed", "1", 50)  # another search: ordered once
        service.search_tags(registry, "team/refreshed", "1", 50, refresh=True)
        assert ordered == [50, 50]
        pusher.push("team/refreshed", "2.0")
        changed = service.search_tags(registry, "team/refreshed", "", 50, refresh=True)
        assert [t.name for t in changed[0]] == ["2.0", "1.0"] and changed[1:] == (2, 2) and ordered == [50, 50, 50]
