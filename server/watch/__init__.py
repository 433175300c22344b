"""Watching together in a room: one published film played in sync for everyone (issue 24)."""
