"""Models of the standards app (see README.md).

Frameworks, their standards and the typed associations between them come from CASE packages
(or CSV / ASN files) and are written only by the importers in ``services.py``. The organisation
scoped settings (proficiency scale, calculation policy, requirements) are written only by the
services too; models hold fields and constraints, never business logic.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
    source_format = models.CharField(max_length=10, choices=SourceFormat.choices)
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
