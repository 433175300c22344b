"""Regional follow-up meetings after the webcast (issue 24)."""
