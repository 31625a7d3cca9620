"""Messages for people: a service's refusal in plain words on a page.

Services name the field a message is about (``{"demonstrated_at": "This date is in the
future."}``) and some messages start with the field's name for operators' commands
(``"as_of: the day must not be in the future."``). Pages show neither: the message goes on the
form's own field, or at the top of the form, without any field name or database id. API answers
name the field once, as the key (or the problem's column), never again inside the message
(``common.api.exception_handler``, ``common.api.request_problems``).
"""

from __future__ import annotations

import re
from typing import Final

from django.core.exceptions import ValidationError

_FIELD_PREFIX: Final = re.compile(r"^[a-z_]+(\[\d+\])?: ")
_LEARNER_ID: Final = re.compile(r"^Learner \d+ is not one of yours\.")


def without_field_name(message: str) -> str:
    """The message without a field's name in front (``"as_of: give a date"`` -> ``"Give a
    date"``): the API names the field beside its messages, pages show the message on the field.
    A first word that is a code (``state_export``) keeps its case."""
    message = _FIELD_PREFIX.sub("", str(message))
    if "_" in message.split(" ", 1)[0]:
        return message
    return message[:1].upper() + message[1:]


def plain_message(message: str) -> str:
    """One message in plain words: no field name in front, no learner's database id."""
    message = _LEARNER_ID.sub("This learner is not one of yours today.", str(message))
    return without_field_name(message)


def plain_messages(error: ValidationError) -> list[str]:
    """Every message of a refusal, in plain words."""
    return [plain_message(message) for message in error.messages]
