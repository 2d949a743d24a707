"""Metrics: KPIs, the safety index, staffing, dashboards, the public page and exports."""
