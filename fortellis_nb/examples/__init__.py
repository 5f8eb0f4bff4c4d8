"""Programs to read, run and change: ``backend.py``, a Fortellis app's backend in one file
(Flask, requests and PyJWT; it imports nothing of this package and reads FORTELLIS_* settings)
that does the whole route for its users. ``fortellis-nb example backend`` runs it against the
local sandbox."""
