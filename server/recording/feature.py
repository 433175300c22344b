"""Recording and publication on a node: the recording service and the publish jobs."""

from __future__ import annotations

from quart import Quart

from server.platform.feature import Feature
from server.platform.node import Platform
from server.recording import publication, service, sockets, views


def install(platform: Platform, app: Quart) -> None:
    recording = platform.provide(service.SERVICE, service.RecordingService(platform))
    jobs = platform.provide(publication.JOBS, publication.PublishJobs(platform))
    platform.provide(publication.PARTS, publication.RecordParts(list(publication.default_parts())))
    platform.lifecycle.add("recording", recording.start, recording.stop)
    platform.lifecycle.add("publish jobs", jobs.start, jobs.stop)


FEATURE = Feature(
    "recording", sockets.router, views.archive, install, templates="recording",
    events_of=(("recording_id", publication.event_of_recording),
               ("pub_id", publication.event_of_publication)),
)
