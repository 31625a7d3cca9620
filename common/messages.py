"""Messages for people: a service's refusal in plain words on a page.

Services name the field a message is about (``{"demonstrated_at": "This date is in the
future."}``) and some messages start with the field's name for the API's callers
(``"as_of: the day must not be in the future."``). Pages show neither: the message goes on the
form's own field, or at the top of the form, without any field name or database id.
"""

from __future__ import annotations

import re
from typing import Final

from django.core.exceptions import ValidationError

_FIELD_PREFIX: Final = re.compile(r"^[a-z_]+(\[\d+\])?: ")
_LEARNER_ID: Final = re.compile(r"^Learner \d+ is not one of yours\.")


def plain_message(message: str) -> str:
    """One message in plain words: no field name in front, no learner's database id."""
    message = _FIELD_PREFIX.sub("", str(message))
    message = _LEARNER_ID.sub("This learner is not one of yours today.", message)
    return message[:1].upper() + message[1:]


def plain_messages(error: ValidationError) -> list[str]:
    """Every message of a refusal, in plain words."""
    return [plain_message(message) for message in error.messages]
