"""The PACS core without network code: file storage, the SQL index, C-FIND matching.

`Archive` is the facade the network layers use; see DESIGN.md "archive/".
"""

from medbridge.archive._answers import to_dataset as answer_dataset
from medbridge.archive._archive import (
    Archive,
    DuplicatePolicy,
    InstanceRef,
    StoreOutcome,
    StoreResult,
)
from medbridge.archive._rows import header_values
from medbridge.archive.check import CheckReport, check
from medbridge.archive.query import Level, QueryModel
from medbridge.archive.search import Search
from medbridge.archive.storage import FileStorage, StoredFile, is_valid_uid, validate_uid

__all__ = [
    "Archive",
    "CheckReport",
    "DuplicatePolicy",
    "FileStorage",
    "InstanceRef",
    "Level",
    "QueryModel",
    "Search",
    "StoreOutcome",
    "StoreResult",
    "StoredFile",
    "answer_dataset",
    "check",
    "header_values",
    "is_valid_uid",
    "validate_uid",
]
