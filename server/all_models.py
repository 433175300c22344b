"""Imports every module that defines tables, so Alembic and the tests see the whole schema.

Each feature keeps its tables in its own package (`server/<feature>/models.py`, built on
`server.platform.models.Base`); add one import line here when you add one.
"""

from server.breakout import models as breakout  # noqa: F401
from server.captions import models as captions  # noqa: F401
from server.chat import models as chat  # noqa: F401
from server.feedback import models as feedback  # noqa: F401
from server.followup import models as followup  # noqa: F401
from server.mail import models as mail  # noqa: F401
from server.notes import models as notes  # noqa: F401
from server.platform import models as platform  # noqa: F401
from server.polls import models as polls  # noqa: F401
from server.proposals import models as proposals  # noqa: F401
from server.qa import models as qa  # noqa: F401
from server.recording import models as recording  # noqa: F401
from server.staff import models as staff  # noqa: F401
from server.watch import models as watch  # noqa: F401
from server.webcast import models as webcast  # noqa: F401
