"""Writing results: CSV/Markdown tables, rich console tables, figures."""
