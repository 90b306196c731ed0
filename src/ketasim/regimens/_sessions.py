"""Session blocks: one dose line (a single administration or a series of them) repeated as sessions.

    DOSE_LINE [,] repeated every INTERVAL for M sessions

e.g. "ketamine 50 mg intranasal at 22 h every 20 min for 6 doses, repeated every 7 d for 12 sessions" (a night of
six bumps, once a week for 12 weeks) or "ketamine 0.5 mg/kg iv over 40 min, repeated every 3.5 d for 8 sessions".
The dose line is the language of `_regimen.parse_dose`; its `at TIME` is the start of the first session. Sessions
must not overlap: the interval is longer than one session lasts (its last administration plus infusion).

Kept apart from `_regimen` so that the grammar of a single dose line and the grammar of sessions change
independently; `_regimen` calls the functions here.
"""

from __future__ import annotations

import re

MAX_SESSIONS = 1000
MAX_ADMINISTRATIONS = 10_000   # administrations one dose line may stand for (sessions x doses per session)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SESSION_CLAUSE = re.compile(
    rf"""^(?P<dose>.*?)\s*[,;]?\s*\brepeated\s+every\s+(?P<every>{_NUMBER}\s*[A-Za-zµμ]+)
    \s+for\s+(?P<count>\S+)\s+sessions?\s*$""",
    re.VERBOSE | re.IGNORECASE)


def split_session_clause(text: str) -> tuple[str, str | None, str | None]:
    """(dose line, session interval text, session count text); the last two are None without a session clause."""
    m = _SESSION_CLAUSE.match(text)
    if not m:
        return text, None, None
    return m["dose"], m["every"], m["count"]


def session_problem(time_h: float, every_h: float, count: int, duration_h: float, session_every_h: float,
                    sessions, max_time_h: float) -> str | None:
    """What is wrong with a dose's session block, in one sentence, or None."""
    if not isinstance(sessions, int) or isinstance(sessions, bool) or not 1 <= sessions <= MAX_SESSIONS:
        return f"number of sessions must be a whole number 1-{MAX_SESSIONS}, got {sessions!r}"
    if sessions == 1:
        return None
    if not isinstance(session_every_h, (int, float)) or not session_every_h > 0 \
            or session_every_h != session_every_h or session_every_h == float("inf"):
        return "repeated sessions need a positive, finite interval ('repeated every 7 d for 12 sessions')"
    span = every_h * (count - 1) + duration_h
    if session_every_h <= span:
        return (f"sessions overlap: one session lasts {span:g} h but they are repeated every {session_every_h:g} h; "
                f"give a longer interval or fewer doses per session")
    if count * sessions > MAX_ADMINISTRATIONS:
        return (f"{count} doses x {sessions} sessions = {count * sessions} administrations in one line; "
                f"at most {MAX_ADMINISTRATIONS}")
    if time_h + session_every_h * (sessions - 1) + span > max_time_h:
        return "dose times must lie within one year of time 0"
    return None


def session_offsets(session_every_h: float, sessions: int) -> list[float]:
    """Start of each session relative to the first."""
    return [i * session_every_h for i in range(sessions)]


def session_clause(session_every_h: float, sessions: int, fmt_time) -> str:
    """The text of a session block ('' for a single session), as the parser reads it back."""
    if sessions <= 1:
        return ""
    return f", repeated every {fmt_time(session_every_h)} for {sessions} sessions"
