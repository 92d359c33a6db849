"""ModernGov (Civica Modern.gov) committee-calendar sync: ``policy`` (``moderngov.yaml``),
``client`` (the site's web service), ``sync`` (the calendar brought into line, and the links of
a cycle's stages) and ``daily`` (the worker's job).

Nothing is imported here, so ``pmf.policy`` may read the policy module without the rest.
"""
