"""The web application and JSON API (FastAPI): GOV.UK Frontend pages, sign-in, CSRF-checked
forms and bearer-token API routes over the council framework's services."""
