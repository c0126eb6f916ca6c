"""Kohtaamo notifications service."""
