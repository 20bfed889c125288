"""``flask demo``: a team with a month of history on the sandbox, so a newcomer sees a lived-in
product at once.

The month is lived through the product's own code, not written as rows: a private sandbox
gateway runs on a clock the demo moves through the past (``gateways.py``), and the steps of the
people and of the worker (imports, drafts, sending, claims, send.json calls, the status queue,
balance readings, a top-up) run against it as they would have (``month.py``; the story, in
Russian or English, is ``story.py``). Only what those steps stamp with the wall clock (audit
events, new rows' ``created_at``) takes the demo's time, on the session while it runs. At the
end the team's account moves to the real sandbox with the balance the month left, and a
campaign is sent now, for the worker of ``flask serve`` to send live (``command.py``).
"""
