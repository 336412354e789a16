"""The caregiver's page (``companion serve``): people, today, a live session, history and the report, in a browser.

A room of its own above ``app/``: it may import the app and everything below it, and
nothing below imports it. :mod:`.app` builds the Starlette application, :mod:`.live`
runs the one session of this machine and relays it to the page, :mod:`.security` keeps
it private (loopback by default, a pairing code for the home network, CSRF, headers),
:mod:`.server` serves it with uvicorn. Templates and static files ship in the wheel.
"""
