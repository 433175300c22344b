"""KB's follow-up view across the cycle (issue 24 point 6)."""
