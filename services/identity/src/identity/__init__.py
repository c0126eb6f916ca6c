"""Kohtaamo identity service."""
