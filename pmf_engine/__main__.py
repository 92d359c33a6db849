"""``python -m pmf_engine``: the same as the ``pmf`` command."""

from pmf_engine.interfaces.main import main

main()
