"""Forms (Flask-WTF, CSRF on every one), one module per area, named like its view module."""
