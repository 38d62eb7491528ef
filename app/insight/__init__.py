"""Run insight: a training run seen from the reward side.

Per run and step, from what scoring already computes: dead groups (all totals equal: GRPO learns
nothing), phantom groups (outcome rewards equal, totals spread only by shaping terms), each
component's mean, std and abstention rate, a histogram of totals, τ and the MedLoc-R1 window.
Served as JSON (``GET /v1/runs/{id}/stats``), as Prometheus gauges and on a dashboard page
(``/dashboard``); ``POST /v1/explain`` shows how one item was scored, component by component.

Modules: `stats` (pure statistics), `recorder` (what a scoring call adds to the run store),
`explain`, `routes` (JSON routes and the pages), `settings`.
"""
