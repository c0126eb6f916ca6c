"""Kohtaamo gateway service."""
