"""Retention prunes what it may and keeps what it must: unfinished deliveries, deliveries that are
the record of an existing release, active releases; the newest N per endpoint; on both databases
(SQLite does not cascade, so no outcome may be left behind)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from models import (
    Component,
    DeliveryOutcome,
    DeliveryStatus,
    Release,
    ReleaseStatus,
    WebhookDelivery,
    db,
    utcnow,
)
from services.platform import retention
from tests.fixtures.bulk import seed_components, seed_deliveries, seed_history

DAY = timedelta(days=1)


def first_component(app):
    with app.app_context():
        return db.session.scalar(select(Component).order_by(Component.id))


def counts(app, component_id=None):
    with app.app_context():
        q = select(func.count()).select_from(WebhookDelivery)
        if component_id:
            q = q.where(WebhookDelivery.component_id == component_id)
        orphans = db.session.scalar(select(func.count()).select_from(DeliveryOutcome).where(
            DeliveryOutcome.delivery_id.not_in(select(WebhookDelivery.id))))
        return db.session.scalar(q), orphans


def prune(app, **policy):
    with app.app_context():
        return retention.prune(retention.Policy(**{"batch": 700, **policy}))


def test_old_deliveries_go_young_ones_and_unfinished_ones_stay(app):
    seed_components(app, count=1)
    c = first_component(app)
    seed_history(app, c.id, releases=0, deliveries=1500, age=31 * DAY)  # old, each meant something
    seed_history(app, c.id, releases=0, deliveries=40, age=2 * DAY)  # young
    with app.app_context():
        for status in (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING):  # an unfinished batch
            seed_deliveries(c.team_id, 5, utcnow() - 40 * DAY, component_id=c.id, status=status)
        db.session.commit()
    report = prune(app)
    assert report.deliveries == 1500 and report.outcomes == 1500
    assert counts(app) == (50, 0)
    with app.app_context():
        left = db.session.scalars(select(WebhookDelivery.status).where(
            WebhookDelivery.received_at < utcnow() - 30 * DAY)).all()
    assert sorted(left) == ["pending"] * 5 + ["processing"] * 5


def test_a_delivery_that_made_a_release_stays_while_the_release_exists(app):
    seed_components(app, count=1, releases_each=1)
    c = first_component(app)
    seed_history(app, c.id, releases=30, deliveries=200, age=60 * DAY)  # every tenth deployed a release
    report = prune(app)
    assert report.deliveries == 180
    assert counts(app) == (20, 0)
    with app.app_context():
        kept = db.session.scalars(select(DeliveryOutcome.release_id)).all()
        assert len(kept) == 20 and all(kept)
    # Keep only 5 releases: the older ones go, and then the deliveries they kept
    report = prune(app, releases_kept=5)
    assert report.releases == 25  # 31 releases: the newest 5 stay, and the first one, running
    with app.app_context():
        statuses = db.session.scalars(select(Release.status).where(Release.component_id == c.id)).all()
        assert len(statuses) == 6 and statuses.count(ReleaseStatus.RUNNING) == 1
        kept = set(db.session.scalars(select(Release.id)))
        referenced = db.session.scalars(select(DeliveryOutcome.release_id)).all()
        assert referenced and set(referenced) <= kept  # only deliveries of kept releases are left
    n, orphans = counts(app)
    assert orphans == 0 and n == len(referenced)


def test_deliveries_that_meant_nothing_go_after_a_day(app):
    seed_components(app, count=1)
    c = first_component(app)
    with app.app_context():
        registry_id = db.session.scalar(select(Component.registry_id))  # None: seeded components
        from models import Registry
        registry_id = db.session.scalar(select(Registry.id).order_by(Registry.id))
        seed_deliveries(c.team_id, 300, utcnow() - 2 * DAY, registry_id=registry_id)  # pulls, unwatched repos
        seed_deliveries(c.team_id, 30, utcnow() - timedelta(hours=2), registry_id=registry_id)
        seed_deliveries(c.team_id, 20, utcnow() - 2 * DAY, registry_id=registry_id, outcome_component=c.id)
        db.session.commit()
    report = prune(app)
    assert report.deliveries == 300
    assert counts(app) == (50, 0)


def test_at_most_n_per_component_and_per_registry_the_newest(app):
    seed_components(app, count=2)
    c = first_component(app)
    seed_history(app, c.id, releases=0, deliveries=1300, age=DAY)
    with app.app_context():
        from models import Registry
        registry_id = db.session.scalar(select(Registry.id).order_by(Registry.id))
        seed_deliveries(c.team_id, 1200, utcnow() - timedelta(hours=1), registry_id=registry_id,
                        outcome_component=c.id)
        newest = db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.component_id == c.id)
                                    .order_by(WebhookDelivery.id.desc()).limit(1000)).all()
        db.session.commit()
    report = prune(app, kept_per_endpoint=1000)
    assert report.deliveries == 300 + 200
    with app.app_context():
        left = db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.component_id == c.id)
                                  .order_by(WebhookDelivery.id.desc())).all()
        assert left == newest
        assert db.session.scalar(select(func.count()).where(WebhookDelivery.registry_id == registry_id)) == 1000
    assert counts(app)[1] == 0
    assert prune(app, kept_per_endpoint=1000).deliveries == 0  # nothing more on a second pass


def test_sent_notifications_go_with_the_delivery_retention(app):
    import uuid

    from models import Notification, NotificationChannel, NotificationStatus
    seed_components(app, count=1)
    c = first_component(app)
    with app.app_context():
        channel = NotificationChannel(team_id=c.team_id, name="hook", kind="webhook", url="http://127.0.0.1:9/",
                                      events=["release.failed"])
        db.session.add(channel)
        db.session.flush()
        for status, age in ((NotificationStatus.SENT, 40), (NotificationStatus.FAILED, 40),
                            (NotificationStatus.PENDING, 40), (NotificationStatus.SENT, 1)):
            db.session.add(Notification(team_id=c.team_id, channel_id=channel.id, uid=str(uuid.uuid4()),
                                        event="release.failed", payload={}, status=status,
                                        created_at=utcnow() - age * DAY))
        db.session.commit()
    assert prune(app).notifications == 2
    with app.app_context():
        assert sorted(db.session.scalars(select(Notification.status))) == ["pending", "sent"]


def test_the_prune_command(app, runner):
    seed_components(app, count=1)
    c = first_component(app)
    seed_history(app, c.id, releases=0, deliveries=10, age=40 * DAY)
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "Pruned 10 deliveries (10 outcomes), 0 releases" in result.output


def test_poll_leases_a_dead_process_left_go_after_an_hour(app):
    """A lease is given back when its batch is recorded; one a dead process left for a key nobody
    polls any more is pruned once expired for an hour. A live one, or one just expired, stays."""
    from models import PollLease, utcnow

    now = utcnow()
    with app.app_context():
        db.session.add_all([PollLease(key="r1/live", holder="a", until=now + timedelta(minutes=1)),
                            PollLease(key="r1/just-expired", holder="b", until=now - timedelta(minutes=5)),
                            PollLease(key="r1/forgotten", holder="c", until=now - timedelta(hours=2))])
        db.session.commit()
        assert retention.prune(now=now).leases == 1
        assert sorted(db.session.scalars(select(PollLease.key))) == ["r1/just-expired", "r1/live"]
