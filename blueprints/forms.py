"""Form pieces every page group uses: the empty form of button-only posts, a checkbox list, and
validators that run the services' checks."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    SelectMultipleField,
)
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget


def check(fn):
    def validator(form, field):
        problem = fn(field.data)
        if problem:
            raise ValidationError(problem)
    return validator


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (one per choice), each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmptyForm(FlaskForm):
    """Carries only the CSRF token, for button-only POSTs."""
