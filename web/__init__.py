"""confsvc's pages: templates, static files and catalogs (installed as confsvc.web)."""
