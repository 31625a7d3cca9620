"""Models of the standards app (see README.md).

Frameworks, their standards and the typed associations between them come from CASE packages
(or CSV / ASN files) and are written only by the importers in ``services.py``. The organisation
scoped settings (proficiency scale, calculation policy, requirements) are written only by the
services too; models hold fields and constraints, never business logic.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SourceFormat(models.TextChoices):
    CASE = "case", "CASE package"
    CSV = "csv", "CSV file"
    ASN = "asn", "ASN RDF/JSON"


class Framework(models.Model):
    """A published set of standards: a CASE ``CFDocument``.

    ``identifier`` is the CASE identifier of the document (a UUID in CASE 1.0+, a URL in older
    exports); re-importing a package with the same identifier updates this framework in place.
    """

    identifier = models.CharField(max_length=255, unique=True)
    uri = models.CharField(max_length=1000, blank=True)
    title = models.CharField(max_length=500)
    creator = models.CharField(max_length=500, blank=True)
    publisher = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    subjects = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=20, blank=True)
    version = models.CharField(max_length=100, blank=True)
    adoption_status = models.CharField(max_length=50, blank=True)
    official_source_url = models.CharField(max_length=1000, blank=True)
    notes = models.TextField(blank=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    # Optional CASE 1.1 document fields we do not model one by one, kept for a faithful export.
    extra = models.JSONField(default=dict, blank=True)
    # The package's CFDefinitions, CFRubrics and extensions as imported, given back on export.
    package_parts = models.JSONField(default=dict, blank=True)
    source_format = models.CharField(max_length=10, choices=SourceFormat.choices)
    # The owner whose administrators may re-import it; None: the platform's (command line or
    # a superuser). Who may *read* a framework is not scoped: standards are public documents.
    organisation = models.ForeignKey(
        "learners.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="frameworks",
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class StandardStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    # Left out of the latest import of its framework: kept because ratings may point at it.
    RETIRED = "retired", "Retired"


class Standard(models.Model):
    """One item of a framework (a CASE ``CFItem``): a grouping or an assessable statement.

    ``parent`` is the tree parent taken from the item's first ``isChildOf`` association inside
    the framework (``None``: directly under the framework document). ``position`` orders
    siblings; ``depth`` is 1 for top-level items. Both are derived by the importer.
    """

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="standards")
    identifier = models.CharField(max_length=255)
    uri = models.CharField(max_length=1000, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    position = models.PositiveIntegerField(default=0)
    depth = models.PositiveSmallIntegerField(default=1)
    item_type = models.CharField(max_length=100, blank=True)
    human_code = models.CharField(max_length=100, blank=True)
    list_enumeration = models.CharField(max_length=50, blank=True)
    statement = models.TextField()
    grade_levels = models.JSONField(default=list, blank=True)
    is_grouping = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=StandardStatus.choices, default=StandardStatus.ACTIVE
    )
    last_change_at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["framework_id", "depth", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["framework", "identifier"], name="standard_identifier_unique_in_framework"
            ),
        ]
        indexes = [
            models.Index(fields=["framework", "parent", "position"], name="standard_tree_order"),
            models.Index(fields=["framework", "human_code"], name="standard_human_code"),
        ]

    def __str__(self) -> str:
        return self.human_code or self.statement[:60]


class Association(models.Model):
    """A typed link (a CASE ``CFAssociation``) kept exactly as imported.

    Each end is a standard of this framework when it resolves to one; otherwise (the framework
    document itself, or a node in another framework) only its identifier and URI are kept.
    """

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="associations")
    identifier = models.CharField(max_length=255)
    uri = models.CharField(max_length=1000, blank=True)
    association_type = models.CharField(max_length=50)
    origin = models.ForeignKey(
        Standard, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    origin_identifier = models.CharField(max_length=255)
    origin_uri = models.CharField(max_length=1000, blank=True)
    origin_title = models.CharField(max_length=500, blank=True)
    destination = models.ForeignKey(
        Standard, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    destination_identifier = models.CharField(max_length=255)
    destination_uri = models.CharField(max_length=1000, blank=True)
    destination_title = models.CharField(max_length=500, blank=True)
    sequence_number = models.IntegerField(null=True, blank=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["framework_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["framework", "identifier"],
                name="association_identifier_unique_in_framework",
            ),
        ]
        indexes = [
            models.Index(fields=["framework", "association_type"], name="association_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.origin_identifier} {self.association_type} {self.destination_identifier}"


# --- Organisation settings: what mastery means and which standards count ------------------------


class ProficiencyScale(models.Model):
    """An organisation's proficiency scale; organisations below inherit it unless they have one.

    The effective scale of an organisation is read with ``selectors.scale_for``.
    """

    organisation = models.OneToOneField(
        "learners.Organisation", on_delete=models.CASCADE, related_name="proficiency_scale"
    )
    name = models.CharField(max_length=100, blank=True)
    mastery_threshold = models.DecimalField(max_digits=5, decimal_places=2)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"scale of organisation {self.organisation_id}"


class ScaleLevel(models.Model):
    """One level of a scale. ``cut_point``: the lowest score that reaches this level."""

    scale = models.ForeignKey(ProficiencyScale, on_delete=models.CASCADE, related_name="levels")
    points = models.DecimalField(max_digits=5, decimal_places=2)
    label = models.CharField(max_length=50)
    colour = models.CharField(max_length=7)
    cut_point = models.DecimalField(max_digits=5, decimal_places=2)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["scale_id", "-points"]
        constraints = [
            models.UniqueConstraint(fields=["scale", "points"], name="scale_level_unique_points"),
        ]

    def __str__(self) -> str:
        return f"{self.points} {self.label}"


class CalculationMethod(models.TextChoices):
    HIGHEST = "highest", "Highest"
    LATEST = "latest", "Most recent"
    AVERAGE = "average", "Average"
    MODE = "mode", "Mode (most frequent)"
    N_TIMES = "n_times", "N times at or above a threshold"
    WEIGHTED_AVERAGE = "weighted_average", "Weighted average (latest against the rest)"
    DECAYING_AVERAGE = "decaying_average", "Decaying average"
    POWER_LAW = "power_law", "Power law"
    BKT = "bkt", "Bayesian knowledge tracing"


class RollupRule(models.TextChoices):
    ALL_MASTERED = "all_mastered", "All children mastered"
    SHARE_MASTERED = "share_mastered", "A share of children mastered"
    LOWEST_LEVEL = "lowest_level", "Lowest child level"
    POINTS = "points", "Points, with required children"


class CalculationPolicy(models.Model):
    """How ratings become a score for one organisation (``framework`` None) or, as an override,
    for one framework there. Read the effective one with ``selectors.policy_for``.

    ``params`` and ``rollup_params`` are validated by ``standards.validation``.
    """

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.CASCADE, related_name="calculation_policies"
    )
    framework = models.ForeignKey(
        Framework,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calculation_policies",
    )
    method = models.CharField(max_length=20, choices=CalculationMethod.choices)
    params = models.JSONField(default=dict, blank=True)
    min_evidence = models.PositiveSmallIntegerField(default=1)
    rollup_rule = models.CharField(
        max_length=20, choices=RollupRule.choices, default=RollupRule.ALL_MASTERED
    )
    rollup_params = models.JSONField(default=dict, blank=True)
    overrides_end_with_new_evidence = models.BooleanField(
        default=False,
        help_text="A teacher's override stops applying once a counted rating demonstrated after "
        "it exists (otherwise it stands until the teacher clears it).",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "calculation policies"
        ordering = ["organisation_id", "framework_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation"],
                condition=Q(framework__isnull=True),
                name="policy_one_general_per_organisation",
            ),
            models.UniqueConstraint(
                fields=["organisation", "framework"],
                condition=Q(framework__isnull=False),
                name="policy_one_override_per_framework",
            ),
            models.CheckConstraint(
                condition=Q(min_evidence__gte=1), name="policy_min_evidence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} policy of organisation {self.organisation_id}"


class Priority(models.TextChoices):
    POWER = "power", "Power standard"
    SUPPORTING = "supporting", "Supporting standard"


class Requirement(models.Model):
    """A standard learners of ``grade_level`` in ``organisation`` (and below) must master in
    ``term``. Read them with ``selectors.requirements_for``."""

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.CASCADE, related_name="requirements"
    )
    term = models.ForeignKey("learners.Term", on_delete=models.PROTECT, related_name="+")
    grade_level = models.CharField(max_length=8)
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="requirements")
    priority = models.CharField(
        max_length=10, choices=Priority.choices, default=Priority.SUPPORTING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation_id", "term_id", "grade_level", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "term", "grade_level", "standard"],
                name="requirement_unique_standard",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organisation", "term", "grade_level"], name="requirement_scope_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"standard {self.standard_id} ({self.priority}) for grade {self.grade_level}"


class ElectiveGroup(models.Model):
    """ "Choose ``choose`` of these standards": learners pick, a teacher approves."""

    organisation = models.ForeignKey(
        "learners.Organisation", on_delete=models.CASCADE, related_name="elective_groups"
    )
    term = models.ForeignKey("learners.Term", on_delete=models.PROTECT, related_name="+")
    grade_level = models.CharField(max_length=8)
    title = models.CharField(max_length=200)
    choose = models.PositiveSmallIntegerField()
    priority = models.CharField(
        max_length=10, choices=Priority.choices, default=Priority.SUPPORTING
    )
    standards = models.ManyToManyField(Standard, related_name="elective_groups")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation_id", "term_id", "grade_level", "title", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(choose__gte=1), name="elective_choose_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class ChoiceStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ElectiveChoice(models.Model):
    """A learner's pick of one standard in an elective group, and the teacher's decision."""

    group = models.ForeignKey(ElectiveGroup, on_delete=models.CASCADE, related_name="choices")
    learner = models.ForeignKey(
        "learners.Learner", on_delete=models.CASCADE, related_name="elective_choices"
    )
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=10, choices=ChoiceStatus.choices, default=ChoiceStatus.PENDING
    )
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["group_id", "learner_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "learner", "standard"], name="elective_choice_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"learner {self.learner_id} chose standard {self.standard_id} ({self.status})"
