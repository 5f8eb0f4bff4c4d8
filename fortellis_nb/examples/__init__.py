"""Programs to read, run and change: :mod:`fortellis_nb.examples.backend`, a server-side app
that does the whole flow for its users (``fortellis-nb example backend``)."""
