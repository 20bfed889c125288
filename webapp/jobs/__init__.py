"""Background work: one module per tick, plus the scheduler that runs them."""
