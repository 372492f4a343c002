"""Series completion: when a series is handed on (expected count reached, or a quiet period)."""
