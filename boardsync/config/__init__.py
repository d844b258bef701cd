"""Desired state: the posting model, the YAML and SQL sources, secret references and the
JSON Schema. Loading keeps where every value was written, so every error can point at it."""
