"""Kohtaamo events service."""
