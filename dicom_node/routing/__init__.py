"""Routing: rule conditions and rule evaluation (which rules fire for a series)."""
