"""Breakout rooms: planning, collaborative notes and the ports the server fills in.

This package never imports ``server``, ``streaming``, Quart or socket.io: it exposes plain
objects, async services and ``typing.Protocol`` ports, and the server supplies storage,
emitters and configuration.
"""

from rooms.errors import RoomsError

__all__ = ["RoomsError"]
