"""The product's rules as plain functions over a database session: no ``request``, ``g`` or
Flask globals inside, so views, jobs and the CLI call the same code. docs/architecture.md maps
the modules."""
