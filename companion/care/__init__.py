"""People and safety: profiles, screening, progression (the McKenzie order rules), the history store, reports."""
