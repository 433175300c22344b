"""The features of the platform, in one list: the order in which they are installed (a
feature's install may need a service an earlier one provided: feedback reads notes), started
(stopped in reverse) and in which their panels appear on the live page and the console.

Each feature declares itself in `server/<feature>/feature.py` (its socket router, blueprint,
install and templates); adding a feature is one line here.
"""

from __future__ import annotations

from server.breakout.feature import FEATURE as BREAKOUT
from server.captions.feature import FEATURE as CAPTIONS
from server.chat.feature import FEATURE as CHAT
from server.cycle.feature import FEATURE as CYCLE
from server.feedback.feature import FEATURE as FEEDBACK
from server.followup.feature import FEATURE as FOLLOWUP
from server.mail.feature import FEATURE as MAIL
from server.notes.feature import FEATURE as NOTES
from server.platform.feature import Feature
from server.polls.feature import FEATURE as POLLS
from server.programme.feature import FEATURE as PROGRAMME
from server.proposals.feature import FEATURE as PROPOSALS
from server.qa.feature import FEATURE as QA
from server.recording.feature import FEATURE as RECORDING
from server.registrations.feature import FEATURE as REGISTRATIONS
from server.room_media.feature import FEATURE as ROOM_MEDIA
from server.staff.feature import FEATURE as STAFF
from server.watch.feature import FEATURE as WATCH
from server.webcast.feature import FEATURE as WEBCAST

FEATURES: tuple[Feature, ...] = (
    PROGRAMME, WEBCAST, QA, POLLS, CAPTIONS, BREAKOUT, CHAT, ROOM_MEDIA, NOTES, FEEDBACK,
    RECORDING, MAIL, REGISTRATIONS, STAFF, FOLLOWUP, WATCH, PROPOSALS, CYCLE,
)

TEMPLATE_FOLDERS = tuple(f.templates for f in FEATURES if f.templates)
