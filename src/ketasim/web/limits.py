"""Limits that keep one web request small. Work is measured in subject-days (subjects x simulated days)."""

MAX_DURATION_D = 90.0
MAX_SUBJECTS = 500
MAX_DOSES = 10            # dose lines per scenario
MAX_REPEATS = 100         # doses in one 'every ... for N doses' series
MAX_AMOUNT = 5000.0       # mg (or mg/kg); the package has its own, tighter, per-drug hard limits
MAX_OFFSET_D = 30.0       # |at| for a dose
SYNC_WORK_CAP = 100.0     # subject-days answered inline by POST /api/simulate
JOB_WORK_CAP = 1000.0     # subject-days for one background job
MAX_REPLICATES = 50       # replicate trials in one trial job
TRIAL_WORK_CAP = 350_000.0  # subject-days for one trial job (replicates x subjects x days; TRANSFORM-2 x 50 fits)
MAX_NAME = 80

MAX_BODY_BYTES = 262_144  # a request body (a scenario is well under 10 kB); larger: 413 before parsing
MAX_RESPONSE_POINTS = 5000  # time points in one simulation answer; more are thinned (peaks kept), said in warnings
SYNC_MAX_ADMINISTRATIONS = 200  # doses (repeats expanded) answered inline; more: submit a job
MAX_JOBS_PER_CLIENT = 3     # background jobs one client may have waiting or running; more: 429
