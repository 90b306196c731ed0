"""Session blocks in the regimen language: '..., repeated every INTERVAL for N sessions'."""

import pytest

from ketasim.regimens import Regimen, RegimenError, parse_dose
from ketasim.regimens._sessions import MAX_SESSIONS, split_session_clause


def test_a_session_block_expands_to_every_administration():
    d = parse_dose("ketamine 50 mg intranasal at 22 h every 20 min for 6 doses, repeated every 7 d for 12 sessions")
    assert (d.count, d.sessions, d.session_every_h) == (6, 12, 168.0)
    times = [x.time_h for x in d.realize()]
    assert len(times) == 72
    assert times[:2] == pytest.approx([22.0, 22.0 + 1 / 3])
    assert times[6] == pytest.approx(22.0 + 168.0)
    assert times[-1] == pytest.approx(22.0 + 11 * 168.0 + 5 / 3)
    assert all(x.sessions == 1 and x.count == 1 for x in d.realize())


@pytest.mark.parametrize("text", [
    "ketamine 0.5 mg/kg iv over 40 min, repeated every 3.5 d for 8 sessions",
    "ketamine 50 mg intranasal at 22 h every 20 min for 6 doses, repeated every 7 d for 12 sessions",
    "esketamine 56 mg intranasal repeated every 1 d for 3 sessions",
    "ketamine 30 mg intranasal every 10 min for 6 doses; repeated every 2 d for 2 sessions",
])
def test_session_text_reads_back_to_the_same_dose(text):
    d = parse_dose(text)
    assert parse_dose(d.to_text()) == d
    assert Regimen.from_text(text) == Regimen.from_text(d.to_text())


def test_a_single_administration_repeated_is_the_same_as_a_series():
    a = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min, repeated every 3.5 d for 8 sessions").realize()
    b = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 8 doses").realize()
    assert [x.time_h for x in a] == pytest.approx([x.time_h for x in b])


def test_lines_without_sessions_are_untouched():
    assert split_session_clause("ketamine 0.5 mg/kg iv over 40 min") == ("ketamine 0.5 mg/kg iv over 40 min", None,
                                                                         None)
    assert parse_dose("esketamine 56 mg intranasal every 3.5 d for 8 doses").sessions == 1


@pytest.mark.parametrize("text, words", [
    ("ketamine 50 mg intranasal every 20 min for 6 doses, repeated every 1 h for 3 sessions", "overlap"),
    ("ketamine 50 mg iv, repeated every 0 d for 3 sessions", "positive"),
    ("ketamine 50 mg iv, repeated every 3 d for three sessions", "whole number"),
    ("ketamine 50 mg iv, repeated every 3 d for 0 sessions", "1-"),
    (f"ketamine 50 mg iv, repeated every 3 h for {MAX_SESSIONS + 1} sessions", "1-"),
    ("ketamine 50 mg iv, repeated every 3 d for 2 sessions, repeated every 7 d for 2 sessions", "twice"),
    ("ketamine 50 mg iv every 10 min for 1000 doses, repeated every 7 d for 20 sessions", "administrations"),
    ("ketamine 50 mg iv, repeated every 60 d for 10 sessions", "one year"),
    ("ketamine 50 mg iv, repeated every 3 kg for 2 sessions", "session interval"),
])
def test_bad_session_blocks_are_one_clear_error(text, words):
    with pytest.raises((RegimenError, ValueError)) as err:
        parse_dose(text)
    assert words in str(err.value)
    assert "\n" not in str(err.value)
