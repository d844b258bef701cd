"""Desired state: the posting model, the YAML and SQL sources, secret references and the
JSON Schema. Loading keeps where every value was written, so every error can point at it.

    load(path, *, env=None)  -> Desired      raises ConfigError listing every problem
    validate(path, ...)      -> Report       every problem, board checks included
    json_schema("root" | "posting") -> dict
"""

from boardsync.config.loader import Desired, database_url, load
from boardsync.config.model import Posting, RootConfig
from boardsync.config.problems import format_path, parse_path
from boardsync.config.schema import json_schema
from boardsync.config.validate import BoardCheck, Report, validate
from boardsync.errors import ConfigError, Problem

__all__ = [
    "BoardCheck",
    "ConfigError",
    "Desired",
    "Posting",
    "Problem",
    "Report",
    "RootConfig",
    "database_url",
    "format_path",
    "json_schema",
    "load",
    "parse_path",
    "validate",
]
