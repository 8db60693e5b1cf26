"""The worker's entry point: ``huey_consumer coop.jobs.huey``.

Importing this module creates the app once (from the environment, as ``flask --app coop``
does) and points the task queue at its storage; every task then runs in that app's context.
"""

from __future__ import annotations

from coop import create_app
from coop.tasks import huey, set_worker_app

app = create_app()
set_worker_app(app)

__all__ = ["app", "huey"]
