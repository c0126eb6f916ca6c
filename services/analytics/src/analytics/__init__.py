"""Kohtaamo analytics service."""
