"""Jobs and dispatch: run each job (pipeline / forward / discard) and deliver its objects."""
