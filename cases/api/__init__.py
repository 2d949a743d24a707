"""The REST API of cases (``/api/v1/``): thin views over cases.services, cases.selectors and cases.forms."""
