"""iQSMS Dashboard.

Importing this package loads nothing: the application factory is ``webapp.app.create_app``, so
``webapp.iqsms`` (the API binding) and ``webapp.sandbox`` (the stand-in gateway) can be imported
without Flask-SQLAlchemy or any view. docs/architecture.md maps the packages.
"""
