"""The one root of every error a person reads, and the errors services raise for the view to show
next to a field or as a message. Pure: the registry clients and deploy drivers derive from it too."""


class BerthError(Exception):
    """Root of every error whose `message` is written for a person and safe to show
    (services' refusals, registry answers, deploy failures, webhook bodies, version ranges)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ServiceError(BerthError):
    """A request that cannot be carried out; the message is safe to show."""


class NotAllowed(ServiceError):
    """The person's role does not allow it (an owner's action); the message says whose it is."""


class FieldErrors(ServiceError):
    """Input that fails checks only the service can make (uniqueness, references)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def apply_to_form(form, error: FieldErrors) -> None:
    """Attach service field errors to a Flask-WTF form's fields."""
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is None:
            form.form_errors.append(message)
        else:
            field.errors = list(field.errors) + [message]


class ReleaseConflict(ServiceError):
    """Another release of the component was queued since it was read; decide again."""

    def __init__(self, component_name: str):
        super().__init__(f"Another release of {component_name} was started just now; "
                         "look at its releases and try again if still needed.")
