"""Speech recognisers: one module per engine, and ``registry`` which knows them all and picks the default."""
