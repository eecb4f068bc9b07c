"""The service's idle-stop bookkeeping, ``<root>/run/idle.json`` (0600, under the 0700 run/):
per running container its accumulated idle time (:class:`devbox.model.idle_plan.Track`) and
when the service last looked. Written whole and atomically every tick
(:func:`devbox.jsonfile.write_json`); only the service writes it, ``list-containers`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from devbox import jsonfile
from devbox.model.idle_plan import Track
from devbox.paths import Layout

VERSION = 1
FRESH = 90.0  # seconds: an older file is not live tracking (the service stopped, or it is off)


@dataclass(frozen=True)
class IdleState:
    sampled_at: float  # wall clock (time.time()) of the last tick
    tracks: dict[str, Track]


def load(layout: Layout) -> IdleState:
    """The last saved state; empty when there is none. A corrupt file raises CorruptRecord."""
    data = jsonfile.read_json(layout.idle_state, missing={})
    raw = data.get("tracks")
    tracks: dict[str, Track] = {}
    if isinstance(raw, dict):
        for name, entry in raw.items():
            track = Track.from_dict(entry) if isinstance(entry, dict) else None
            if isinstance(name, str) and track is not None:
                tracks[name] = track
    sampled = data.get("sampled_at")
    return IdleState(float(sampled) if isinstance(sampled, int | float) else 0.0, tracks)


def save(layout: Layout, state: IdleState) -> None:
    jsonfile.write_json(
        layout.idle_state,
        {
            "version": VERSION,
            "sampled_at": round(state.sampled_at, 3),
            "tracks": {name: t.to_dict() for name, t in sorted(state.tracks.items())},
        },
        mode=0o600,
    )


def clear(layout: Layout) -> None:
    layout.idle_state.unlink(missing_ok=True)


def idle_seconds(layout: Layout, now: float) -> dict[str, tuple[str, int]]:
    """``{name: (container id, idle seconds)}`` of what the service tracks now; empty when it
    does not (idle stop off, the service not running, no file, an unreadable one)."""
    try:
        state = load(layout)
    except jsonfile.CorruptRecord:
        return {}
    if not state.tracks or not (0 <= now - state.sampled_at <= FRESH):
        return {}
    return {name: (t.id, int(t.idle_seconds)) for name, t in state.tracks.items()}
