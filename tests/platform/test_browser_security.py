"""In Chromium: text a user wrote never runs as script (confirm dialogs read it from a data-
attribute), and the Content-Security-Policy is enforced (the `page` fixture fails any test whose
pages report a violation)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Role, Team, User, db
from services.accounts import accounts
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser]
PAYLOAD = "x'+alert(document.domain)+'@e.co"


def test_a_members_address_in_a_confirm_dialog_stays_text(page, make_user, app):
    sign_in(page, make_user)
    with app.app_context():  # stored before addresses were checked this strictly: it must stay harmless
        team = db.session.scalar(select(Team).where(Team.name == "alpha"))
        user = User(email=PAYLOAD, password_hash="!")
        db.session.add(user)
        accounts.add_member(team, user, Role.MEMBER)
        db.session.commit()
    dialogs = []

    def answer(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()
    page.on("dialog", answer)
    page.goto("/team/")
    row = page.get_by_role("row").filter(has_text=PAYLOAD)
    row.get_by_role("button", name="Remove").click()
    page.wait_for_timeout(500)
    assert dialogs == [("confirm", f"Remove {PAYLOAD} from the team?")]  # no alert ran
    assert page.get_by_role("row").filter(has_text=PAYLOAD).count() == 1  # dismissed: nothing removed


def test_inline_script_is_refused_and_reported(page, make_user):
    """The policy is live: a script injected inline into a Berth page is blocked, and the fixture sees it."""
    sign_in(page, make_user)
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'document.body.dataset.ran = 1'; document.body.append(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("() => document.body.dataset.ran") is None
    assert any("Content Security Policy" in v for v in page.csp_violations)
    page.csp_violations.clear()
