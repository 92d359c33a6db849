"""The council Performance Management Framework, an application of the engine core: periods'
measures, RAG, targets, actuals, exception reports, projects, Scrutiny actions, the committee
calendar, the committee report and Excel returns, with the guards and effects it registers."""
