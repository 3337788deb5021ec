"""The dashboard: the reports' charts in one static, offline HTML file (``pipeline dashboard``)."""
