"""Plain-language explanations of a mastery record, for learners and families.

Built from what the mastery core keeps for each record (its state, score, level, evidence count
and the stored explanation: method, parameters, ordered inputs, the engine's steps and
rounding); nothing here computes a level, a score or which ratings count. Each explanation is a
sentence ("Developing: your 4 pieces of evidence, newer ones counting more, come to 2.23;
Proficient starts at 3") and the arithmetic in words, one tap away. Probabilities (knowledge
tracing) are shown as percentages, with a decimal when rounding would hide the gap to the
threshold. Dates are shown in the reader's language and the platform's time zone.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

MASTERED = "mastered"
NOT_YET = "not_yet"
INSUFFICIENT = "insufficient"
NOT_ASSESSED = "not_assessed"


@dataclass(frozen=True)
class ScaleLevel:
    label: str
    points: Decimal
    cut_point: Decimal


@dataclass(frozen=True)
class Plain:
    """What a learner or a parent reads about one standard."""

    headline: str  # "Developing", "Mastered", "Not assessed yet"...
    sentence: str
    arithmetic: list[str] = field(default_factory=list)


def number(value: Decimal | float | str | None) -> str:
    """A score as people write it: at most 2 decimals, no trailing zeros, local separator."""
    if value is None:
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return str(value)
    text = formats.number_format(amount, decimal_pos=2, use_l10n=True)
    sep = formats.get_format("DECIMAL_SEPARATOR")
    if sep in text:
        text = text.rstrip("0").rstrip(sep)
    return text


def percent(probability: float, threshold: float | None = None) -> str:
    """A probability as a percentage; one decimal when whole numbers would make it look equal to
    the threshold (94.6% against 95%, never "95%" beside "not mastered")."""
    whole = round(probability * 100)
    if threshold is not None and whole == round(threshold * 100) and probability != threshold:
        shown = formats.number_format(Decimal(str(probability * 100)).quantize(Decimal("0.1")), 1)
    else:
        shown = str(whole)
    return _("%(value)s%%") % {"value": shown}


def day(value: datetime.datetime | datetime.date | str | None) -> str:
    """A date in the reader's format (and the platform's time zone for a moment)."""
    if value is None:
        return ""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return ""
        value = parsed
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return str(formats.date_format(value, "DATE_FORMAT", use_l10n=True))


def _pieces(count: int) -> str:
    return ngettext(
        "your %(count)s piece of evidence", "your %(count)s pieces of evidence", count
    ) % {"count": count}


def _method_words(method: str, params: dict[str, Any]) -> str:
    if method in ("decaying_average", "weighted_average"):
        return _("newer ones counting more")
    if method == "highest":
        return _("taking your best")
    if method == "latest":
        return _("taking the most recent")
    if method == "average":
        return _("averaged")
    if method == "mode":
        return _("taking the score you reached most often")
    if method == "n_times":
        return _("averaging those at or above %(threshold)s") % {
            "threshold": number(params.get("threshold"))
        }
    if method == "power_law":
        return _("following the trend of your scores")
    return _("combined by your school's rule")


def _next_level(levels: Sequence[ScaleLevel], score: Decimal) -> ScaleLevel | None:
    above = [level for level in levels if level.cut_point > score]
    return min(above, key=lambda level: level.cut_point) if above else None


def _mastery_level(levels: Sequence[ScaleLevel], threshold: Decimal) -> ScaleLevel | None:
    reaching = [level for level in levels if level.cut_point >= threshold]
    return min(reaching, key=lambda level: level.cut_point) if reaching else None


_STEP_VALUE = re.compile(r"=\s*(-?[0-9.]+)\s*$")
_BKT_STEP = re.compile(r"posterior\s+([0-9.eE-]+)")


def _arithmetic(
    explanation: dict[str, Any], method: str, params: dict[str, Any], threshold: Decimal
) -> list[str]:
    """The engine's arithmetic, in words: the scores oldest first, the running result after each
    one (for methods that keep one), the rounding."""
    lines: list[str] = []
    inputs = explanation.get("inputs") or []
    if inputs:
        scores = "; ".join(
            _("%(score)s on %(day)s")
            % {"score": number(item.get("score")), "day": day(item.get("demonstrated_at"))}
            for item in inputs
        )
        lines.append(_("Your teachers' scores, oldest first: %(scores)s.") % {"scores": scores})
    steps = explanation.get("steps") or []
    if method in ("decaying_average",) and steps:
        weight = params.get("weight")
        lines.append(
            _("Each new score counts for %(new)s%% and the result so far for %(old)s%%.")
            % {"new": weight, "old": 100 - int(weight or 0)}
        )
        for position, step in enumerate(steps, start=1):
            found = _STEP_VALUE.search(step)
            if found:
                lines.append(
                    _("After piece %(n)s: %(value)s.") % {"n": position, "value": number(found[1])}
                )
    elif method == "weighted_average" and len(inputs) > 1:
        weight = params.get("weight")
        lines.append(
            _(
                "The most recent score counts for %(new)s%%, the average of the earlier ones "
                "for %(old)s%%."
            )
            % {"new": weight, "old": 100 - int(weight or 0)}
        )
    elif method == "bkt" and steps:
        lines.append(
            _(
                "A score of %(threshold)s or more counts as a success. After each piece of "
                "evidence, the chance you know it is updated:"
            )
            % {"threshold": number(params.get("threshold") or threshold)}
        )
        goal = float(params.get("mastery_probability") or 0.95)
        for position, step in enumerate(steps, start=1):
            found = _BKT_STEP.search(step)
            if found:
                lines.append(
                    _("After piece %(n)s: %(chance)s.")
                    % {"n": position, "chance": percent(float(found[1]), goal)}
                )
    value, score = explanation.get("value"), explanation.get("score")
    if (
        value is not None
        and score is not None
        and method != "bkt"
        and Decimal(str(value)) != Decimal(str(score))
    ):
        lines.append(
            _("%(value)s rounded to 2 decimals is %(score)s.")
            % {
                "value": number(Decimal(str(value)).quantize(Decimal("0.0001"))),
                "score": number(score),
            }
        )
    return lines


def explain(
    *,
    state: str,
    level_label: str,
    score: Decimal | None,
    evidence_count: int,
    explanation: dict[str, Any],
    levels: Sequence[ScaleLevel],
    threshold: Decimal,
    own: bool,
) -> Plain:
    """The plain explanation of one record. ``state`` is MASTERED, NOT_YET, INSUFFICIENT or
    NOT_ASSESSED (as the learner's page knows it); ``own``: written to the learner ("your")
    rather than about them (the guardian's page reads the same words, addressed to the child's
    family: "your child's" would be wrong for the learner, "your" is wrong for a parent)."""
    method = str(explanation.get("method") or "")
    params = dict(explanation.get("params") or {})
    if state == NOT_ASSESSED:
        return Plain(_("Not assessed yet"), _("No teacher has scored work on this standard yet."))
    if state == INSUFFICIENT:
        needed = params.get("min_evidence")
        if needed and evidence_count < int(needed):
            sentence = ngettext(
                "%(count)s piece of evidence so far; the school needs %(needed)s before "
                "giving a level.",
                "%(count)s pieces of evidence so far; the school needs %(needed)s before "
                "giving a level.",
                evidence_count,
            ) % {"count": evidence_count, "needed": needed}
        else:
            sentence = _("Not enough scores at the level the school asks for yet to give a level.")
        return Plain(
            _("Not enough evidence yet"),
            sentence,
            _arithmetic(explanation, method, params, threshold),
        )
    headline = level_label or (_("Mastered") if state == MASTERED else _("Not yet"))
    told = explanation.get("override")
    if method == "override" and isinstance(told, dict):
        # A teacher's override (ADR 8): who set it, when and why, in the reader's words.
        reason = strip_tags(str(told.get("reason") or "")).strip()
        sentence = _("%(level)s: set by %(name)s on %(day)s, who wrote: %(reason)s") % {
            "level": headline,
            "name": told.get("set_by") or _("a teacher"),
            "day": day(str(told.get("set_at") or "")),
            "reason": reason,
        }
        return Plain(headline, sentence, [])
    arithmetic = _arithmetic(explanation, method, params, threshold)
    if method == "bkt":
        goal = float(params.get("mastery_probability") or 0.95)
        known = explanation.get("p_known")
        chance = float(known) if known is not None else float(score or 0)
        sentence = ngettext(
            "from %(count)s piece of evidence, the chance this is mastered is %(chance)s; "
            "it counts as mastered from %(goal)s.",
            "from %(count)s pieces of evidence, the chance this is mastered is %(chance)s; "
            "it counts as mastered from %(goal)s.",
            evidence_count,
        ) % {"count": evidence_count, "chance": percent(chance, goal), "goal": percent(goal)}
        return Plain(headline, f"{headline}: {sentence}", arithmetic)
    words = _("%(pieces)s, %(how)s, come to %(score)s") % {
        "pieces": _pieces(evidence_count)
        if own
        else ngettext("%(count)s piece of evidence", "%(count)s pieces of evidence", evidence_count)
        % {"count": evidence_count},
        "how": _method_words(method, params),
        "score": number(score),
    }
    if evidence_count == 1:
        words = _("%(pieces)s comes to %(score)s") % {
            "pieces": _pieces(1) if own else _("one piece of evidence"),
            "score": number(score),
        }
    if state == MASTERED:
        tail = _("mastered from %(threshold)s") % {"threshold": number(threshold)}
    else:
        upcoming = _next_level(levels, score if score is not None else Decimal(0))
        target = _mastery_level(levels, threshold)
        if upcoming is not None and target is not None and upcoming.cut_point < target.cut_point:
            tail = _("%(next)s starts at %(cut)s, mastery at %(threshold)s") % {
                "next": upcoming.label,
                "cut": number(upcoming.cut_point),
                "threshold": number(threshold),
            }
        elif target is not None:
            tail = _("%(next)s (mastered) starts at %(cut)s") % {
                "next": target.label,
                "cut": number(target.cut_point),
            }
        else:
            tail = _("mastery starts at %(threshold)s") % {"threshold": number(threshold)}
    return Plain(headline, f"{headline}: {words}; {tail}.", arithmetic)
