"""A repository path of 255 characters is an image Docker accepts (distribution/reference counts
the path, not the host): a component of such a plain reference is saved on either database, and one
character more is a field error (#31)."""
from __future__ import annotations

from models import Component, db
from services.accounts import accounts
from services.components import components
from services.errors import FieldErrors


def _input(image: str) -> components.ComponentInput:
    return components.ComponentInput(name="long", application="shop", registry_id=None, image=image, tag="v1",
                                     create_anyway=True)


def test_a_255_character_path_behind_a_host_is_saved_and_256_is_a_field_error(app):
    longest = "registry.example.com:5000/" + "a" * 255
    with app.app_context():
        team = accounts.get_or_create_team("alpha")
        component = components.create_component(team, _input(longest), "test")
        db.session.commit()
        assert db.session.get(Component, component.id).image == longest
        try:
            components.check_input(team, _input(longest + "a"))
        except FieldErrors as e:
            assert e.errors["image"] == "A repository path has at most 255 characters (this one has 256)."
        else:
            raise AssertionError("a 256-character path was accepted")
