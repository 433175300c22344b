"""Proposals from the regions and municipalities to KB (issue 24 point 4)."""
