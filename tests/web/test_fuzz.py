"""Fuzz the API from its own OpenAPI schema (schemathesis, in-process ASGI): no input may cause a 5xx.

The fuzzed app has tiny caps so that generated requests stay quick: populations of a few subject-days and
trial jobs of one replicate of the smallest built-in trial (williams2018, 168 subject-days) at most."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from ketasim.web import create_app

app = create_app(max_pending_jobs=2, sync_work_cap=20.0, job_work_cap=20.0, max_trial_replicates=1,
                 trial_work_cap=200.0)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
