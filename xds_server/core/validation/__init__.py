"""Metadata validation (ITI-41/42): IHE rules and affinity-domain bindings -> list of Issues.

One module per family of rules: ``structure`` (message level), ``original`` (no Metadata Update construct
outside ITI-57), ``documents``, ``packages`` (SubmissionSet, Folder), ``patients``, ``associations``,
``bindings`` (profile value sets, confidentiality); ``fields`` holds the value checks they share.
"""

from xds_server.core.validation.fields import dtm_problem
from xds_server.core.validation.validate import validate_submission

__all__ = ["dtm_problem", "validate_submission"]
