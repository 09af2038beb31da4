"""The fault drills. Those that stop PostgreSQL need one (TEST_DATABASE_URL, which CI sets):
without it they are not collected at all, rather than skipped."""

import os

collect_ignore = [] if os.environ.get("TEST_DATABASE_URL") else ["test_database_outage.py"]
