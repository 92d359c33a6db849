"""The domain-free engine core: workflow definitions and their YAML loader, compiled machines,
permissions, ``Engine.fire``, the audit chain, the store, working days, deadlines, escalation,
the outbox and the worker. It names no workflow, state or role: those come from YAML, and the
guards and effects a workflow may name come from the ``Registry`` the application builds."""
