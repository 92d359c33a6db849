"""The composition root: settings (one object), logging, and the wiring that builds the engine,
registers the framework and makes workers with their delivery channel."""
