"""What people and scripts touch: the ``pmf`` command line and the web application with its API.
The two do not import each other; ``interfaces.main`` joins them into one ``pmf`` command."""
