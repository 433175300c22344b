"""Imports every module that defines tables, so Alembic and the tests see the whole schema.

Each feature keeps its tables in its own module (`server/models_<feature>.py`, built on
`server.models.Base`); add one import line here when you add one.
"""

from . import (
    models,  # noqa: F401
    models_breakout,  # noqa: F401
    models_captions,  # noqa: F401
    models_feedback,  # noqa: F401
    models_polls,  # noqa: F401
    models_recording,  # noqa: F401
    models_webcast,  # noqa: F401
)
