"""The translation desk's web feature: the translator's page (confsvc/desk/setup.py)."""
