"""People and safety: profiles, screening, pain rules, progression, history store, reports."""
